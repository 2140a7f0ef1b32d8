//! The role matrix (every role against every route, table-driven) and tenant isolation (another
//! organization's object is a 404 on every route that takes an id).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// One route call and the roles allowed to make it.
pub struct Case {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub allowed: &'static [&'static str],
}

pub fn case(method: Method, path: impl Into<String>, body: Option<Value>, allowed: &'static [&'static str]) -> Case {
    Case { method, path: path.into(), body, allowed }
}

pub const ALL: &[&str] = &["super_admin", "org_admin", "agent", "viewer"];
pub const ADMINS: &[&str] = &["super_admin", "org_admin"];
pub const SUPER: &[&str] = &["super_admin"];
pub const WRITERS: &[&str] = &["super_admin", "org_admin", "agent"];
pub const READERS_NO_AGENT: &[&str] = &["super_admin", "org_admin", "viewer"];

/// Runs every case as every role; allowed roles must not get 401/403, the others must get 403.
pub async fn run_matrix(app: &TestApp, t: &Tenant, cases: &[Case]) {
    let super_token = app.admin_token().await;
    let mut failures = Vec::new();
    for c in cases {
        for role in ALL {
            let token = match *role {
                "super_admin" => &super_token,
                "org_admin" => &t.admin.token,
                "agent" => &t.agent.token,
                _ => &t.viewer.token,
            };
            let mut req = app.client.request(c.method.clone(), app.url(&c.path)).bearer_auth(token);
            if *role == "super_admin" {
                req = req.header("x-organization-id", &t.org_id);
            }
            if let Some(b) = &c.body {
                req = req.json(b);
            }
            let status = req.send().await.expect("sent").status().as_u16();
            let allowed = c.allowed.contains(role);
            let ok = if allowed { status != 401 && status != 403 } else { status == 403 };
            if !ok {
                failures.push(format!(
                    "{} {} as {role}: got {status}, expected {}",
                    c.method,
                    c.path,
                    if allowed { "allowed" } else { "403" }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "role matrix violations:\n{}", failures.join("\n"));
}

#[actix_web::test]
async fn foundation_routes_obey_the_role_matrix() {
    let app = spawn_app().await;
    let t = app.tenant("matrix").await;
    let other_org = app.create_org("matrix-other").await;
    let (victim, _, _) = app.create_user(&t.org_id, "agent").await;
    let new_user = |n: &str| json!({"email": format!("{n}-{}@example.test", uuid::Uuid::now_v7().simple()), "password": "long-enough-pw", "full_name": n, "role": "agent"});
    let cases = vec![
        case(Method::GET, "/api/v1/auth/me", None, ALL),
        case(Method::GET, "/api/v1/organizations/me", None, ALL),
        case(Method::PUT, "/api/v1/organizations/me", Some(json!({"name": "Matrix"})), ADMINS),
        case(Method::GET, "/api/v1/organizations", None, SUPER),
        case(Method::POST, "/api/v1/organizations", Some(json!({"name": "N", "slug": "matrix-new"})), SUPER),
        case(Method::GET, format!("/api/v1/organizations/{other_org}"), None, SUPER),
        case(Method::PUT, format!("/api/v1/organizations/{other_org}"), Some(json!({"name": "Renamed"})), SUPER),
        case(Method::GET, "/api/v1/users", None, ALL),
        case(Method::POST, "/api/v1/users", Some(new_user("m")), ADMINS),
        case(Method::GET, format!("/api/v1/users/{victim}"), None, ALL),
        case(Method::PUT, format!("/api/v1/users/{victim}"), Some(json!({"full_name": "Changed"})), ADMINS),
        case(Method::DELETE, format!("/api/v1/users/{victim}"), None, ADMINS),
        case(Method::DELETE, format!("/api/v1/organizations/{other_org}"), None, SUPER),
    ];
    run_matrix(&app, &t, &cases).await;
}

/// Calls every id-taking route of tenant B as tenant A's admin: each must be a 404.
pub async fn assert_cross_tenant_404(app: &TestApp, a: &Tenant, routes: &[(Method, String, Option<Value>)]) {
    let mut failures = Vec::new();
    for (method, path, body) in routes {
        let r = app.request(method.clone(), path, Some(&a.admin.token), body.as_ref()).await;
        if r.status.as_u16() != 404 {
            failures.push(format!("{method} {path}: {} {}", r.status, r.body));
        }
    }
    assert!(failures.is_empty(), "another tenant's objects must be 404:\n{}", failures.join("\n"));
}

#[actix_web::test]
async fn another_tenants_objects_are_404() {
    let app = spawn_app().await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let routes = vec![
        (Method::GET, format!("/api/v1/users/{}", b.agent.id), None),
        (Method::PUT, format!("/api/v1/users/{}", b.agent.id), Some(json!({"full_name": "x"}))),
        (Method::DELETE, format!("/api/v1/users/{}", b.agent.id), None),
    ];
    assert_cross_tenant_404(&app, &a, &routes).await;
    // Lists never show another tenant's rows.
    let list = app.get("/api/v1/users?limit=200", &a.admin.token).await.expect(200);
    assert!(list.body["items"].as_array().unwrap().iter().all(|u| u["organization_id"] == a.org_id.as_str()));
    // Only a super_admin may name another organization.
    let r = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&a.admin.token)
        .header("x-organization-id", &b.org_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // B is untouched.
    let b_agent = app.get(&format!("/api/v1/users/{}", b.agent.id), &b.admin.token).await.expect(200);
    assert_eq!(b_agent.body["is_active"], true);
}
