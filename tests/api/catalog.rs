//! Tags with usage counts, canned responses, and the audit log (who changed what; secrets never
//! shown).

use crate::helpers::*;
use crate::matrix::{ADMINS, ALL, WRITERS, assert_cross_tenant_404, case, run_matrix};
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn tags_count_their_uses_and_are_renamed_or_deleted_everywhere() {
    let app = spawn_app().await;
    let t = app.tenant("tags").await;
    let admin = &t.admin.token;
    let contact = app.post("/api/v1/contacts", admin, json!({"wa_id": "5511955550001"})).await.expect(201);
    let cid = contact.body["id"].as_str().unwrap();
    app.post(&format!("/api/v1/contacts/{cid}/tags"), admin, json!({"name": "vip"})).await.expect(200);
    let tag = app.post("/api/v1/tags", &t.agent.token, json!({"name": "vip", "color": "#aa0000"})).await.expect(201);
    let id = tag.body["id"].as_str().unwrap().to_string();
    assert_eq!(tag.body["contacts"], 1, "the existing tag is returned: {}", tag.body);
    assert_eq!(tag.body["color"], "#aa0000");
    app.post("/api/v1/tags", admin, json!({"name": "x", "color": "red"})).await.expect(422);
    app.post("/api/v1/tags", admin, json!({"name": "other"})).await.expect(201);

    let renamed = app.put(&format!("/api/v1/tags/{id}"), admin, json!({"name": "gold"})).await.expect(200);
    assert_eq!(renamed.body["name"], "gold");
    assert_eq!(app.get(&format!("/api/v1/contacts/{cid}/tags"), admin).await.expect(200).body, json!(["gold"]));
    let taken = app.put(&format!("/api/v1/tags/{id}"), admin, json!({"name": "other"})).await.expect(409);
    assert_eq!(taken.code(), "tag_exists");
    let list = app.get("/api/v1/tags", &t.viewer.token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);

    app.delete(&format!("/api/v1/tags/{id}"), admin).await.expect(204);
    assert_eq!(app.get(&format!("/api/v1/contacts/{cid}/tags"), admin).await.expect(200).body, json!([]));

    let other_tag =
        app.get("/api/v1/tags", admin).await.expect(200).body["items"][0]["id"].as_str().unwrap().to_string();
    run_matrix(
        &app,
        &t,
        &[
            case(Method::GET, "/api/v1/tags", None, ALL),
            case(Method::POST, "/api/v1/tags", Some(json!({"name": "m"})), WRITERS),
            case(Method::PUT, format!("/api/v1/tags/{other_tag}"), Some(json!({"name": "other"})), ADMINS),
        ],
    )
    .await;
    let b = app.tenant("tags-other").await;
    assert_cross_tenant_404(
        &app,
        &b,
        &[
            (Method::PUT, format!("/api/v1/tags/{other_tag}"), Some(json!({"name": "x"}))),
            (Method::DELETE, format!("/api/v1/tags/{other_tag}"), None),
        ],
    )
    .await;
    assert_eq!(app.get("/api/v1/tags", &b.admin.token).await.expect(200).body["items"], json!([]));
}

#[actix_web::test]
async fn canned_responses_are_unique_by_shortcut_and_found_by_prefix() {
    let app = spawn_app().await;
    let t = app.tenant("canned").await;
    let admin = &t.admin.token;
    let hours = app
        .post(
            "/api/v1/canned-responses",
            admin,
            json!({"shortcut": "hours", "text": "Hi {{contact.name}}, we open 9-18."}),
        )
        .await
        .expect(201);
    let id = hours.body["id"].as_str().unwrap().to_string();
    app.post("/api/v1/canned-responses", admin, json!({"shortcut": "hello", "text": "Hello!"})).await.expect(201);
    let dup = app.post("/api/v1/canned-responses", admin, json!({"shortcut": "hours", "text": "x"})).await.expect(409);
    assert_eq!(dup.code(), "shortcut_exists");
    let bad = app.post("/api/v1/canned-responses", admin, json!({"shortcut": "Bad Key", "text": ""})).await.expect(422);
    assert_eq!(bad.body["error"]["details"]["fields"].as_array().unwrap().len(), 2);

    let found = app.get("/api/v1/canned-responses?prefix=ho", &t.agent.token).await.expect(200);
    assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["items"][0]["shortcut"], "hours");
    let all = app.get("/api/v1/canned-responses?prefix=h", &t.agent.token).await.expect(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);

    let edited = app
        .put(&format!("/api/v1/canned-responses/{id}"), admin, json!({"shortcut": "opening", "text": "9-18"}))
        .await
        .expect(200);
    assert_eq!(edited.body["shortcut"], "opening");
    app.put(&format!("/api/v1/canned-responses/{id}"), admin, json!({"shortcut": "hello", "text": "x"}))
        .await
        .expect(409);
    app.delete(&format!("/api/v1/canned-responses/{id}"), admin).await.expect(204);
    app.get(&format!("/api/v1/canned-responses/{id}"), admin).await.expect(404);
    // The shortcut is free again once deleted.
    app.post("/api/v1/canned-responses", admin, json!({"shortcut": "opening", "text": "again"})).await.expect(201);

    let live = app.get("/api/v1/canned-responses", admin).await.expect(200).body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    run_matrix(
        &app,
        &t,
        &[
            case(Method::GET, "/api/v1/canned-responses", None, ALL),
            case(Method::POST, "/api/v1/canned-responses", Some(json!({"shortcut": "m", "text": "m"})), ADMINS),
            case(Method::GET, format!("/api/v1/canned-responses/{live}"), None, ALL),
        ],
    )
    .await;
    let b = app.tenant("canned-other").await;
    assert_cross_tenant_404(
        &app,
        &b,
        &[
            (Method::GET, format!("/api/v1/canned-responses/{live}"), None),
            (Method::PUT, format!("/api/v1/canned-responses/{live}"), Some(json!({"shortcut": "z", "text": "z"}))),
            (Method::DELETE, format!("/api/v1/canned-responses/{live}"), None),
        ],
    )
    .await;
}

#[actix_web::test]
async fn the_audit_log_shows_admin_changes_with_secrets_redacted() {
    let app = spawn_app().await;
    let t = app.tenant("audit").await;
    let admin = &t.admin.token;
    let number = app
        .post(
            "/api/v1/whatsapp/numbers",
            admin,
            json!({"phone_number_id": "109900", "access_token": "EAAG-very-secret", "app_secret": "shh-secret"}),
        )
        .await
        .expect(201);
    let number_id = number.body["id"].as_str().unwrap();
    app.post("/api/v1/queues", admin, json!({"name": "Sales"})).await.expect(201);

    let log = app.get("/api/v1/audit", admin).await.expect(200);
    let entries = log.body["items"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[0], "queue.created", "newest first: {actions:?}");
    assert!(actions.contains(&"number.created"), "{actions:?}");
    for e in entries.iter().filter(|e| e["action"] == "queue.created" || e["action"] == "number.created") {
        assert_eq!(e["actor_user_id"], t.admin.id.as_str(), "who: {e}");
    }
    let text = log.body.to_string();
    assert!(!text.contains("EAAG-very-secret") && !text.contains("shh-secret"), "secrets leaked: {text}");

    let one =
        app.get(&format!("/api/v1/audit?entity_type=whatsapp_number&entity_id={number_id}"), admin).await.expect(200);
    assert_eq!(one.body["items"].as_array().unwrap().len(), 1);
    app.get("/api/v1/audit", &t.agent.token).await.expect(403);
    app.get("/api/v1/audit", &t.viewer.token).await.expect(403);
    let b = app.tenant("audit-other").await;
    let theirs = app.get(&format!("/api/v1/audit?entity_id={number_id}"), &b.admin.token).await.expect(200);
    assert_eq!(theirs.body["items"], json!([]));
}
