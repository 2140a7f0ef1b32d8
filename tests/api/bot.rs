//! End to end, from a signed webhook to the fake Graph API: flows answering customers (questions with
//! validation and retries, conditions, API calls to a local server, handoffs, buttons and lists,
//! jumps with variables, timers that survive a restart), the 24-hour window, and flow versions.

use crate::helpers::*;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A local HTTP API a flow calls: `POST /score` answers `{score: size / 2}` and records the body.
struct ScoreApi {
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for ScoreApi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn score_api() -> ScoreApi {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = received.clone();
    let server = HttpServer::new(move || {
        let store = store.clone();
        App::new().route(
            "/score",
            web::post().to(move |body: web::Json<Value>| {
                let store = store.clone();
                async move {
                    let size: i64 =
                        body["size"].as_str().and_then(|s| s.parse().ok()).or(body["size"].as_i64()).unwrap_or(0);
                    store.lock().unwrap().push(body.into_inner());
                    HttpResponse::Ok()
                        .json(json!({"score": size / 2, "tier": if size >= 100 { "enterprise" } else { "smb" }}))
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    ScoreApi { port, received, handle }
}

fn lead_flow(api_port: u16) -> (Value, Value) {
    let nodes = json!([
        node("s", "start", json!({})),
        node("welcome", "message", json!({"messageText": "Hi {{contact.name}}! Let's get you a quote."})),
        node(
            "q_email",
            "question",
            json!({"questionText": "What is your work email?", "responseType": "email",
            "outputVariable": "email", "validation": {"maxAttempts": 2, "errorMessage": "That does not look like an email."}})
        ),
        node(
            "q_size",
            "question",
            json!({"questionText": "How many employees?", "responseType": "number", "variableName": "size"})
        ),
        node(
            "api",
            "api_call",
            json!({"method": "POST", "url": format!("http://127.0.0.1:{api_port}/score"),
            "body": {"email": "{{email}}", "size": "{{size}}"}, "responseVariable": "lead",
            "mappings": [{"variable": "score", "pointer": "/score"}]})
        ),
        node(
            "cond",
            "condition",
            json!({"branches": [{"id": "hot", "conditions": [{"variable": "score", "operator": ">=", "value": 50}]}]})
        ),
        node(
            "hot",
            "handoff",
            json!({"handoffType": "queue", "priority": "high", "transferMessage": "Connecting you to sales.",
            "contextMessage": "Lead {{email}} ({{lead.body.tier}}) score {{score}}"})
        ),
        node("cold", "end", json!({"content": "Thanks! We will email you at {{email}}.", "close": true})),
        node("sorry", "end", json!({"content": "Our system is down, try later."})),
        node("human", "handoff", json!({"transferMessage": "Let me get a human to help."}))
    ]);
    let edges = edges(&[
        "s->welcome",
        "welcome->q_email",
        "q_email->q_size",
        "q_email:invalid->human",
        "q_size->api",
        "api:success->cond",
        "api:error->sorry",
        "cond:hot->hot",
        "cond:default->cold",
    ]);
    (nodes, edges)
}

async fn conversation_of(app: &TestApp, token: &str, contact: &str) -> Value {
    app.conversations(token)
        .await
        .into_iter()
        .find(|c| c["contact"]["wa_id"] == contact)
        .expect("the contact's conversation")
}

#[actix_web::test]
async fn a_lead_qualification_flow_validates_calls_an_api_branches_and_hands_off() {
    let fake = FakeGraph::start().unwrap();
    let api = score_api().await;
    let allowed = format!("127.0.0.1:{}", api.port);
    let app = spawn_with_graph(&fake, &[("PYTAKE__FLOWS__API_ALLOWED_HOSTS", &allowed)]).await;
    let t = app.tenant("leads").await;
    let (nodes, edges) = lead_flow(api.port);
    app.bot(&t.admin.token, PNID, nodes, edges).await;

    // A hot lead: one wrong email (retried), then valid answers; the API scores it; handed off.
    let hot = "5511900000001";
    app.say(PNID, hot, "hello").await;
    assert_eq!(bot_says(&fake, hot, 2).await, ["Hi Tester! Let's get you a quote.", "What is your work email?"]);
    app.say(PNID, hot, "not an email").await;
    assert_eq!(bot_says(&fake, hot, 3).await[2], "That does not look like an email.");
    app.say(PNID, hot, "ana@acme.example").await;
    assert_eq!(bot_says(&fake, hot, 4).await[3], "How many employees?");
    app.say(PNID, hot, "120").await;
    assert_eq!(bot_says(&fake, hot, 5).await[4], "Connecting you to sales.");
    assert_eq!(api.received.lock().unwrap().clone(), [json!({"email": "ana@acme.example", "size": 120})]);
    app.drained().await;
    let conv = conversation_of(&app, &t.admin.token, hot).await;
    assert_eq!(conv["status"], "queued");
    assert_eq!(conv["is_bot_active"], false);
    assert_eq!(conv["priority"], json!(80), "high priority: {conv}");
    assert_eq!(conv["handoff_note"], "Lead ana@acme.example (enterprise) score 60");
    // Every send carried the number's token, to the number's phone_number_id.
    assert!(fake.accepted().iter().all(|r| r.token.as_deref() == Some(ACCESS_TOKEN) && r.phone_number_id == PNID));

    // After the handoff the bot is off: the contact's next message goes to the agents only.
    app.say(PNID, hot, "are you there?").await;
    app.drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.accepted().iter().filter(|r| r.recipient() == hot).count(), 5, "the bot stays silent");

    // A cold lead: the flow ends and closes the conversation.
    let cold = "5511900000002";
    app.say(PNID, cold, "hi").await;
    bot_says(&fake, cold, 2).await;
    app.say(PNID, cold, "bo@small.example").await;
    bot_says(&fake, cold, 3).await;
    app.say(PNID, cold, "10").await;
    assert_eq!(bot_says(&fake, cold, 4).await[3], "Thanks! We will email you at bo@small.example.");
    app.drained().await;
    let convs = app.get("/api/v1/conversations?status=closed", &t.admin.token).await.expect(200);
    assert!(convs.body["items"].as_array().unwrap().iter().any(|c| c["contact"]["wa_id"] == cold));

    // Attempts run out: the `invalid` exit hands off.
    let lost = "5511900000003";
    app.say(PNID, lost, "hi").await;
    bot_says(&fake, lost, 2).await;
    app.say(PNID, lost, "nope").await;
    bot_says(&fake, lost, 3).await;
    app.say(PNID, lost, "still nope").await;
    assert_eq!(bot_says(&fake, lost, 4).await[3], "Let me get a human to help.");
    app.drained().await;
    assert_eq!(conversation_of(&app, &t.admin.token, lost).await["is_bot_active"], false);

    // The API failing takes the error exit.
    drop(api);
    let down = "5511900000004";
    app.say(PNID, down, "hi").await;
    bot_says(&fake, down, 2).await;
    app.say(PNID, down, "cy@down.example").await;
    bot_says(&fake, down, 3).await;
    app.say(PNID, down, "300").await;
    assert_eq!(bot_says(&fake, down, 4).await[3], "Our system is down, try later.");
}

#[actix_web::test]
async fn buttons_and_lists_branch_on_the_chosen_id_or_a_typed_title() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("menus").await;
    let nodes = json!([
        node("s", "start", json!({})),
        node(
            "b",
            "interactive_buttons",
            json!({"bodyText": "Sales or support?", "buttons": [
            {"id": "sales", "title": "Sales"}, {"id": "support", "title": "Support"}], "variableName": "dept"})
        ),
        node(
            "l",
            "interactive_list",
            json!({"bodyText": "Which product?", "buttonText": "Products", "sections": [
            {"title": "Plans", "rows": [{"id": "basic", "title": "Basic"}, {"id": "pro", "title": "Pro", "description": "For teams"}]}],
            "variableName": "plan"})
        ),
        node("basic", "end", json!({"content": "Basic it is ({{dept}})."})),
        node("pro", "end", json!({"content": "Pro it is ({{plan_title}})."})),
        node("support", "end", json!({"content": "Support will call you."}))
    ]);
    let edges = edges(&["s->b", "b:sales->l", "b:support->support", "l:basic->basic", "l:pro->pro"]);
    app.bot(&t.admin.token, PNID, nodes, edges).await;

    let a = "5511911110001";
    app.say(PNID, a, "menu").await;
    bot_says(&fake, a, 1).await;
    let sent = fake.accepted();
    let buttons = &sent.iter().find(|r| r.recipient() == a).unwrap().body;
    assert_eq!(buttons["type"], "interactive");
    assert_eq!(buttons["interactive"]["type"], "button");
    assert_eq!(buttons["interactive"]["action"]["buttons"][1]["reply"], json!({"id": "support", "title": "Support"}));
    app.tap(PNID, a, "sales", "Sales").await;
    bot_says(&fake, a, 2).await;
    let list = fake.accepted().into_iter().filter(|r| r.recipient() == a).nth(1).unwrap().body;
    assert_eq!(list["interactive"]["type"], "list");
    assert_eq!(list["interactive"]["action"]["button"], "Products");
    assert_eq!(list["interactive"]["action"]["sections"][0]["rows"][1]["id"], "pro");
    app.pick(PNID, a, "pro", "Pro").await;
    assert_eq!(bot_says(&fake, a, 3).await[2], "Pro it is (Pro).");

    // Typing a button's title counts as choosing it; so does a row's title.
    let b = "5511911110002";
    app.say(PNID, b, "menu").await;
    bot_says(&fake, b, 1).await;
    app.say(PNID, b, "sales").await;
    bot_says(&fake, b, 2).await;
    app.say(PNID, b, "basic").await;
    assert_eq!(bot_says(&fake, b, 3).await[2], "Basic it is (sales).");

    let c = "5511911110003";
    app.say(PNID, c, "menu").await;
    bot_says(&fake, c, 1).await;
    app.tap(PNID, c, "support", "Support").await;
    assert_eq!(bot_says(&fake, c, 2).await[1], "Support will call you.");
}

#[actix_web::test]
async fn a_flow_jumps_to_another_flow_passing_variables() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("jumps").await;
    let billing = app
        .published_flow(
            &t.admin.token,
            "Billing",
            json!([
                node("s", "start", json!({})),
                node("m", "message", json!({"content": "Billing for order {{order}} ({{contact.name}})."})),
                node("e", "end", json!({}))
            ]),
            edges(&["s->m", "m->e"]),
            json!({}),
        )
        .await;
    let nodes = json!([
        node("s", "start", json!({})),
        node(
            "q",
            "question",
            json!({"content": "Order number?", "responseType": "number", "variableName": "order_no"})
        ),
        node(
            "j",
            "jump",
            json!({"jumpType": "flow", "targetFlowId": billing, "variableMapping": {"order": "{{order_no}}"}})
        )
    ]);
    app.bot(&t.admin.token, PNID, nodes, edges(&["s->q", "q->j"])).await;
    let contact = "5511922220001";
    app.say(PNID, contact, "hi").await;
    bot_says(&fake, contact, 1).await;
    app.say(PNID, contact, "4521").await;
    assert_eq!(bot_says(&fake, contact, 2).await[1], "Billing for order 4521 (Tester).");
    app.drained().await;
    let conv = conversation_of(&app, &t.admin.token, contact).await;
    assert_eq!(conv["flow_id"], json!(billing), "the conversation now runs the billing flow");
}

#[actix_web::test]
async fn a_question_timeout_fires_after_a_restart() {
    let fake = FakeGraph::start().unwrap();
    let (dir, settings, password, first) = restartable(&fake).await;
    let t = first.tenant("timers").await;
    let nodes = json!([
        node("s", "start", json!({})),
        node("q", "question", json!({"content": "Your name?", "variableName": "name", "timeoutSeconds": 2})),
        node("thanks", "end", json!({"content": "Thanks {{name}}"})),
        node("late", "end", json!({"content": "Still there? Write to us any time."}))
    ]);
    first.bot(&t.admin.token, PNID, nodes, edges(&["s->q", "q->thanks", "q:timeout->late"])).await;
    let contact = "5511933330001";
    first.say(PNID, contact, "hi").await;
    assert_eq!(bot_says(&fake, contact, 1).await, ["Your name?"]);
    first.drained().await;
    // Stop the server before the timer is due.
    first.state.db.close().await;
    drop(first);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let second = spawn_app_in(dir, settings, password).await;
    assert_eq!(bot_says(&fake, contact, 2).await[1], "Still there? Write to us any time.");
    second.drained().await;
    let token = second.token(&t.admin.email, &t.admin.password).await;
    let timers = second.scalar("SELECT COUNT(*) FROM timers WHERE state = 'pending'").await;
    assert_eq!(timers, 0, "the timer fired once and is done");
    assert_eq!(second.conversations(&token).await.len(), 1);
}

#[actix_web::test]
async fn a_delay_waits_without_blocking_and_a_running_conversation_keeps_its_version() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("versions").await;
    let nodes = |greeting: &str| {
        json!([
            node("s", "start", json!({})),
            node("hi", "message", json!({"content": greeting})),
            node("d", "delay", json!({"delaySeconds": 1})),
            node("q", "question", json!({"content": "Anything else?", "variableName": "more"})),
            node("bye", "end", json!({"content": "Bye"}))
        ])
    };
    let flow_edges = edges(&["s->hi", "hi->d", "d->q", "q->bye"]);
    let bot = app.bot(&t.admin.token, PNID, nodes("Hello from v1"), flow_edges.clone()).await;
    let first = "5511944440001";
    app.say(PNID, first, "hi").await;
    assert_eq!(bot_says(&fake, first, 1).await, ["Hello from v1"]);
    // Publish v2 while the first conversation waits in its delay.
    let flow = format!("/api/v1/flows/{}", bot.flow_id);
    app.put(&flow, &t.admin.token, json!({"nodes": nodes("Hello from v2")})).await.expect(200);
    let v2 = app.post(&format!("{flow}/publish"), &t.admin.token, json!({})).await.expect(201);
    assert_eq!(v2.body["version"], 2);
    let versions = app.get(&format!("{flow}/versions"), &t.admin.token).await.expect(200);
    assert_eq!(versions.body.as_array().unwrap().len(), 2);

    // The delay fires (a stored timer), then the first conversation continues on v1.
    assert_eq!(bot_says(&fake, first, 2).await[1], "Anything else?");
    let second = "5511944440002";
    app.say(PNID, second, "hi").await;
    assert_eq!(bot_says(&fake, second, 1).await, ["Hello from v2"], "a new conversation starts on v2");
    app.drained().await;
    let c1 = conversation_of(&app, &t.admin.token, first).await;
    let c2 = conversation_of(&app, &t.admin.token, second).await;
    assert_ne!(c1["flow_version_id"], c2["flow_version_id"]);
    assert_eq!(c2["flow_version_id"], v2.body["id"]);
}

#[actix_web::test]
async fn keywords_pick_the_chatbot_and_an_inactive_bot_is_skipped() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("keywords").await;
    let token = &t.admin.token;
    let number = app.sending_number(token, PNID).await;
    let reply = |text: &str| json!([node("s", "start", json!({})), node("m", "end", json!({"content": text}))]);
    let sales = app.published_flow(token, "Sales", reply("Sales here"), edges(&["s->m"]), json!({})).await;
    let general = app.published_flow(token, "General", reply("General here"), edges(&["s->m"]), json!({})).await;
    let promo = app.published_flow(token, "Promo", reply("Promo here"), edges(&["s->m"]), json!({})).await;
    app.post(
        "/api/v1/chatbots",
        token,
        json!({"name": "Sales", "number_ids": [number], "main_flow_id": sales,
        "triggers": {"keywords": ["buy", "price list"]}}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/chatbots",
        token,
        json!({"name": "General", "number_ids": [number], "main_flow_id": general,
        "triggers": {"default": true}}),
    )
    .await
    .expect(201);
    let inactive = app
        .post(
            "/api/v1/chatbots",
            token,
            json!({"name": "Promo", "number_ids": [number], "main_flow_id": promo,
            "triggers": {"keywords": ["promo"]}, "is_active": false}),
        )
        .await
        .expect(201);
    assert_eq!(inactive.body["is_active"], false);

    app.say(PNID, "5511955550001", "I want to BUY now").await;
    app.say(PNID, "5511955550002", "send me the price list please").await;
    app.say(PNID, "5511955550003", "good morning").await;
    app.say(PNID, "5511955550004", "promo").await;
    assert_eq!(bot_says(&fake, "5511955550001", 1).await, ["Sales here"]);
    assert_eq!(bot_says(&fake, "5511955550002", 1).await, ["Sales here"]);
    assert_eq!(bot_says(&fake, "5511955550003", 1).await, ["General here"]);
    assert_eq!(bot_says(&fake, "5511955550004", 1).await, ["General here"], "an inactive bot does not answer");
}

#[actix_web::test]
async fn outside_the_window_a_flow_sends_its_template_instead() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("window").await;
    let nodes = json!([
        node("s", "start", json!({})),
        node("d", "delay", json!({"delaySeconds": 1})),
        node("m", "message", json!({"content": "Your order shipped"}))
    ]);
    let settings = json!({"window_expiry": {"action": "send_template", "template_name": "order_update", "template_language": "en_US"}});
    app.bot_with_settings(&t.admin.token, PNID, nodes, edges(&["s->d", "d->m"]), settings).await;
    let contact = "5511966660001";
    app.say(PNID, contact, "hi").await;
    app.drained().await;
    // Close the window behind the bot's back (as 24 hours passing would).
    app.exec_sql(
        "UPDATE conversations SET window_expires_at = '2020-01-01T00:00:00Z', version = version + 1",
        "UPDATE conversations SET window_expires_at = '2020-01-01T00:00:00Z', version = version + 1",
    )
    .await;
    let sent = bot_says(&fake, contact, 1).await;
    assert_eq!(sent, ["order_update"], "the template goes instead of free text");
    let body = fake.accepted().into_iter().find(|r| r.recipient() == contact).unwrap().body;
    assert_eq!(body["template"]["language"]["code"], "en_US");
}
