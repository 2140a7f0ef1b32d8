//! The contacts CRM: create, edit, delete and revive, search by text and tag, attributes, tags,
//! block (stored, never answered), VIP and opt-in/out; roles and tenancy.

use crate::helpers::*;
use crate::matrix::{ALL, WRITERS, assert_cross_tenant_404, case, run_matrix};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn field_of(r: &Reply) -> String {
    r.body["error"]["details"]["fields"][0]["field"].as_str().unwrap_or_default().to_string()
}

#[actix_web::test]
async fn contacts_are_created_edited_searched_tagged_and_deleted() {
    let app = spawn_app().await;
    let t = app.tenant("crm").await;
    let agent = &t.agent.token;

    let created = app
        .post(
            "/api/v1/contacts",
            agent,
            json!({"wa_id": "5511988880001", "name": "Maria Silva", "email": "maria@example.com",
                   "attributes": {"plan": "gold"}, "is_vip": true, "opt_in": true}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["lifecycle_stage"], "lead");
    assert_eq!(created.body["is_vip"], true);
    assert!(created.body["opt_in_at"].is_string());
    let dup = app.post("/api/v1/contacts", agent, json!({"wa_id": "5511988880001"})).await.expect(409);
    assert_eq!(dup.code(), "contact_exists");
    for (body, field) in [
        (json!({"wa_id": "+55 11"}), "wa_id"),
        (json!({"wa_id": "5511988880002", "email": "nope"}), "email"),
        (json!({"wa_id": "5511988880002", "attributes": [1]}), "attributes"),
        (json!({"wa_id": "5511988880002", "name": ""}), "name"),
    ] {
        let r = app.post("/api/v1/contacts", agent, body.clone()).await.expect(422);
        assert_eq!(field_of(&r), field, "{body}");
    }
    app.post("/api/v1/contacts", agent, json!({"wa_id": "5511988880002", "name": "João"})).await.expect(201);

    // Edit: absent kept, null cleared, attributes replaced, opt-out recorded.
    let edited = app
        .put(
            &format!("/api/v1/contacts/{id}"),
            agent,
            json!({"email": null, "attributes": {"plan": "silver"}, "opt_in": false}),
        )
        .await
        .expect(200);
    assert_eq!(edited.body["name"], "Maria Silva");
    assert_eq!(edited.body["email"], Value::Null);
    assert_eq!(edited.body["attributes"], json!({"plan": "silver"}));
    assert_eq!(edited.body["opt_in"], false);
    assert!(edited.body["opt_out_at"].is_string());

    // Search and tags.
    let found = app.get("/api/v1/contacts?query=silva", agent).await.expect(200);
    assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    let tags = app.post(&format!("/api/v1/contacts/{id}/tags"), agent, json!({"name": "churn-risk"})).await.expect(200);
    assert_eq!(tags.body, json!(["churn-risk"]));
    app.post(&format!("/api/v1/contacts/{id}/tags"), agent, json!({"name": "churn-risk"})).await.expect(200);
    let tagged = app.get("/api/v1/contacts?tag=churn-risk", agent).await.expect(200);
    assert_eq!(tagged.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(tagged.body["items"][0]["id"], id.as_str());
    app.delete(&format!("/api/v1/contacts/{id}/tags/churn-risk"), agent).await.expect(200);
    app.delete(&format!("/api/v1/contacts/{id}/tags/churn-risk"), agent).await.expect(404);

    // Delete, then the same number comes back as a new contact entry with the old id.
    app.delete(&format!("/api/v1/contacts/{id}"), agent).await.expect(204);
    app.get(&format!("/api/v1/contacts/{id}"), agent).await.expect(404);
    let back =
        app.post("/api/v1/contacts", agent, json!({"wa_id": "5511988880001", "name": "Maria S."})).await.expect(201);
    assert_eq!(back.body["id"], id.as_str());
    assert_eq!(back.body["name"], "Maria S.");

    let cases = vec![
        case(Method::GET, "/api/v1/contacts", None, ALL),
        case(Method::POST, "/api/v1/contacts", Some(json!({"wa_id": "5511988889999"})), WRITERS),
        case(Method::PUT, format!("/api/v1/contacts/{id}"), Some(json!({"name": "M"})), WRITERS),
        case(Method::POST, format!("/api/v1/contacts/{id}/tags"), Some(json!({"name": "x"})), WRITERS),
        case(Method::GET, format!("/api/v1/contacts/{id}/tags"), None, ALL),
    ];
    run_matrix(&app, &t, &cases).await;
    let other = app.tenant("crm-other").await;
    assert_cross_tenant_404(
        &app,
        &other,
        &[
            (Method::GET, format!("/api/v1/contacts/{id}"), None),
            (Method::PUT, format!("/api/v1/contacts/{id}"), Some(json!({"name": "x"}))),
            (Method::DELETE, format!("/api/v1/contacts/{id}"), None),
            (Method::POST, format!("/api/v1/contacts/{id}/block"), Some(json!({}))),
            (Method::POST, format!("/api/v1/contacts/{id}/unblock"), None),
            (Method::GET, format!("/api/v1/contacts/{id}/tags"), None),
            (Method::POST, format!("/api/v1/contacts/{id}/tags"), Some(json!({"name": "x"}))),
        ],
    )
    .await;
    let theirs = app.get("/api/v1/contacts", &other.admin.token).await.expect(200);
    assert_eq!(theirs.body["items"], json!([]));
}

#[actix_web::test]
async fn a_blocked_contacts_messages_are_stored_but_never_answered() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("crm-block").await;
    let admin = &t.admin.token;
    let nodes = json!([node("s", "start", json!({})), node("m", "message", json!({"messageText": "Welcome!"}))]);
    app.bot(admin, PNID, nodes, edges(&["s->m"])).await;

    let contact = app.post("/api/v1/contacts", admin, json!({"wa_id": "5511977770009"})).await.expect(201);
    let id = contact.body["id"].as_str().unwrap();
    let blocked = app.post(&format!("/api/v1/contacts/{id}/block"), admin, json!({"reason": "spam"})).await.expect(200);
    assert_eq!(blocked.body["is_blocked"], true);
    assert_eq!(blocked.body["blocked_reason"], "spam");
    app.say(PNID, "5511977770009", "buy cheap stuff").await;
    app.drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.accepted().is_empty(), "the bot must not answer a blocked contact");
    let convs = app.get("/api/v1/conversations?contact_wa_id=5511977770009", admin).await.expect(200);
    let conv = convs.body["items"][0]["id"].as_str().expect("the message was stored").to_string();
    assert_eq!(app.messages(admin, &conv).await[0]["text"], "buy cheap stuff");
    assert_eq!(convs.body["items"][0]["status"], "open", "not queued for the agents");
    let agents_view = app.get("/api/v1/conversations", &t.agent.token).await.expect(200);
    assert_eq!(agents_view.body["items"], json!([]));

    let unblocked = app.post(&format!("/api/v1/contacts/{id}/unblock"), admin, json!({})).await.expect(200);
    assert_eq!(unblocked.body["is_blocked"], false);
    app.say(PNID, "5511977770009", "hello").await;
    assert_eq!(bot_says(&fake, "5511977770009", 1).await, ["Welcome!"]);
}

#[actix_web::test]
async fn csv_import_reports_bad_rows_and_export_round_trips() {
    let app = spawn_app().await;
    let t = app.tenant("crm-csv").await;
    let agent = &t.agent.token;
    app.post("/api/v1/contacts", agent, json!({"wa_id": "5511900000001", "name": "Old name", "company": "Acme"}))
        .await
        .expect(201);
    let csv = "wa_id,name,email,tags,opt_in,plan\n\
               +55 11 90000-0001,Ana,ana@example.com,vip;gold,yes,pro\n\
               5511900000002,Bruno,not-an-email,,,\n\
               5511900000003,Carla,,vip,no,basic\n\
               12,Too short,,,,\n\
               5511900000003,Carla again,,,,\n";
    let r = app
        .client
        .post(app.url("/api/v1/contacts/import"))
        .bearer_auth(agent)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let report = Reply::from(r).await.expect(200).body;
    assert_eq!(report["rows"], 5);
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(report["failed"], 3, "{report}");
    let errors: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, [(3, "email"), (5, "wa_id"), (6, "wa_id")]);

    let ana = app.get("/api/v1/contacts?wa_id=5511900000001", agent).await.expect(200).body["items"][0].clone();
    assert_eq!(ana["name"], "Ana");
    assert_eq!(ana["company"], "Acme", "an empty or absent cell keeps the field");
    assert_eq!(ana["attributes"]["plan"], "pro");
    assert_eq!(ana["opt_in"], true);
    let vips = app.get("/api/v1/contacts?tag=vip", agent).await.expect(200);
    assert_eq!(vips.body["items"].as_array().unwrap().len(), 2);

    let export = app.client.get(app.url("/api/v1/contacts/export?tag=gold")).bearer_auth(agent).send().await.unwrap();
    assert_eq!(export.status(), 200);
    assert!(export.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = export.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("wa_id,name,profile_name,email"));
    assert!(lines[1].starts_with("5511900000001,Ana,,ana@example.com"), "{text}");
    assert!(lines[1].contains("gold;vip"));

    // Wrong content type, a file without wa_id, and a viewer: refused, nothing changed.
    let r =
        app.client.post(app.url("/api/v1/contacts/import")).bearer_auth(agent).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .post(app.url("/api/v1/contacts/import"))
        .bearer_auth(agent)
        .header("content-type", "text/csv")
        .body("name\nX\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .client
        .post(app.url("/api/v1/contacts/import"))
        .bearer_auth(&t.viewer.token)
        .header("content-type", "text/csv")
        .body("wa_id\n5511900000009\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.get("/api/v1/contacts?limit=200", agent).await.expect(200).body["items"].as_array().unwrap().len(),
        2
    );
}
