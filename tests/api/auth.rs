//! Login, refresh rotation and reuse detection, logout, lockout, rate limiting, token checks.

use crate::helpers::*;
use base64::Engine;
use chrono::Utc;
use pytake::auth::jwt::{Subject, TokenType};
use serde_json::json;
use uuid::Uuid;

#[actix_web::test]
async fn login_returns_a_bearer_pair_and_me_describes_the_caller() {
    let app = spawn_app().await;
    let r = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert!(r.body["refresh_token"].is_string());
    let token = r.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/auth/me", token).await.expect(200);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["role"], "super_admin");
    assert!(me.body["permissions"].as_array().unwrap().iter().any(|p| p == "organizations_manage"));
}

#[actix_web::test]
async fn email_is_case_insensitive_and_wrong_credentials_are_one_error() {
    let app = spawn_app().await;
    app.login(&ADMIN_EMAIL.to_uppercase(), &app.admin_password).await.expect(200);
    let wrong = app.login(ADMIN_EMAIL, "not-the-password").await.expect(401);
    let unknown = app.login("nobody@example.test", "not-the-password").await.expect(401);
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(wrong.body, unknown.body, "an unknown email and a wrong password must look the same");
}

#[actix_web::test]
async fn refresh_rotates_and_a_replayed_token_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
    let r1 = first.body["refresh_token"].as_str().unwrap().to_string();

    let second =
        app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r1}))).await;
    let second = second.expect(200);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    app.get("/api/v1/auth/me", second.body["access_token"].as_str().unwrap()).await.expect(200);

    // Replaying the spent token: 401, and the whole family (r2 too) is revoked.
    let replay =
        app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r1}))).await;
    assert_eq!(replay.expect(401).code(), "refresh_token_reused");
    let after =
        app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r2}))).await;
    after.expect(401);

    // Another login is another family and still works.
    let other = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
    let r3 = other.body["refresh_token"].as_str().unwrap();
    app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r3})))
        .await
        .expect(200);
}

#[actix_web::test]
async fn concurrent_refreshes_of_one_token_let_at_most_one_through() {
    let app = spawn_app().await;
    let first = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
    let r1 = first.body["refresh_token"].as_str().unwrap().to_string();
    let body = json!({"refresh_token": r1});
    let (a, b) = tokio::join!(
        app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&body)),
        app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&body)),
    );
    let ok = [a.status.as_u16(), b.status.as_u16()].iter().filter(|s| **s == 200).count();
    assert!(ok <= 1, "a refresh token is single-use even under a race");
}

#[actix_web::test]
async fn logout_revokes_the_family() {
    let app = spawn_app().await;
    let pair = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
    let refresh = pair.body["refresh_token"].as_str().unwrap();
    let r =
        app.request(reqwest::Method::POST, "/api/v1/auth/logout", None, Some(&json!({"refresh_token": refresh}))).await;
    r.expect(204);
    app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh})))
        .await
        .expect(401);
    // Logging out twice is harmless.
    app.request(reqwest::Method::POST, "/api/v1/auth/logout", None, Some(&json!({"refresh_token": refresh})))
        .await
        .expect(204);
}

#[actix_web::test]
async fn tokens_of_the_wrong_type_algorithm_signature_or_age_are_401() {
    let app = spawn_app().await;
    let pair = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
    let access = pair.body["access_token"].as_str().unwrap();
    let refresh = pair.body["refresh_token"].as_str().unwrap();
    let me = app.get("/api/v1/auth/me", access).await.expect(200);
    let user_id: Uuid = me.body["id"].as_str().unwrap().parse().unwrap();
    let org_id: Uuid = me.body["organization_id"].as_str().unwrap().parse().unwrap();

    // A refresh token is not an access token, and vice versa.
    app.get("/api/v1/auth/me", refresh).await.expect(401);
    app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": access})))
        .await
        .expect(401);

    // Expired.
    let past = Utc::now() - chrono::Duration::hours(2);
    let (expired, _) = app
        .state
        .jwt
        .issue(
            Subject { user_id, org: org_id, role: pytake_actors::Role::SuperAdmin },
            TokenType::Access,
            Uuid::now_v7(),
            past,
            900,
        )
        .unwrap();
    assert_eq!(app.get("/api/v1/auth/me", &expired).await.expect(401).code(), "token_expired");

    // alg: none, with the same claims.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = access.split('.').nth(1).unwrap();
    let none = format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), claims);
    app.get("/api/v1/auth/me", &none).await.expect(401);

    // HS512 with the same secret (algorithm confusion) and HS256 with another secret.
    let key = jsonwebtoken::EncodingKey::from_secret(app.settings.resolved.jwt_secret.expose().as_bytes()).unwrap();
    let claims_json: serde_json::Value = serde_json::from_slice(&b64.decode(claims).unwrap()).unwrap();
    let hs512 =
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512), &claims_json, &key).unwrap();
    app.get("/api/v1/auth/me", &hs512).await.expect(401);
    let other = jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-some-other-secret").unwrap();
    let forged =
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims_json, &other).unwrap();
    app.get("/api/v1/auth/me", &forged).await.expect(401);

    // Garbage and missing headers.
    app.get("/api/v1/auth/me", "not.a.jwt").await.expect(401);
    let r = app.request(reqwest::Method::GET, "/api/v1/auth/me", None, None).await.expect(401);
    assert_eq!(r.code(), "missing_token");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
}

#[actix_web::test]
async fn five_failed_logins_lock_the_account_for_fifteen_minutes() {
    let app = spawn_app().await;
    let org = app.create_org("lockout").await;
    let (_, email, password) = app.create_user(&org, "agent").await;
    for _ in 0..5 {
        app.login(&email, "wrong-password-x").await.expect(401);
    }
    let locked = app.login(&email, &password).await.expect(401);
    assert_eq!(locked.code(), "account_locked");
    assert!(locked.body["error"]["message"].as_str().unwrap().contains("15"));
    // Another account is unaffected.
    app.login(ADMIN_EMAIL, &app.admin_password).await.expect(200);
}

#[actix_web::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app().await;
    let org = app.create_org("reset").await;
    let (_, email, password) = app.create_user(&org, "agent").await;
    for _ in 0..4 {
        app.login(&email, "wrong-password-x").await.expect(401);
    }
    app.login(&email, &password).await.expect(200);
    for _ in 0..4 {
        app.login(&email, "wrong-password-x").await.expect(401);
    }
    app.login(&email, &password).await.expect(200);
}

#[actix_web::test]
async fn login_attempts_are_rate_limited_per_ip_with_retry_after() {
    let app = spawn_app_with(&[("PYTAKE__AUTH__LOGIN_RATE_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        app.login("nobody@example.test", "whatever-password").await.expect(401);
    }
    let limited = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(429);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Other endpoints are not limited by the login limiter.
    let token = app
        .state
        .jwt
        .issue(
            Subject { user_id: Uuid::now_v7(), org: Uuid::now_v7(), role: pytake_actors::Role::Agent },
            TokenType::Access,
            Uuid::now_v7(),
            Utc::now(),
            60,
        )
        .unwrap()
        .0;
    app.get("/api/v1/auth/me", &token).await.expect(401);
}

#[actix_web::test]
async fn a_deactivated_user_is_signed_out_at_once() {
    let app = spawn_app().await;
    let t = app.tenant("deact").await;
    let pair = app.login(&t.agent.email, &t.agent.password).await.expect(200);
    app.delete(&format!("/api/v1/users/{}", t.agent.id), &t.admin.token).await.expect(204);
    let r = app.get("/api/v1/auth/me", &t.agent.token).await.expect(401);
    assert_eq!(r.code(), "account_disabled");
    let refresh = pair.body["refresh_token"].as_str().unwrap();
    app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh})))
        .await
        .expect(401);
    app.login(&t.agent.email, &t.agent.password).await.expect(401);
}
