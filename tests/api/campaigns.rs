//! Campaigns: an approved template to an audience with per-contact parameters; opted-out and
//! blocked contacts skipped; progress from sent to read and replied; scheduling, pause, resume,
//! cancel; never twice.

use crate::helpers::*;
use crate::matrix::{ADMINS, READERS_NO_AGENT, assert_cross_tenant_404, case, run_matrix};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A number with a WABA and an approved template `promo` taking one parameter.
async fn approved_template(app: &TestApp, admin: &str) -> (String, String) {
    let number = app.sending_number(admin, PNID).await;
    app.put(&format!("/api/v1/whatsapp/numbers/{number}"), admin, json!({"waba_id": "waba-c"})).await.expect(200);
    let base = format!("/api/v1/whatsapp/numbers/{number}/templates");
    let t = app
        .post(
            &base,
            admin,
            json!({"name": "promo", "language": "pt_BR", "category": "MARKETING",
                                   "components": [{"type": "BODY", "text": "Oi {{1}}, 20% off hoje!"}]}),
        )
        .await
        .expect(201);
    let id = t.body["id"].as_str().unwrap().to_string();
    let submitted = app.post(&format!("{base}/{id}/submit"), admin, json!({})).await.expect(200);
    let meta_id = submitted.body["meta_template_id"].as_str().unwrap().parse::<u64>().unwrap();
    let review = json!({"object": "whatsapp_business_account", "entry": [{"id": "waba-c", "changes": [{"field": "message_template_status_update",
        "value": {"event": "APPROVED", "message_template_id": meta_id, "message_template_name": "promo", "message_template_language": "pt_BR"}}]}]});
    app.deliver(&review.to_string(), APP_SECRET).await.expect(200);
    (number, id)
}

async fn contact(app: &TestApp, admin: &str, wa_id: &str, name: &str, tag: Option<&str>) -> String {
    let id = app.post("/api/v1/contacts", admin, json!({"wa_id": wa_id, "name": name})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    if let Some(t) = tag {
        app.post(&format!("/api/v1/contacts/{id}/tags"), admin, json!({"name": t})).await.expect(200);
    }
    id
}

async fn progress(app: &TestApp, admin: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/campaigns/{id}/progress"), admin).await.expect(200).body
}

#[actix_web::test]
async fn a_campaign_reaches_its_audience_once_and_reports_progress() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    fake.set_status_webhook(Some(StatusWebhook::new(app.url("/api/v1/webhooks/meta"), APP_SECRET)));
    let t = app.tenant("campaigns").await;
    let admin = &t.admin.token;
    let (number, template) = approved_template(&app, admin).await;
    contact(&app, admin, "5511944440001", "Ana", Some("promo")).await;
    contact(&app, admin, "5511944440002", "Bruno", Some("promo")).await;
    let out = contact(&app, admin, "5511944440003", "Caio", Some("promo")).await;
    app.put(&format!("/api/v1/contacts/{out}"), admin, json!({"opt_in": false})).await.expect(200);
    let blocked = contact(&app, admin, "5511944440004", "Davi", Some("promo")).await;
    app.post(&format!("/api/v1/contacts/{blocked}/block"), admin, json!({})).await.expect(200);
    let extra = contact(&app, admin, "5511944440005", "Eva", None).await;

    let body = |params: Value| {
        json!({"name": "Black Friday", "number_id": number, "template_id": template,
               "audience": {"tags": ["promo"], "contact_ids": [extra]}, "parameters": params})
    };
    let r = app.post("/api/v1/campaigns", admin, body(json!([]))).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "parameters");
    let r = app
        .post(
            "/api/v1/campaigns",
            admin,
            json!({"name": "x", "number_id": number, "template_id": template, "audience": {}}),
        )
        .await
        .expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "audience");
    let created = app.post("/api/v1/campaigns", admin, body(json!(["{{contact.name}}"]))).await.expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["status"], "draft");
    assert_eq!(fake.accepted().len(), 0, "a draft sends nothing");

    let started = app.post(&format!("/api/v1/campaigns/{id}/start"), admin, json!({})).await.expect(200);
    assert_eq!(started.body["status"], "running");
    app.post(&format!("/api/v1/campaigns/{id}/start"), admin, json!({})).await.expect(409);
    let audit = app.get(&format!("/api/v1/audit?entity_type=campaign&entity_id={id}"), admin).await.expect(200);
    let actions: Vec<&str> =
        audit.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["campaign.started", "campaign.created"]);
    let sent = fake.wait_accepted(3, Duration::from_secs(10)).await.expect("three templates went out");
    let mut greeted: Vec<String> = sent
        .iter()
        .map(|r| r.body["template"]["components"][0]["parameters"][0]["text"].as_str().unwrap().to_string())
        .collect();
    greeted.sort();
    assert_eq!(greeted, ["Ana", "Bruno", "Eva"], "opted-out and blocked contacts are skipped");

    // Meta's statuses move the recipients to read; a reply is counted.
    eventually("everyone read it", || async { progress(&app, admin, &id).await["read"] == 3 }).await;
    app.say(PNID, "5511944440001", "quero!").await;
    eventually("the reply", || async { progress(&app, admin, &id).await["replied"] == 1 }).await;
    // The reply reaches the agents (no flow on this number): it is queued, not left unseen.
    let answered = app.get("/api/v1/conversations?contact_wa_id=5511944440001", admin).await.expect(200);
    assert_eq!(answered.body["items"][0]["status"], "queued", "{}", answered.body);
    let p = progress(&app, admin, &id).await;
    assert_eq!((p["total"].as_i64(), p["skipped"].as_i64(), p["failed"].as_i64()), (Some(5), Some(2), Some(0)), "{p}");
    eventually("completion", || async {
        app.get(&format!("/api/v1/campaigns/{id}"), admin).await.expect(200).body["status"] == "completed"
    })
    .await;
    assert_eq!(app.get(&format!("/api/v1/analytics/campaigns/{id}"), admin).await.expect(200).body["read"], 3);
    let each = app.get(&format!("/api/v1/campaigns/{id}/recipients"), admin).await.expect(200).body;
    let mut statuses: Vec<(String, String)> = each["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["wa_id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        ["read", "read", "skipped", "skipped", "read"],
        "{each}"
    );
    // Never twice: the runner keeps ticking, nothing more goes out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(fake.accepted().len(), 3);

    run_matrix(
        &app,
        &t,
        &[
            case(Method::GET, "/api/v1/campaigns", None, READERS_NO_AGENT),
            case(Method::GET, format!("/api/v1/campaigns/{id}/progress"), None, READERS_NO_AGENT),
            case(Method::POST, "/api/v1/campaigns", Some(body(json!(["x"]))), ADMINS),
        ],
    )
    .await;
    let other = app.tenant("campaigns-other").await;
    assert_cross_tenant_404(
        &app,
        &other,
        &[
            (Method::GET, format!("/api/v1/campaigns/{id}"), None),
            (Method::GET, format!("/api/v1/campaigns/{id}/progress"), None),
            (Method::POST, format!("/api/v1/campaigns/{id}/start"), Some(json!({}))),
            (Method::POST, format!("/api/v1/campaigns/{id}/pause"), Some(json!({}))),
            (Method::POST, format!("/api/v1/campaigns/{id}/resume"), Some(json!({}))),
            (Method::POST, format!("/api/v1/campaigns/{id}/cancel"), Some(json!({}))),
        ],
    )
    .await;
}

#[actix_web::test]
async fn a_scheduled_campaign_can_be_paused_resumed_or_cancelled() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("campaigns-schedule").await;
    let admin = &t.admin.token;
    let (number, template) = approved_template(&app, admin).await;
    let ana = contact(&app, admin, "5511955550001", "Ana", None).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let make = |name: &str| {
        json!({"name": name, "number_id": number, "template_id": template, "audience": {"contact_ids": [ana]},
               "parameters": ["{{contact.name}}"], "scheduled_at": later})
    };
    let a = app.post("/api/v1/campaigns", admin, make("A")).await.expect(201).body["id"].as_str().unwrap().to_string();
    let started = app.post(&format!("/api/v1/campaigns/{a}/start"), admin, json!({})).await.expect(200);
    assert_eq!(started.body["status"], "scheduled");
    let paused = app.post(&format!("/api/v1/campaigns/{a}/pause"), admin, json!({})).await.expect(200);
    assert_eq!(paused.body["status"], "paused");
    app.post(&format!("/api/v1/campaigns/{a}/pause"), admin, json!({})).await.expect(409);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(fake.accepted().is_empty(), "a paused campaign sends nothing");
    // Resumed, it runs at once.
    let resumed = app.post(&format!("/api/v1/campaigns/{a}/resume"), admin, json!({})).await.expect(200);
    assert_eq!(resumed.body["status"], "running");
    fake.wait_accepted(1, Duration::from_secs(10)).await.expect("sent after resume");

    let b = app.post("/api/v1/campaigns", admin, make("B")).await.expect(201).body["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/campaigns/{b}/start"), admin, json!({})).await.expect(200);
    let cancelled = app.post(&format!("/api/v1/campaigns/{b}/cancel"), admin, json!({})).await.expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(progress(&app, admin, &b).await["cancelled"], 1);
    app.post(&format!("/api/v1/campaigns/{b}/resume"), admin, json!({})).await.expect(409);

    // A CSV adds contacts to a draft's audience (created or updated as by the contacts import).
    let c = app.post("/api/v1/campaigns", admin, make("C")).await.expect(201).body["id"].as_str().unwrap().to_string();
    let upload = |campaign: String, csv: &'static str| {
        let req = app
            .client
            .post(app.url(&format!("/api/v1/campaigns/{campaign}/audience")))
            .bearer_auth(admin)
            .header("content-type", "text/csv")
            .body(csv);
        async move { Reply::from(req.send().await.unwrap()).await }
    };
    let r = upload(c.clone(), "wa_id,name\n5511955550002,Bia\n5511955550003,Cid\nbad,Nope\n").await.expect(200);
    assert_eq!(r.body["contacts_in_audience"], 3, "{}", r.body);
    assert_eq!(r.body["import"]["failed"], 1);
    app.post(&format!("/api/v1/campaigns/{c}/start"), admin, json!({})).await.expect(200);
    assert_eq!(progress(&app, admin, &c).await["total"], 3);
    upload(c.clone(), "wa_id\n5511955550004\n").await.expect(409);
    app.post(&format!("/api/v1/campaigns/{c}/cancel"), admin, json!({})).await.expect(200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.accepted().len(), 1, "the cancelled campaign sent nothing");
}

#[actix_web::test]
async fn a_campaign_resumes_after_a_restart_without_sending_twice() {
    let fake = FakeGraph::start().unwrap();
    let (dir, settings, password, first) = restartable(&fake).await;
    let t = first.tenant("campaigns-restart").await;
    let admin = t.admin.token.clone();
    let (number, template) = approved_template(&first, &admin).await;
    // Two messages a second: one recipient per half-second tick.
    first
        .put(&format!("/api/v1/whatsapp/numbers/{number}"), &admin, json!({"messages_per_second": 2}))
        .await
        .expect(200);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(contact(&first, &admin, &format!("55119666600{i:02}"), &format!("C{i}"), None).await);
    }
    let id = first
        .post("/api/v1/campaigns", &admin, json!({"name": "Slow", "number_id": number, "template_id": template,
                                                  "audience": {"contact_ids": ids}, "parameters": ["{{contact.name}}"]}))
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    first.post(&format!("/api/v1/campaigns/{id}/start"), &admin, json!({})).await.expect(200);
    fake.wait_accepted(2, Duration::from_secs(10)).await.expect("the campaign is under way");
    // The server stops mid-campaign.
    first.state.db.close().await;
    drop(first);
    let sent_before = fake.accepted().len();
    assert!(sent_before < 8, "stopped before the end ({sent_before} sent)");

    let second = spawn_app_in(dir, settings, password).await;
    fake.wait_accepted(8, Duration::from_secs(20)).await.expect("the rest went out after the restart");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut recipients: Vec<String> = fake.accepted().iter().map(|r| r.recipient()).collect();
    assert_eq!(recipients.len(), 8, "nobody got it twice");
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 8);
    let token = second.token(&t.admin.email, &t.admin.password).await;
    eventually("completion", || async {
        second.get(&format!("/api/v1/campaigns/{id}"), &token).await.expect(200).body["status"] == "completed"
    })
    .await;
}
