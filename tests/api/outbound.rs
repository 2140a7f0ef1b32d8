//! Agent and API sends through the outbox to the fake Graph API: payloads as Meta expects them,
//! idempotency, the 24-hour window, statuses coming back, and every Graph error class (retried,
//! held per recipient, paused per number, failed with its reason, the number flagged for 190).

use crate::helpers::*;
use crate::matrix::assert_cross_tenant_404;
use pytake_actors::runtime::org::Subscribe;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The contact writes first (opening the window); returns the conversation id.
async fn open_conversation(app: &TestApp, token: &str, contact: &str) -> String {
    app.say(PNID, contact, "hi").await;
    app.drained().await;
    let convs = app.conversations(token).await;
    convs.iter().find(|c| c["contact"]["wa_id"] == contact).expect("conversation")["id"].as_str().unwrap().to_string()
}

async fn send(app: &TestApp, token: &str, conversation: &str, body: Value) -> Reply {
    app.post(&format!("/api/v1/conversations/{conversation}/messages"), token, body).await
}

async fn message(app: &TestApp, token: &str, conversation: &str, id: &str) -> Value {
    app.messages(token, conversation).await.into_iter().find(|m| m["id"] == id).expect("message")
}

/// Waits until the message reaches `status`; returns it.
async fn message_reaches(app: &TestApp, token: &str, conversation: &str, id: &str, status: &str) -> Value {
    for _ in 0..500 {
        let m = message(app, token, conversation, id).await;
        if m["status"] == status {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("message {id} never reached {status}: {}", message(app, token, conversation, id).await);
}

fn requests_to(fake: &FakeGraph, contact: &str) -> Vec<Recorded> {
    fake.requests().into_iter().filter(|r| r.recipient() == contact).collect()
}

/// Collects the organization's events as (type, data).
async fn events(app: &TestApp, org: &str) -> Arc<Mutex<Vec<(String, Value)>>> {
    #[allow(clippy::disallowed_methods)]
    let org = pytake_actors::OrgId::assume_verified(org.parse().unwrap());
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let sink = seen.clone();
    app.state
        .registry
        .org(org)
        .send(Subscribe {
            id: uuid::Uuid::now_v7(),
            sink: Arc::new(move |e| {
                sink.lock().unwrap().push((e.event_type.to_string(), e.data.clone()));
                true
            }),
            after_seq: None,
        })
        .await
        .unwrap()
        .unwrap();
    seen
}

#[actix_web::test]
async fn agent_sends_go_out_as_meta_expects_and_statuses_come_back() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    fake.set_status_webhook(Some(StatusWebhook::new(app.url("/api/v1/webhooks/meta"), APP_SECRET)));
    let t = app.tenant("send").await;
    app.sending_number(&t.admin.token, PNID).await;
    let contact = "5511977770001";
    let conv = open_conversation(&app, &t.admin.token, contact).await;
    let seen = events(&app, &t.org_id).await;

    let sent = send(&app, &t.agent.token, &conv, json!({"type": "text", "text": "Hello from Ana", "client_id": "c-1"}))
        .await
        .expect(201);
    let id = sent.body["id"].as_str().unwrap().to_string();
    assert_eq!(sent.body["status"], "pending");
    assert_eq!(sent.body["sender_type"], "agent");
    assert_eq!(sent.body["sender_user_id"], json!(t.agent.id));
    let got = fake.wait_accepted(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got[0].body["to"], format!("+{contact}"));
    assert_eq!(got[0].body["text"]["body"], "Hello from Ana");
    assert_eq!(got[0].body["biz_opaque_callback_data"], json!(id));
    assert_eq!(got[0].token.as_deref(), Some(ACCESS_TOKEN));
    // Meta's statuses (sent, delivered, read) find the message by its wamid.
    let read = message_reaches(&app, &t.admin.token, &conv, &id, "read").await;
    assert_eq!(read["wamid"].as_str(), got[0].wamid.as_deref());
    assert!(read["sent_at"].is_string() && read["delivered_at"].is_string() && read["read_at"].is_string());
    assert!(seen.lock().unwrap().iter().any(|(kind, data)| kind == "message.created" && data["id"] == json!(id)));

    // The same client_id again: the first message, nothing sent twice.
    let again =
        send(&app, &t.agent.token, &conv, json!({"type": "text", "text": "Hello from Ana", "client_id": "c-1"}))
            .await
            .expect(200);
    assert_eq!(again.body["id"], json!(id));

    // A template (allowed any time) and media by link.
    send(
        &app,
        &t.agent.token,
        &conv,
        json!({"type": "template", "template": {"name": "order_update", "language": "en_US", "parameters": ["#1234"]}}),
    )
    .await
    .expect(201);
    send(
        &app,
        &t.agent.token,
        &conv,
        json!({"type": "image", "media": {"link": "https://cdn.example/p.png", "caption": "Your product"}}),
    )
    .await
    .expect(201);
    send(&app, &t.agent.token, &conv, json!({"type": "document", "media": {"id": "1013", "filename": "invoice.pdf"}}))
        .await
        .expect(201);
    let got = fake.wait_accepted(4, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        got[1].body["template"],
        json!({"name": "order_update", "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "#1234"}]}]})
    );
    assert_eq!(got[2].body["image"], json!({"link": "https://cdn.example/p.png", "caption": "Your product"}));
    assert_eq!(got[3].body["document"], json!({"id": "1013", "filename": "invoice.pdf"}));

    // Bad requests: a clear 422 naming the field, and nothing stored or sent.
    let before = app.messages(&t.admin.token, &conv).await.len();
    for (body, field) in [
        (json!({"type": "fax"}), "type"),
        (json!({"type": "text"}), "text"),
        (json!({"type": "text", "text": ""}), "text"),
        (json!({"type": "image", "media": {"link": "https://x.example/a.png", "id": "1"}}), "media"),
        (json!({"type": "image", "media": {"link": "ftp://x.example/a.png"}}), "media.link"),
        (json!({"type": "audio", "media": {"id": "1", "caption": "no"}}), "media.caption"),
        (json!({"type": "template", "template": {"name": "x"}}), "template.language"),
        (json!({"type": "text", "text": "x", "urgent": true}), "urgent"),
    ] {
        let r = send(&app, &t.agent.token, &conv, body.clone()).await.expect(422);
        let fields: Vec<&str> = r.body["error"]["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {fields:?}");
    }
    assert_eq!(app.messages(&t.admin.token, &conv).await.len(), before);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.accepted().len(), 4);

    // A viewer cannot send; another tenant gets a 404.
    send(&app, &t.viewer.token, &conv, json!({"type": "text", "text": "x"})).await.expect(403);
    let other = app.tenant("send-other").await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    assert_cross_tenant_404(&app, &other, &[(Method::POST, path, Some(json!({"type": "text", "text": "x"})))]).await;
}

#[actix_web::test]
async fn free_form_sends_need_the_window_and_an_open_conversation() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("window-send").await;
    app.sending_number(&t.admin.token, PNID).await;
    let conv = open_conversation(&app, &t.admin.token, "5511977770002").await;
    app.exec_sql(
        "UPDATE conversations SET window_expires_at = '2020-01-01T00:00:00Z', version = version + 1",
        "UPDATE conversations SET window_expires_at = '2020-01-01T00:00:00Z', version = version + 1",
    )
    .await;
    let r = send(&app, &t.agent.token, &conv, json!({"type": "text", "text": "Hi again"})).await.expect(422);
    assert_eq!(r.code(), "window_closed");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("template"));
    send(&app, &t.agent.token, &conv, json!({"type": "image", "media": {"id": "9"}})).await.expect(422);
    send(
        &app,
        &t.agent.token,
        &conv,
        json!({"type": "template", "template": {"name": "reengage", "language": "pt_BR"}}),
    )
    .await
    .expect(201);
    let got = fake.wait_accepted(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["type"], "template");

    app.exec_sql(
        "UPDATE conversations SET status = 'closed', version = version + 1",
        "UPDATE conversations SET status = 'closed', version = version + 1",
    )
    .await;
    let template = json!({"type": "template", "template": {"name": "reengage", "language": "pt_BR"}});
    let r = send(&app, &t.admin.token, &conv, template.clone()).await.expect(409);
    assert_eq!(r.code(), "conversation_closed");
    // An agent who never held it no longer sees it at all.
    send(&app, &t.agent.token, &conv, template).await.expect(404);
}

#[actix_web::test]
async fn each_graph_error_class_is_handled_by_its_code() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[("PYTAKE__OUTBOUND__MAX_ATTEMPTS", "3")]).await;
    fake.set_status_webhook(Some(StatusWebhook::new(app.url("/api/v1/webhooks/meta"), APP_SECRET)));
    let t = app.tenant("graph-errors").await;
    let number = app.sending_number(&t.admin.token, PNID).await;
    let token = t.admin.token.clone();
    let seen = events(&app, &t.org_id).await;

    // Not retried: failed with the reason, one request only, an event pushed.
    for (i, code) in [131047, 131026, 131051, 100].into_iter().enumerate() {
        let contact = format!("55119888800{i:02}");
        let conv = open_conversation(&app, &token, &contact).await;
        fake.inject(Fault::Meta(code), Some(&contact), 1);
        let id = send(&app, &token, &conv, json!({"type": "text", "text": "x"})).await.expect(201).body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let failed = message_reaches(&app, &token, &conv, &id, "failed").await;
        assert_eq!(failed["error"]["code"], code, "{failed}");
        assert!(failed["error"]["title"].as_str().unwrap().contains(&format!("#{code}")));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(requests_to(&fake, &contact).len(), 1, "{code} is not retried");
        let events = seen.lock().unwrap().clone();
        assert!(
            events.iter().any(|(k, d)| k == "message.status"
                && d["message_id"] == json!(id)
                && d["status"] == "failed"
                && d["error"]["code"] == code),
            "{code}: a failed event"
        );
    }

    // Retried with backoff until accepted: temporary errors, a proxy's 502, the number's
    // throughput (130429), and a timeout (the fake answers after the client gave up).
    for (i, fault) in [Fault::Meta(131000), Fault::Http(502), Fault::Meta(130429), Fault::Slow(Duration::from_secs(3))]
        .into_iter()
        .enumerate()
    {
        let contact = format!("55119777700{i:02}");
        let conv = open_conversation(&app, &token, &contact).await;
        fake.inject(fault.clone(), Some(&contact), 1);
        let id = send(&app, &token, &conv, json!({"type": "text", "text": "retry me"})).await.expect(201).body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let sent = message_reaches(&app, &token, &conv, &id, "read").await;
        let requests = requests_to(&fake, &contact);
        assert_eq!(requests.len(), 2, "{fault:?}: one failure, one success");
        assert_eq!(sent["wamid"].as_str(), requests[1].wamid.as_deref(), "{fault:?}: the accepted attempt's wamid");
    }

    // Retries run out: failed after max_attempts (3).
    let contact = "5511966600001";
    let conv = open_conversation(&app, &token, contact).await;
    fake.inject(Fault::Meta(131000), Some(contact), 10);
    let id = send(&app, &token, &conv, json!({"type": "text", "text": "doomed"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = message_reaches(&app, &token, &conv, &id, "failed").await;
    assert_eq!(failed["error"]["code"], 131000);
    assert_eq!(requests_to(&fake, contact).len(), 3);

    // Accepted, then failed asynchronously by a status webhook.
    let contact = "5511966600002";
    let conv = open_conversation(&app, &token, contact).await;
    fake.inject(Fault::FailedStatus(131047), Some(contact), 1);
    let id = send(&app, &token, &conv, json!({"type": "text", "text": "late failure"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = message_reaches(&app, &token, &conv, &id, "failed").await;
    assert_eq!(failed["error"]["code"], 131047);
    assert!(failed["wamid"].is_string());

    // 190: the token is rejected; the message fails, the number is flagged, sends are refused
    // until a new token is saved.
    let contact = "5511966600003";
    let conv = open_conversation(&app, &token, contact).await;
    fake.revoke_token(ACCESS_TOKEN);
    let id = send(&app, &token, &conv, json!({"type": "text", "text": "x"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = message_reaches(&app, &token, &conv, &id, "failed").await;
    assert_eq!(failed["error"]["code"], 190);
    let flagged = app.get(&format!("/api/v1/whatsapp/numbers/{number}"), &token).await.expect(200);
    assert!(flagged.body["token_invalid_at"].is_string(), "{}", flagged.body);
    let r = send(&app, &token, &conv, json!({"type": "text", "text": "again"})).await.expect(409);
    assert_eq!(r.code(), "number_token_invalid");
    app.put(&format!("/api/v1/whatsapp/numbers/{number}"), &token, json!({"access_token": "EAAG-new-token"}))
        .await
        .expect(200);
    let id = send(&app, &token, &conv, json!({"type": "text", "text": "works again"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    message_reaches(&app, &token, &conv, &id, "read").await;
    assert_eq!(requests_to(&fake, contact).last().unwrap().token.as_deref(), Some("EAAG-new-token"));
}

#[actix_web::test]
async fn a_pair_rate_error_holds_that_recipient_only_and_keeps_its_order() {
    let fake = FakeGraph::start().unwrap();
    // Meta's 4^X seconds scaled to 2 s for the first retry: long enough to see others go first.
    let app = spawn_with_graph(&fake, &[("PYTAKE__OUTBOUND__BACKOFF_SCALE", "0.5")]).await;
    let t = app.tenant("pair-rate").await;
    app.sending_number(&t.admin.token, PNID).await;
    let token = t.admin.token.clone();
    let (p, q) = ("5511955500001", "5511955500002");
    let conv_p = open_conversation(&app, &token, p).await;
    let conv_q = open_conversation(&app, &token, q).await;
    fake.inject(Fault::Meta(131056), Some(p), 1);
    send(&app, &token, &conv_p, json!({"type": "text", "text": "P1"})).await.expect(201);
    send(&app, &token, &conv_p, json!({"type": "text", "text": "P2"})).await.expect(201);
    send(&app, &token, &conv_q, json!({"type": "text", "text": "Q1"})).await.expect(201);
    let accepted = fake.wait_accepted(3, Duration::from_secs(15)).await.unwrap();
    let order: Vec<String> = accepted.iter().map(Recorded::text).collect();
    assert_eq!(order, ["Q1", "P1", "P2"], "Q is not held; P's messages keep their order");
    let to_p: Vec<(String, Option<i64>)> = requests_to(&fake, p).iter().map(|r| (r.text(), r.error_code)).collect();
    assert_eq!(to_p, [("P1".to_string(), Some(131056)), ("P1".to_string(), None), ("P2".to_string(), None)]);
    let gap = accepted[1].received_at.duration_since(requests_to(&fake, p)[0].received_at);
    assert!(gap >= Duration::from_millis(1500), "P waited out its hold ({gap:?})");
}
