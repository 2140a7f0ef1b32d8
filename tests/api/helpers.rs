//! The test harness: spawns the real application on port 0 with a fresh database (a SQLite file in
//! a temp dir, or a new PostgreSQL database when PYTAKE_TEST_DATABASE_URL is set; Redis when
//! PYTAKE_TEST_REDIS_URL is set) and offers typed HTTP helpers.

#![allow(dead_code)]

use pytake::app::Application;
use pytake::config::{Profile, Settings, load_from_parts};
use pytake::state::AppState;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

pub const ADMIN_EMAIL: &str = "root@pytake.test";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    pub settings: Settings,
    pub admin_password: String,
    pub dir: TempDir,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the workers wind down on their own threads.
        drop(self.handle.stop(false));
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The database URL for a new test: a fresh PostgreSQL database, or a SQLite file in `dir`.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("PYTAKE_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            use sqlx::Connection;
            let name = format!(
                "pytake_test_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                uuid::Uuid::now_v7().simple()
            );
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect to PYTAKE_TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&base).expect("PYTAKE_TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}/test.db", dir.display()),
    }
}

pub fn is_postgres() -> bool {
    std::env::var("PYTAKE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// Settings for a test app in `dir` plus `overrides` (PYTAKE__SECTION__KEY, value).
pub async fn test_settings(dir: &std::path::Path, overrides: &[(&str, &str)]) -> (Settings, String) {
    let password = format!("pw-{}", uuid::Uuid::now_v7().simple());
    let mut env: Vec<(String, String)> = vec![
        ("PYTAKE__STORAGE__DATA_DIR".into(), dir.display().to_string()),
        ("PYTAKE__DATABASE__URL".into(), fresh_database_url(dir).await),
        ("PYTAKE__DATABASE__MAX_CONNECTIONS".into(), "8".into()),
        ("PYTAKE__SERVER__LISTEN".into(), "127.0.0.1:0".into()),
        ("PYTAKE__SERVER__WORKERS".into(), "1".into()),
        ("PYTAKE__SERVER__SHUTDOWN_TIMEOUT_SECS".into(), "1".into()),
        ("PYTAKE__AUTH__PASSWORD_HASH_MEMORY_KIB".into(), "1024".into()),
        ("PYTAKE__AUTH__PASSWORD_HASH_ITERATIONS".into(), "1".into()),
        ("PYTAKE__BOOTSTRAP__ADMIN_EMAIL".into(), ADMIN_EMAIL.into()),
        ("PYTAKE__BOOTSTRAP__ADMIN_PASSWORD".into(), password.clone()),
        ("PYTAKE__LOG__LEVEL".into(), std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into())),
    ];
    if let Ok(redis) = std::env::var("PYTAKE_TEST_REDIS_URL")
        && !redis.is_empty()
    {
        env.push(("PYTAKE__REDIS__URL".into(), redis));
    }
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    let settings = load_from_parts(None, env, Profile::Development).expect("test settings load");
    (settings, password)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let (settings, admin_password) = test_settings(dir.path(), overrides).await;
    spawn_app_in(dir, settings, admin_password).await
}

/// Starts an app on prepared settings (e.g. to restart on the same database).
pub async fn spawn_app_in(dir: TempDir, settings: Settings, admin_password: String) -> TestApp {
    pytake::telemetry::init(&settings.log.level, settings.log.format);
    let application = Application::build(settings.clone()).await.expect("application builds");
    let port = application.port();
    let state = application.state();
    let handle = application.server_handle();
    actix_web::rt::spawn(application.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        state,
        settings,
        admin_password,
        dir,
        handle,
    }
}

/// A response with its status and parsed JSON body (Null when the body is empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(r: Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status, printing the body on failure.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(&body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.request(Method::POST, "/api/v1/auth/login", None, Some(&json!({"email": email, "password": password})))
            .await
    }

    /// Logs in and returns the access token, asserting success.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await.expect(200);
        r.body["access_token"].as_str().expect("access_token").to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_EMAIL, &self.admin_password).await
    }

    /// Creates an organization as the super_admin.
    pub async fn create_org(&self, slug: &str) -> String {
        let admin = self.admin_token().await;
        let r = self.post("/api/v1/organizations", &admin, json!({"name": format!("Org {slug}"), "slug": slug})).await;
        r.expect(201).body["id"].as_str().expect("id").to_string()
    }

    /// Creates a user with `role` in `org` as the super_admin; returns (id, email, password).
    pub async fn create_user(&self, org: &str, role: &str) -> (String, String, String) {
        let admin = self.admin_token().await;
        let email = format!("{role}-{}@example.test", uuid::Uuid::now_v7().simple());
        let password = "a-long-password-1".to_string();
        let r = self
            .post(
                "/api/v1/users",
                &admin,
                json!({"email": email, "password": password, "full_name": format!("{role} user"), "role": role, "organization_id": org}),
            )
            .await
            .expect(201);
        (r.body["id"].as_str().expect("id").to_string(), email, password)
    }

    /// A new organization with one user of each tenant role, logged in.
    pub async fn tenant(&self, slug: &str) -> Tenant {
        let org = self.create_org(slug).await;
        let mut t = Tenant { org_id: org.clone(), ..Default::default() };
        for role in ["org_admin", "agent", "viewer"] {
            let (id, email, password) = self.create_user(&org, role).await;
            let token = self.token(&email, &password).await;
            let user = TenantUser { id, email, password, token };
            match role {
                "org_admin" => t.admin = user,
                "agent" => t.agent = user,
                _ => t.viewer = user,
            }
        }
        t
    }
}

#[derive(Default, Clone)]
pub struct TenantUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

#[derive(Default, Clone)]
pub struct Tenant {
    pub org_id: String,
    pub admin: TenantUser,
    pub agent: TenantUser,
    pub viewer: TenantUser,
}
