//! Users: CRUD within the organization, role rules, conflicts, pagination, audit.

use crate::helpers::*;
use serde_json::json;

#[actix_web::test]
async fn org_admin_creates_lists_updates_and_deactivates_users_in_its_own_org() {
    let app = spawn_app().await;
    let t = app.tenant("acme").await;
    let created = app
        .post(
            "/api/v1/users",
            &t.admin.token,
            json!({"email": "New.Agent@Example.test", "password": "long-enough-pw", "full_name": "New Agent", "role": "agent",
                   "organization_id": "00000000-0000-0000-0000-000000000000"}),
        )
        .await
        .expect(201);
    // organization_id is ignored for an org_admin: the user lands in the admin's org.
    assert_eq!(created.body["organization_id"], t.org_id.as_str());
    assert_eq!(created.body["email"], "new.agent@example.test");
    assert!(created.body.get("password_hash").is_none());
    let id = created.body["id"].as_str().unwrap();

    let got = app.get(&format!("/api/v1/users/{id}"), &t.agent.token).await.expect(200);
    assert_eq!(got.body["role"], "agent");

    let updated = app
        .put(&format!("/api/v1/users/{id}"), &t.admin.token, json!({"full_name": "Renamed", "role": "viewer"}))
        .await
        .expect(200);
    assert_eq!(updated.body["full_name"], "Renamed");
    assert_eq!(updated.body["role"], "viewer");

    app.login("new.agent@example.test", "long-enough-pw").await.expect(200);
    app.delete(&format!("/api/v1/users/{id}"), &t.admin.token).await.expect(204);
    let got = app.get(&format!("/api/v1/users/{id}"), &t.admin.token).await.expect(200);
    assert_eq!(got.body["is_active"], false);
    app.login("new.agent@example.test", "long-enough-pw").await.expect(401);

    let inactive = app.get("/api/v1/users?is_active=false", &t.admin.token).await.expect(200);
    assert_eq!(inactive.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn an_org_admin_cannot_create_or_touch_a_super_admin() {
    let app = spawn_app().await;
    let t = app.tenant("roles").await;
    let r = app
        .post(
            "/api/v1/users",
            &t.admin.token,
            json!({"email": "x@example.test", "password": "long-enough-pw", "full_name": "X", "role": "super_admin"}),
        )
        .await
        .expect(403);
    assert_eq!(r.code(), "forbidden");
    app.put(&format!("/api/v1/users/{}", t.agent.id), &t.admin.token, json!({"role": "super_admin"})).await.expect(403);
    // The bootstrap super_admin lives in another org: invisible to this org_admin.
    let admin = app.admin_token().await;
    let me = app.get("/api/v1/auth/me", &admin).await.expect(200);
    let root_id = me.body["id"].as_str().unwrap();
    app.put(&format!("/api/v1/users/{root_id}"), &t.admin.token, json!({"full_name": "pwned"})).await.expect(404);
}

#[actix_web::test]
async fn duplicate_email_is_409_and_bad_fields_are_422_naming_each_field() {
    let app = spawn_app().await;
    let t = app.tenant("dupes").await;
    let body = json!({"email": t.agent.email.to_uppercase(), "password": "long-enough-pw", "full_name": "Dup", "role": "agent"});
    assert_eq!(app.post("/api/v1/users", &t.admin.token, body).await.expect(409).code(), "email_taken");
    let bad = app
        .post(
            "/api/v1/users",
            &t.admin.token,
            json!({"email": "not-an-email", "password": "short", "full_name": " ", "role": "agent"}),
        )
        .await
        .expect(422);
    let fields: Vec<&str> = bad.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "full_name"]);
    let bad_role = app
        .post(
            "/api/v1/users",
            &t.admin.token,
            json!({"email": "a@b.co", "password": "long-enough-pw", "full_name": "A", "role": "emperor"}),
        )
        .await
        .expect(422);
    assert_eq!(bad_role.body["error"]["details"]["fields"][0]["field"], "role");
    // Nothing was created by the failed calls.
    let list = app.get("/api/v1/users", &t.admin.token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn nobody_deactivates_or_demotes_themselves() {
    let app = spawn_app().await;
    let t = app.tenant("self").await;
    let path = format!("/api/v1/users/{}", t.admin.id);
    app.delete(&path, &t.admin.token).await.expect(422);
    app.put(&path, &t.admin.token, json!({"role": "agent"})).await.expect(422);
    app.get("/api/v1/auth/me", &t.admin.token).await.expect(200);
}

#[actix_web::test]
async fn changing_a_password_ends_existing_sessions() {
    let app = spawn_app().await;
    let t = app.tenant("pwchange").await;
    let pair = app.login(&t.agent.email, &t.agent.password).await.expect(200);
    app.put(&format!("/api/v1/users/{}", t.agent.id), &t.admin.token, json!({"password": "a-brand-new-password"}))
        .await
        .expect(200);
    let refresh = pair.body["refresh_token"].as_str().unwrap();
    app.request(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh})))
        .await
        .expect(401);
    app.login(&t.agent.email, &t.agent.password).await.expect(401);
    app.login(&t.agent.email, "a-brand-new-password").await.expect(200);
}

#[actix_web::test]
async fn user_lists_paginate_with_cursors() {
    let app = spawn_app().await;
    let t = app.tenant("pages").await;
    for i in 0..7 {
        app.post(
            "/api/v1/users",
            &t.admin.token,
            json!({"email": format!("u{i}@example.test"), "password": "long-enough-pw", "full_name": format!("U{i}"), "role": "agent"}),
        )
        .await
        .expect(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=4&cursor={c}"),
            None => "/api/v1/users?limit=4".to_string(),
        };
        let page = app.get(&path, &t.admin.token).await.expect(200);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup, seen, "no item twice");
    app.get("/api/v1/users?limit=0", &t.admin.token).await.expect(422);
    app.get("/api/v1/users?limit=500", &t.admin.token).await.expect(422);
    app.get("/api/v1/users?cursor=garbage!", &t.admin.token).await.expect(422);
    app.get("/api/v1/users?role=emperor", &t.admin.token).await.expect(422);
    let agents = app.get("/api/v1/users?role=agent", &t.admin.token).await.expect(200);
    assert_eq!(agents.body["items"].as_array().unwrap().len(), 8);
}

#[actix_web::test]
async fn a_super_admin_creates_and_lists_users_in_any_org() {
    let app = spawn_app().await;
    let org = app.create_org("elsewhere").await;
    let (id, email, password) = app.create_user(&org, "org_admin").await;
    let token = app.token(&email, &password).await;
    let me = app.get("/api/v1/auth/me", &token).await.expect(200);
    assert_eq!(me.body["organization_id"], org.as_str());
    let admin = app.admin_token().await;
    let listed = app.get(&format!("/api/v1/users?organization_id={org}"), &admin).await.expect(200);
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    // The same through X-Organization-Id.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&admin)
        .header("x-organization-id", &org)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Creating in an organization that does not exist is a 404.
    app.post(
        "/api/v1/users",
        &admin,
        json!({"email": "ghost@example.test", "password": "long-enough-pw", "full_name": "G", "role": "agent", "organization_id": uuid::Uuid::now_v7()}),
    )
    .await
    .expect(404);
}

#[actix_web::test]
async fn user_changes_are_audited_without_secrets() {
    let app = spawn_app().await;
    let t = app.tenant("audited").await;
    app.put(
        &format!("/api/v1/users/{}", t.agent.id),
        &t.admin.token,
        json!({"full_name": "Audited", "password": "another-secret-pw"}),
    )
    .await
    .expect(200);
    #[allow(clippy::disallowed_methods)]
    let org = pytake_actors::OrgId::assume_verified(t.org_id.parse().unwrap());
    let mut c = app.state.db.conn().await.unwrap();
    let filter = pytake::repo::audit::AuditFilter { entity_type: Some("user"), entity_id: None, actor_user_id: None };
    let rows = pytake::repo::audit::list(&mut c, org, &filter, None, 50).await.unwrap();
    let update = rows.iter().find(|r| r.action == "user.updated").expect("an audit entry for the update");
    assert_eq!(update.after_state.as_ref().unwrap().0["full_name"], "Audited");
    let text = serde_json::to_string(&update.after_state.as_ref().unwrap().0).unwrap();
    assert!(!text.contains("another-secret-pw") && !text.contains("argon2"));
    assert_eq!(update.actor_user_id.unwrap().to_string(), t.admin.id);
    assert!(rows.iter().filter(|r| r.action == "user.created").count() >= 3);
}
