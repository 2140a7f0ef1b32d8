//! HTTP conventions: the error model for malformed input, request ids, unknown routes, CORS, health
//! probes and the OpenAPI document.

use crate::helpers::*;
use serde_json::Value;

async fn raw_post(app: &TestApp, path: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Reply {
    let mut req = app.client.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    Reply::from(req.send().await.unwrap()).await
}

#[actix_web::test]
async fn malformed_bodies_get_clear_errors_and_change_nothing() {
    let app = spawn_app_with(&[("PYTAKE__SERVER__JSON_BODY_LIMIT", "2048")]).await;
    let login = "/api/v1/auth/login";
    let r = raw_post(&app, login, Some("application/json"), "{\"email\": ").await.expect(400);
    assert_eq!(r.code(), "malformed_json");
    raw_post(&app, login, Some("application/json"), "").await.expect(400);
    raw_post(&app, login, Some("application/json"), "{} trailing").await.expect(400);
    assert_eq!(raw_post(&app, login, Some("text/plain"), "{}").await.expect(415).code(), "unsupported_media_type");
    raw_post(&app, login, None, "{}").await.expect(415);
    let unknown = raw_post(&app, login, Some("application/json"), r#"{"email":"a@b.co","password":"x","admin":true}"#)
        .await
        .expect(422);
    assert!(unknown.body["error"]["details"]["fields"][0]["message"].as_str().unwrap().contains("unknown field"));
    let missing = raw_post(&app, login, Some("application/json"), r#"{"email":"a@b.co"}"#).await.expect(422);
    assert!(missing.body["error"]["details"]["fields"][0]["message"].as_str().unwrap().contains("password"));
    let big = format!(r#"{{"email":"a@b.co","password":"{}"}}"#, "x".repeat(4096));
    let r = raw_post(&app, login, Some("application/json"), big).await.expect(413);
    assert_eq!(r.body["error"]["details"]["limit_bytes"], 2048);
    raw_post(&app, login, Some("application/json; charset=utf-8"), r#"{"email":"a@b.co","password":"nope-nope"}"#)
        .await
        .expect(401);
    // A JSON array where an object is expected.
    raw_post(&app, login, Some("application/json"), "[1,2]").await.expect(422);
}

#[actix_web::test]
async fn invalid_path_ids_and_unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let r = app.get("/api/v1/users/not-a-uuid", &token).await.expect(404);
    assert_eq!(r.code(), "not_found");
    let r = app.get("/api/v1/no/such/route", &token).await.expect(404);
    assert_eq!(r.code(), "not_found");
    app.get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()), &token).await.expect(404);
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/health/live")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let r = app.client.get(app.url("/nope")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123");
    let r = app.client.get(app.url("/nope")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
}

#[actix_web::test]
async fn cors_allows_configured_origins_only() {
    let app = spawn_app_with(&[("PYTAKE__CORS__ALLOWED_ORIGINS", "https://console.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://console.example.com").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://console.example.com");
    let denied = preflight("https://evil.example.com").await.unwrap();
    assert!(denied.headers().get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn health_probes_report_liveness_and_readiness() {
    let app = spawn_app().await;
    let live = Reply::from(app.client.get(app.url("/health/live")).send().await.unwrap()).await.expect(200);
    assert_eq!(live.body["status"], "ok");
    let ready = Reply::from(app.client.get(app.url("/health/ready")).send().await.unwrap()).await.expect(200);
    assert_eq!(ready.body["checks"]["database"], "ok");
    // With the database gone, readiness says which dependency is down and API calls get 503.
    app.state.db.close().await;
    let down = Reply::from(app.client.get(app.url("/health/ready")).send().await.unwrap()).await.expect(503);
    assert_eq!(down.body["checks"]["database"], "down");
    let r = app.login(ADMIN_EMAIL, &app.admin_password).await.expect(503);
    assert_eq!(r.code(), "service_unavailable");
    assert!(r.headers.get("retry-after").is_some());
    Reply::from(app.client.get(app.url("/health/live")).send().await.unwrap()).await.expect(200);
}

#[actix_web::test]
async fn the_openapi_document_lists_every_route_and_the_docs_page_renders_it() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut routes: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    for expected in [
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "GET /api/v1/auth/me",
        "GET /api/v1/organizations",
        "POST /api/v1/organizations",
        "GET /api/v1/organizations/me",
        "PUT /api/v1/organizations/me",
        "GET /api/v1/organizations/{id}",
        "PUT /api/v1/organizations/{id}",
        "DELETE /api/v1/organizations/{id}",
        "GET /api/v1/users",
        "POST /api/v1/users",
        "GET /api/v1/users/{id}",
        "PUT /api/v1/users/{id}",
        "DELETE /api/v1/users/{id}",
        "GET /health/live",
        "GET /health/ready",
        "GET /api/v1/openapi.json",
        "GET /api/v1/docs",
    ] {
        assert!(routes.contains(&expected.to_string()), "{expected} missing from the OpenAPI document");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let page = app.client.get(app.url("/api/v1/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("openapi.json") && !html.contains("https://"), "the docs page must not load anything remote");
}
