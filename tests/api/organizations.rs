//! Organizations: super_admin CRUD, `/me` for everyone, slug rules, deletion.

use crate::helpers::*;
use serde_json::json;

#[actix_web::test]
async fn super_admin_manages_organizations() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .post("/api/v1/organizations", &admin, json!({"name": "Acme", "slug": "acme", "timezone": "America/Sao_Paulo"}))
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["timezone"], "America/Sao_Paulo");
    assert_eq!(
        app.post("/api/v1/organizations", &admin, json!({"name": "Again", "slug": "acme"})).await.expect(409).code(),
        "slug_taken"
    );
    let bad = app
        .post("/api/v1/organizations", &admin, json!({"name": "", "slug": "Bad Slug", "timezone": "Mars/Olympus"}))
        .await
        .expect(422);
    assert_eq!(bad.body["error"]["details"]["fields"].as_array().unwrap().len(), 3);

    let list = app.get("/api/v1/organizations", &admin).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2, "Default and Acme");
    let updated =
        app.put(&format!("/api/v1/organizations/{id}"), &admin, json!({"name": "Acme Inc"})).await.expect(200);
    assert_eq!(updated.body["name"], "Acme Inc");

    let (_, email, password) = app.create_user(id, "agent").await;
    app.login(&email, &password).await.expect(200);
    app.delete(&format!("/api/v1/organizations/{id}"), &admin).await.expect(204);
    app.get(&format!("/api/v1/organizations/{id}"), &admin).await.expect(404);
    app.login(&email, &password).await.expect(401);
    // A super_admin cannot delete its own organization.
    let me = app.get("/api/v1/auth/me", &admin).await.expect(200);
    let own = me.body["organization_id"].as_str().unwrap();
    app.delete(&format!("/api/v1/organizations/{own}"), &admin).await.expect(409);
}

#[actix_web::test]
async fn everyone_reads_their_own_organization_and_only_org_admins_update_it() {
    let app = spawn_app().await;
    let t = app.tenant("own").await;
    for token in [&t.admin.token, &t.agent.token, &t.viewer.token] {
        let r = app.get("/api/v1/organizations/me", token).await.expect(200);
        assert_eq!(r.body["id"], t.org_id.as_str());
    }
    let r = app
        .put("/api/v1/organizations/me", &t.admin.token, json!({"name": "Own Co", "settings": {"lang": "pt"}}))
        .await
        .expect(200);
    assert_eq!(r.body["settings"]["lang"], "pt");
    app.put("/api/v1/organizations/me", &t.agent.token, json!({"name": "x"})).await.expect(403);
    app.put("/api/v1/organizations/me", &t.admin.token, json!({"is_active": false})).await.expect(403);
    app.put("/api/v1/organizations/me", &t.admin.token, json!({"settings": [1, 2]})).await.expect(422);
}

#[actix_web::test]
async fn a_deactivated_organization_signs_its_users_out() {
    let app = spawn_app().await;
    let t = app.tenant("paused").await;
    let admin = app.admin_token().await;
    app.put(&format!("/api/v1/organizations/{}", t.org_id), &admin, json!({"is_active": false})).await.expect(200);
    assert_eq!(app.get("/api/v1/auth/me", &t.agent.token).await.expect(401).code(), "account_disabled");
    app.login(&t.admin.email, &t.admin.password).await.expect(401);
    app.put(&format!("/api/v1/organizations/{}", t.org_id), &admin, json!({"is_active": true})).await.expect(200);
    app.login(&t.admin.email, &t.admin.password).await.expect(200);
}
