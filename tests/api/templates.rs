//! Message templates: local drafts, submission to Meta (the fake), review by webhook, sync of
//! status and quality, and the checks before a template is sent.

use crate::helpers::*;
use crate::matrix::{ADMINS, ALL, assert_cross_tenant_404, case, run_matrix};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn order_update() -> Value {
    json!({"name": "order_update", "language": "pt_BR", "category": "UTILITY",
           "components": [{"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} foi enviado."}]})
}

fn review_delivery(meta_id: &str, event: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba-1", "time": 1, "changes": [{"field": "message_template_status_update",
        "value": {"event": event, "message_template_id": meta_id.parse::<u64>().unwrap(), "message_template_name": "order_update",
                  "message_template_language": "pt_BR", "reason": "NONE"}}]}]})
    .to_string()
}

#[actix_web::test]
async fn templates_are_drafted_submitted_reviewed_synced_and_checked_before_sending() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("templates").await;
    let admin = &t.admin.token;
    let number = app.sending_number(admin, PNID).await;
    let base = format!("/api/v1/whatsapp/numbers/{number}/templates");

    // Without a WABA id the number cannot submit.
    let draft = app.post(&base, admin, order_update()).await.expect(201);
    let id = draft.body["id"].as_str().unwrap().to_string();
    assert_eq!(draft.body["status"], "draft");
    assert_eq!(draft.body["parameters"], json!(["1", "2"]));
    assert_eq!(app.post(&base, admin, order_update()).await.expect(409).code(), "template_exists");
    for (patch, field) in [
        (json!({"name": "Order Update"}), "name"),
        (json!({"category": "PROMO"}), "category"),
        (json!({"components": [{"type": "HEADER", "text": "x"}]}), "components"),
    ] {
        let mut body = order_update();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post(&base, admin, body).await.expect(422);
        assert_eq!(r.body["error"]["details"]["fields"][0]["field"], field);
    }
    let r = app.post(&format!("{base}/{id}/submit"), admin, json!({})).await.expect(409);
    assert_eq!(r.code(), "number_not_configured");
    app.put(&format!("/api/v1/whatsapp/numbers/{number}"), admin, json!({"waba_id": "waba-1"})).await.expect(200);

    let submitted = app.post(&format!("{base}/{id}/submit"), admin, json!({})).await.expect(200);
    assert_eq!(submitted.body["status"], "PENDING");
    let meta_id = submitted.body["meta_template_id"].as_str().unwrap().to_string();
    assert_eq!(fake.templates()[0].name, "order_update");
    app.post(&format!("{base}/{id}/submit"), admin, json!({})).await.expect(409);
    app.put(&format!("{base}/{id}"), admin, order_update()).await.expect(409);

    // Not approved yet: a send is refused before reaching Meta.
    app.say(PNID, "5511922220001", "hi").await;
    app.drained().await;
    let conv = app.conversations(admin).await[0]["id"].as_str().unwrap().to_string();
    let send = |params: Value| json!({"type": "template", "template": {"name": "order_update", "language": "pt_BR", "parameters": params}});
    let path = format!("/api/v1/conversations/{conv}/messages");
    assert_eq!(app.post(&path, admin, send(json!(["Ana", "42"]))).await.expect(422).code(), "template_not_approved");

    // Meta approves by webhook (signed with the app secret of the number of that WABA).
    app.deliver(&review_delivery(&meta_id, "APPROVED"), "wrong-secret").await.expect(401);
    app.deliver(&review_delivery(&meta_id, "APPROVED"), APP_SECRET).await.expect(200);
    let approved = app.get(&format!("{base}/{id}"), admin).await.expect(200);
    assert_eq!(approved.body["status"], "APPROVED");
    let r = app.post(&path, admin, send(json!(["Ana"]))).await.expect(422);
    assert_eq!(r.code(), "template_parameters");
    app.post(&path, admin, send(json!(["Ana", "42"]))).await.expect(201);
    let sent = fake.wait_accepted(1, Duration::from_secs(5)).await.expect("the template went out");
    assert_eq!(sent[0].body["template"]["name"], "order_update");
    assert!(fake.accepted().iter().all(|r| r.body["type"] == "template"));

    // Meta pauses it for quality; another template was made in Meta's manager: sync brings both.
    fake.review_template("order_update", "PAUSED", "RED");
    app.client
        .post(format!("{}/v21.0/waba-1/message_templates", fake.base_url))
        .bearer_auth("x")
        .json(&json!({"name": "welcome", "language": "en_US", "category": "MARKETING", "components": [{"type": "BODY", "text": "Hi"}]}))
        .send()
        .await
        .unwrap();
    let synced = app.post(&format!("{base}/sync"), admin, json!({})).await.expect(200);
    let by_name = |n: &str| synced.body.as_array().unwrap().iter().find(|t| t["name"] == n).cloned().unwrap();
    assert_eq!(by_name("order_update")["status"], "PAUSED");
    assert_eq!(by_name("order_update")["quality_rating"], "RED");
    assert_eq!(by_name("welcome")["status"], "PENDING");
    assert_eq!(app.get(&base, admin).await.expect(200).body["items"].as_array().unwrap().len(), 2);

    run_matrix(
        &app,
        &t,
        &[
            case(Method::GET, base.clone(), None, ALL),
            case(Method::GET, format!("{base}/{id}"), None, ALL),
            case(Method::POST, base.clone(), Some(order_update()), ADMINS),
        ],
    )
    .await;
    let other = app.tenant("templates-other").await;
    assert_cross_tenant_404(
        &app,
        &other,
        &[
            (Method::GET, base.clone(), None),
            (Method::POST, base.clone(), Some(order_update())),
            (Method::GET, format!("{base}/{id}"), None),
            (Method::PUT, format!("{base}/{id}"), Some(order_update())),
            (Method::DELETE, format!("{base}/{id}"), None),
            (Method::POST, format!("{base}/{id}/submit"), Some(json!({}))),
            (Method::POST, format!("{base}/sync"), Some(json!({}))),
        ],
    )
    .await;
    app.delete(&format!("{base}/{id}"), admin).await.expect(204);
    app.get(&format!("{base}/{id}"), admin).await.expect(404);
}
