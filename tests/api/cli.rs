//! The binary: configuration errors exit non-zero naming the key, production refuses to start without
//! secrets, `pytake migrate` and `pytake admin create` work, `--version` names the commit.

use crate::helpers::*;
use std::process::Command;

fn pytake(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pytake"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PYTAKE__STORAGE__DATA_DIR", dir.join("data"))
        .env("PYTAKE__LOG__LEVEL", "warn")
        .env("PYTAKE__AUTH__PASSWORD_HASH_MEMORY_KIB", "1024")
        .env("PYTAKE__AUTH__PASSWORD_HASH_ITERATIONS", "1");
    cmd
}

#[test]
fn a_bad_setting_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = pytake(dir.path()).env("PYTAKE__SERVER__LISTEN", "not-an-address").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.listen"), "{stderr}");
    let out = pytake(dir.path()).env("PYTAKE__AUTH__ACCESS_TOKEN_TTL_SECS", "soon").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.access_token_ttl_secs"));
}

#[test]
fn production_refuses_to_start_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = pytake(dir.path()).args(["--profile", "production", "migrate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.jwt_secret"));
    assert!(!dir.path().join("data/jwt_secret").exists());
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_pytake")).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("pytake ") && text.contains("commit "), "{text}");
}

#[actix_web::test]
async fn migrate_then_admin_create_then_the_user_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, admin_password) = test_settings(dir.path(), &[]).await;
    let db_url = settings.database.url.expose().to_string();
    let run = |args: &[&str]| {
        pytake(dir.path())
            .env("PYTAKE__DATABASE__URL", &db_url)
            .env("PYTAKE__BOOTSTRAP__ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PYTAKE__BOOTSTRAP__ADMIN_PASSWORD", &admin_password)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&[
        "admin",
        "create",
        "--email",
        "ops@example.test",
        "--password",
        "ops-password-123",
        "--role",
        "org_admin",
        "--org",
        "default",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created org_admin ops@example.test"));
    let out = run(&["admin", "create", "--email", "x@example.test", "--password", "short", "--role", "agent"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    let out =
        run(&["admin", "create", "--email", "y@example.test", "--password", "long-enough-pw", "--org", "no-such-org"]);
    assert!(!out.status.success());

    let app = spawn_app_in(dir, settings, admin_password).await;
    let token = app.token("ops@example.test", "ops-password-123").await;
    let me = app.get("/api/v1/auth/me", &token).await.expect(200);
    assert_eq!(me.body["role"], "org_admin");
    // The bootstrap ran once: one organization, one super_admin.
    let admin = app.admin_token().await;
    let orgs = app.get("/api/v1/organizations", &admin).await.expect(200);
    assert_eq!(orgs.body["items"].as_array().unwrap().len(), 1);
}
