//! The agent console: departments and queues, the agent socket (auth, visibility, commands,
//! replay and resync, slow consumers, presence), automatic assignment and the REST actions.

use crate::helpers::*;
use crate::matrix::{ADMINS, ALL, WRITERS, assert_cross_tenant_404, case, run_matrix};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket client that remembers every frame it read.
struct Socket {
    ws: Ws,
    seen: Vec<Value>,
    next_id: u32,
}

/// How a socket ended: the close code, if the server sent one.
#[derive(Debug, PartialEq)]
enum Ended {
    Closed(Option<u16>),
    Open,
}

impl Socket {
    async fn open(app: &TestApp) -> Socket {
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/api/v1/ws", app.port)).await.expect("connect");
        Socket { ws, seen: Vec::new(), next_id: 0 }
    }

    /// Opens and authenticates; returns the socket and its `ready` frame.
    async fn connect(app: &TestApp, token: &str, last_seq: Option<u64>) -> (Socket, Value) {
        let mut s = Socket::open(app).await;
        let mut auth = json!({"type": "auth", "token": token});
        if let Some(seq) = last_seq {
            auth["last_seq"] = json!(seq);
        }
        s.send(auth).await;
        let ready = s.wait_for("ready", |f| f["type"] == "ready").await;
        (s, ready)
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.expect("send");
    }

    /// The next JSON frame, or how the socket ended.
    async fn read(&mut self, timeout: Duration) -> Result<Value, Ended> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await;
            match next {
                Err(_) => return Err(Ended::Open),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ended::Closed(None)),
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON frame");
                    self.seen.push(v.clone());
                    return Ok(v);
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Err(Ended::Closed(frame.map(|f| u16::from(f.code)))),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads until a frame matches (10 s at most).
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(f) = self.seen.iter().find(|f| pred(f)) {
            return f.clone();
        }
        loop {
            match self.read(Duration::from_secs(10)).await {
                Ok(f) if pred(&f) => return f,
                Ok(_) => {}
                Err(e) => panic!("waiting for {what}: {e:?}; seen {:?}", self.seen),
            }
        }
    }

    /// Sends a command and returns its `ack` or `error` frame.
    async fn command(&mut self, kind: &str, fields: Value) -> Value {
        self.next_id += 1;
        let id = format!("c-{}", self.next_id);
        let mut frame = fields;
        frame["type"] = json!(kind);
        frame["id"] = json!(id);
        self.send(frame).await;
        self.wait_for(kind, |f| f["id"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error")).await
    }

    /// Reads whatever arrives within `quiet`.
    async fn settle(&mut self, quiet: Duration) {
        while self.read(quiet).await.is_ok() {}
    }

    fn events_about(&self, conversation: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|f| f["data"]["id"] == conversation || f["data"]["conversation_id"] == conversation)
            .collect()
    }
}

/// A department with `agents`, and a queue in it with `strategy`.
async fn department_and_queue(
    app: &TestApp,
    admin: &str,
    name: &str,
    agents: &[&str],
    strategy: &str,
) -> (String, String) {
    let d = app.post("/api/v1/departments", admin, json!({"name": name, "agent_ids": agents})).await.expect(201);
    let dept = d.body["id"].as_str().unwrap().to_string();
    let q = app
        .post(
            "/api/v1/queues",
            admin,
            json!({"name": format!("{name} queue"), "department_id": dept, "strategy": strategy}),
        )
        .await
        .expect(201);
    (dept, q.body["id"].as_str().unwrap().to_string())
}

/// A bot that greets and hands every conversation to `queue`.
async fn handoff_bot(app: &TestApp, admin: &str, queue: &str) {
    let nodes = json!([
        node("s", "start", json!({})),
        node("hi", "message", json!({"messageText": "One moment."})),
        node("h", "handoff", json!({"handoffType": "queue", "queueId": queue})),
    ]);
    app.bot(admin, PNID, nodes, edges(&["s->hi", "hi->h"])).await;
}

async fn queued_conversation(app: &TestApp, admin: &str, contact: &str) -> String {
    app.say(PNID, contact, "hello").await;
    for _ in 0..500 {
        let list = app.get(&format!("/api/v1/conversations?contact_wa_id={contact}"), admin).await.expect(200);
        if let Some(c) = list.body["items"].as_array().and_then(|a| a.first())
            && c["status"] != "open"
        {
            return c["id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{contact}'s conversation was never handed off");
}

/// Waits until the conversation is held by someone; returns who.
async fn holder(app: &TestApp, admin: &str, conversation: &str) -> Value {
    for _ in 0..500 {
        let c = app.get(&format!("/api/v1/conversations/{conversation}"), admin).await.expect(200).body;
        if !c["assigned_agent_id"].is_null() {
            return c["assigned_agent_id"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{conversation} was never assigned");
}

#[actix_web::test]
async fn departments_and_queues_are_validated_role_checked_and_tenant_scoped() {
    let app = spawn_app().await;
    let t = app.tenant("queues").await;
    let admin = &t.admin.token;

    let d =
        app.post("/api/v1/departments", admin, json!({"name": "Sales", "agent_ids": [t.agent.id]})).await.expect(201);
    let dept = d.body["id"].as_str().unwrap().to_string();
    assert_eq!(d.body["agent_ids"], json!([t.agent.id]));
    let r = app
        .post("/api/v1/departments", admin, json!({"name": "X", "agent_ids": [uuid::Uuid::now_v7()]}))
        .await
        .expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "agent_ids[0]");
    app.post("/api/v1/departments", admin, json!({"name": ""})).await.expect(422);

    let q = app
        .post(
            "/api/v1/queues",
            admin,
            json!({"name": "Sales", "department_id": dept, "priority": 70, "sla_minutes": 5}),
        )
        .await
        .expect(201);
    let queue = q.body["id"].as_str().unwrap().to_string();
    assert_eq!(q.body["strategy"], "round_robin");
    assert_eq!(q.body["waiting"], 0);
    for (body, field) in [
        (json!({"name": "Q", "strategy": "random"}), "strategy"),
        (json!({"name": "Q", "priority": 101}), "priority"),
        (json!({"name": "Q", "max_size": 0}), "max_size"),
        (json!({"name": "Q", "department_id": uuid::Uuid::now_v7()}), "department_id"),
        (json!({"name": "Q", "overflow_queue_id": uuid::Uuid::now_v7()}), "overflow_queue_id"),
    ] {
        let r = app.post("/api/v1/queues", admin, body.clone()).await.expect(422);
        assert_eq!(r.body["error"]["details"]["fields"][0]["field"], field, "{body}");
    }
    // An overflow chain that comes back is refused.
    let q2 = app.post("/api/v1/queues", admin, json!({"name": "Spill", "overflow_queue_id": queue})).await.expect(201);
    let spill = q2.body["id"].as_str().unwrap();
    let r = app.put(&format!("/api/v1/queues/{queue}"), admin, json!({"overflow_queue_id": spill})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "overflow_queue_id");
    let u = app
        .put(&format!("/api/v1/queues/{queue}"), admin, json!({"strategy": "least_busy", "sla_minutes": null}))
        .await
        .expect(200);
    assert_eq!(u.body["strategy"], "least_busy");
    assert_eq!(u.body["sla_minutes"], Value::Null);
    assert_eq!(u.body["priority"], 70, "absent fields are kept");
    let listed = app.get(&format!("/api/v1/queues?department_id={dept}"), admin).await.expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let cases = vec![
        case(Method::GET, "/api/v1/departments", None, ALL),
        case(Method::POST, "/api/v1/departments", Some(json!({"name": "M"})), ADMINS),
        case(Method::GET, format!("/api/v1/departments/{dept}"), None, ALL),
        case(Method::PUT, format!("/api/v1/departments/{dept}"), Some(json!({"name": "Sales"})), ADMINS),
        case(Method::GET, "/api/v1/queues", None, ALL),
        case(Method::POST, "/api/v1/queues", Some(json!({"name": "M"})), ADMINS),
        case(Method::GET, format!("/api/v1/queues/{queue}"), None, ALL),
        case(Method::PUT, format!("/api/v1/queues/{queue}"), Some(json!({"name": "Sales"})), ADMINS),
        case(Method::POST, "/api/v1/conversations/take-next", None, WRITERS),
    ];
    run_matrix(&app, &t, &cases).await;

    let other = app.tenant("queues-other").await;
    assert_cross_tenant_404(
        &app,
        &other,
        &[
            (Method::GET, format!("/api/v1/departments/{dept}"), None),
            (Method::PUT, format!("/api/v1/departments/{dept}"), Some(json!({"name": "x"}))),
            (Method::DELETE, format!("/api/v1/departments/{dept}"), None),
            (Method::GET, format!("/api/v1/queues/{queue}"), None),
            (Method::PUT, format!("/api/v1/queues/{queue}"), Some(json!({"name": "x"}))),
            (Method::DELETE, format!("/api/v1/queues/{queue}"), None),
        ],
    )
    .await;
    // B's lists do not show A's.
    let b_queues = app.get("/api/v1/queues", &other.admin.token).await.expect(200);
    assert_eq!(b_queues.body["items"], json!([]));

    app.delete(&format!("/api/v1/departments/{dept}"), admin).await.expect(204);
    let q = app.get(&format!("/api/v1/queues/{queue}"), admin).await.expect(200);
    assert_eq!(q.body["department_id"], Value::Null, "the queue outlives its department");
}

#[actix_web::test]
async fn the_socket_authenticates_by_its_first_frame() {
    let app = spawn_app_with(&[("PYTAKE__LIVE__AUTH_TIMEOUT_SECS", "1")]).await;
    let t = app.tenant("sock-auth").await;

    let mut silent = Socket::open(&app).await;
    assert_eq!(silent.read(Duration::from_secs(5)).await, Err(Ended::Closed(Some(4002))));

    let mut wrong = Socket::open(&app).await;
    wrong.send(json!({"type": "auth", "token": "not-a-jwt"})).await;
    assert_eq!(wrong.read(Duration::from_secs(5)).await, Err(Ended::Closed(Some(4001))));

    let mut not_auth = Socket::open(&app).await;
    not_auth.send(json!({"type": "ping", "id": "1"})).await;
    assert_eq!(not_auth.read(Duration::from_secs(5)).await, Err(Ended::Closed(Some(4001))));

    // A refresh token is not an access token.
    let login = app.login(&t.agent.email, &t.agent.password).await.expect(200);
    let mut refresh = Socket::open(&app).await;
    refresh.send(json!({"type": "auth", "token": login.body["refresh_token"]})).await;
    assert_eq!(refresh.read(Duration::from_secs(5)).await, Err(Ended::Closed(Some(4001))));

    let (mut ok, ready) = Socket::connect(&app, &t.agent.token, None).await;
    assert_eq!(ready["data"]["role"], "agent");
    assert_eq!(ready["data"]["user_id"], t.agent.id.as_str());
    let pong = ok.command("ping", json!({})).await;
    assert_eq!(pong["type"], "ack");
    let unknown = ok.command("fly", json!({})).await;
    assert_eq!(unknown["type"], "error");
    assert_eq!(unknown["code"], "invalid_command");
}

/// A masked client frame (RFC 6455 5.2) with an all-zero mask, written by hand.
fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![if fin { 0x80 | opcode } else { opcode }];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[actix_web::test]
async fn the_socket_handshake_fragments_and_limits_follow_rfc_6455() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let app = spawn_app().await;
    let t = app.tenant("sock-rfc").await;

    // Open sockets are counted in /health/actors while they live.
    assert_eq!(app.actor_health().await["agent_sessions"], 0);
    let (one, _) = Socket::connect(&app, &t.agent.token, None).await;
    let (two, _) = Socket::connect(&app, &t.admin.token, None).await;
    let unauthenticated = Socket::open(&app).await;
    assert_eq!(app.actor_health().await["agent_sessions"], 3);
    drop((one, two, unauthenticated));
    let mut open = Value::Null;
    for _ in 0..50 {
        open = app.actor_health().await["agent_sessions"].clone();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0, "closed sockets are no longer counted");

    // Not a handshake, or a handshake to no socket: errors in the API's model, nothing upgraded.
    let plain = app.get("/api/v1/ws", &t.agent.token).await.expect(400);
    assert_eq!(plain.body["error"]["code"], "invalid_handshake");
    let plain = app.get("/graphql/ws", &t.agent.token).await.expect(400);
    assert_eq!(plain.body["error"]["code"], "invalid_handshake");
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/api/v1/nowhere", app.port)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"]["code"], "not_found");
        }
        other => panic!("a socket at an unknown path must be a 404, got {other:?}"),
    }
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/graphql/ws", app.port)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("GraphQL without a subprotocol must be a 400, got {other:?}"),
    }

    // The auth frame written in the same packet as the handshake is not lost.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let mut bytes = b"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    bytes.extend(client_frame(0x1, true, json!({"type": "auth", "token": t.agent.token}).to_string().as_bytes()));
    raw.write_all(&bytes).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("\"ready\"") {
        let n = tokio::time::timeout_at(deadline, raw.read(&mut buf)).await.expect("ready in time").unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{text}");

    // A command in three fragments (with a ping between them) is one command; pings are answered.
    let mut s = Socket::open(&app).await;
    s.send(json!({"type": "auth", "token": t.agent.token})).await;
    s.wait_for("ready", |f| f["type"] == "ready").await;
    let command = json!({"type": "ping", "id": "fragmented"}).to_string();
    let (a, rest) = command.as_bytes().split_at(5);
    let (b, c) = rest.split_at(7);
    s.ws.send(Message::Frame(Frame::message(a.to_vec(), OpCode::Data(Data::Text), false))).await.unwrap();
    s.ws.send(Message::Frame(Frame::message(b.to_vec(), OpCode::Data(Data::Continue), false))).await.unwrap();
    s.ws.send(Message::Ping(b"between".to_vec().into())).await.unwrap();
    s.ws.send(Message::Frame(Frame::message(c.to_vec(), OpCode::Data(Data::Continue), true))).await.unwrap();
    let mut ponged = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ack = loop {
        match tokio::time::timeout_at(deadline, s.ws.next()).await.expect("the ack in time") {
            Some(Ok(Message::Pong(p))) => ponged = p.as_ref() == b"between",
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] == "fragmented" {
                    break v;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(ack["type"], "ack");
    assert!(ponged, "the ping between fragments was answered with its payload");

    // A message over 64 KiB closes the socket with 4000; binary frames too.
    let (mut big, _) = Socket::connect(&app, &t.agent.token, None).await;
    big.ws.send(Message::text("x".repeat(64 * 1024 + 1))).await.unwrap();
    assert_eq!(big.read(Duration::from_secs(5)).await, Err(Ended::Closed(Some(4000))));
    let (mut binary, _) = Socket::connect(&app, &t.agent.token, None).await;
    binary.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(binary.read(Duration::from_secs(5)).await, Err(Ended::Closed(Some(4000))));
}

#[actix_web::test]
async fn agents_see_their_departments_queue_and_their_own_conversations_live() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    fake.set_status_webhook(Some(StatusWebhook::new(app.url("/api/v1/webhooks/meta"), APP_SECRET)));
    let t = app.tenant("live").await;
    let admin = &t.admin.token;
    let (other_agent, other_email, other_password) = app.create_user(&t.org_id, "agent").await;
    let other_token = app.token(&other_email, &other_password).await;
    let (_, sales_queue) = department_and_queue(&app, admin, "Sales", &[&t.agent.id], "round_robin").await;
    department_and_queue(&app, admin, "Support", &[&other_agent], "round_robin").await;
    handoff_bot(&app, admin, &sales_queue).await;
    let stranger = app.tenant("live-other").await;

    let (mut agent, _) = Socket::connect(&app, &t.agent.token, None).await;
    let (mut support, _) = Socket::connect(&app, &other_token, None).await;
    let (mut boss, _) = Socket::connect(&app, admin, None).await;
    let (mut viewer, _) = Socket::connect(&app, &t.viewer.token, None).await;
    let (mut outsider, _) = Socket::connect(&app, &stranger.admin.token, None).await;

    let conversation = queued_conversation(&app, admin, "5511911110001").await;
    // The only available agent of Sales gets it at once (round robin).
    let assigned = agent
        .wait_for("the assignment", |f| {
            f["type"] == "conversation.updated"
                && f["data"]["id"] == conversation.as_str()
                && f["data"]["status"] == "assigned"
        })
        .await;
    assert_eq!(assigned["data"]["assigned_agent_id"], t.agent.id.as_str());
    boss.wait_for("the admin's view", |f| {
        f["data"]["id"] == conversation.as_str() && f["data"]["status"] == "assigned"
    })
    .await;
    viewer
        .wait_for("the viewer's view", |f| {
            f["data"]["id"] == conversation.as_str() && f["data"]["status"] == "assigned"
        })
        .await;

    // The agent answers; a retry with the same client_id sends nothing more.
    let send = json!({"conversation_id": conversation, "text": "Hi, I'm Ana.", "client_id": "k-1"});
    let ack = agent.command("send_message", send.clone()).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["data"]["created"], true);
    let again = agent.command("send_message", send).await;
    assert_eq!(again["data"]["created"], false);
    assert_eq!(again["data"]["message"]["id"], ack["data"]["message"]["id"]);
    assert_eq!(bot_says(&fake, "5511911110001", 2).await[1], "Hi, I'm Ana.");
    let message_id = ack["data"]["message"]["id"].as_str().unwrap().to_string();
    agent
        .wait_for("the read tick", |f| {
            f["type"] == "message.status"
                && f["data"]["message_id"] == message_id.as_str()
                && f["data"]["status"] == "read"
        })
        .await;
    // The contact writes again: the agent sees it live.
    app.say(PNID, "5511911110001", "thanks!").await;
    agent.wait_for("the reply", |f| f["type"] == "message.created" && f["data"]["text"] == "thanks!").await;

    // A viewer reads but may not act.
    let refused = viewer.command("close", json!({"conversation_id": conversation})).await;
    assert_eq!(refused["code"], "forbidden");
    // Another agent cannot act on it, nor learn it exists.
    let hidden = support.command("send_message", json!({"conversation_id": conversation, "text": "x"})).await;
    assert_eq!(hidden["code"], "not_found");
    app.get(&format!("/api/v1/conversations/{conversation}"), &other_token).await.expect(404);
    let theirs = app.get("/api/v1/conversations", &other_token).await.expect(200);
    assert_eq!(theirs.body["items"], json!([]));

    agent.command("note", json!({"conversation_id": conversation, "text": "VIP, be nice"})).await;
    let closed = agent.command("close", json!({"conversation_id": conversation})).await;
    assert_eq!(closed["data"]["status"], "closed");
    boss.wait_for("the close", |f| f["data"]["id"] == conversation.as_str() && f["data"]["status"] == "closed").await;

    support.settle(Duration::from_millis(300)).await;
    outsider.settle(Duration::from_millis(300)).await;
    assert!(support.events_about(&conversation).is_empty(), "Support saw {:?}", support.seen);
    assert!(
        outsider.seen.iter().all(|f| f["type"] != "message.created" && f["type"] != "conversation.updated"),
        "{:?}",
        outsider.seen
    );
    // The note is stored, shown to agents, never sent.
    let messages = app.messages(admin, &conversation).await;
    let note = messages.iter().find(|m| m["text"] == "VIP, be nice").expect("the note");
    assert_eq!(note["is_internal_note"], true);
    assert!(fake.accepted().iter().all(|r| r.text() != "VIP, be nice"));
    // Ops see how long events take from sequencing to the sockets.
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let lagged: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pytake_event_frame_lag_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the frame lag histogram");
    assert!(lagged >= boss.seen.len() as u64 - 1, "{lagged} frames timed, the admin alone read {}", boss.seen.len());
}

#[actix_web::test]
async fn a_reconnecting_client_gets_exactly_what_it_missed_or_a_resync() {
    let app = spawn_app_with(&[("PYTAKE__ACTORS__REPLAY_WINDOW", "20")]).await;
    let t = app.tenant("replay").await;
    app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let (mut first, ready) = Socket::connect(&app, &t.admin.token, None).await;
    app.say(PNID, "5511922220001", "one").await;
    let seen = first.wait_for("the first message", |f| f["type"] == "message.created").await;
    let last_seq = seen["seq"].as_u64().unwrap();
    assert!(last_seq > ready["seq"].as_u64().unwrap());
    drop(first);

    for text in ["two", "three"] {
        app.say(PNID, "5511922220001", text).await;
    }
    app.drained().await;
    let (mut back, ready) = Socket::connect(&app, &t.admin.token, Some(last_seq)).await;
    let latest = ready["seq"].as_u64().unwrap();
    assert!(latest > last_seq);
    let mut replayed = Vec::new();
    while replayed.len() < (latest - last_seq) as usize {
        replayed.push(back.read(Duration::from_secs(5)).await.expect("a replayed frame"));
    }
    let seqs: Vec<u64> = replayed.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, ((last_seq + 1)..=latest).collect::<Vec<_>>(), "no gap, no duplicate");
    let texts: Vec<&str> =
        replayed.iter().filter(|f| f["type"] == "message.created").filter_map(|f| f["data"]["text"].as_str()).collect();
    assert_eq!(texts, ["two", "three"]);

    // Too far behind the kept window: an explicit resync, never a silent gap.
    for i in 0..25 {
        app.say(PNID, "5511922220002", &format!("burst {i}")).await;
    }
    app.drained().await;
    let (mut stale, _) = Socket::connect(&app, &t.admin.token, Some(last_seq)).await;
    let resync = stale.wait_for("resync", |f| f["type"] == "resync").await;
    assert!(resync["seq"].as_u64().unwrap() > latest);
}

#[actix_web::test]
async fn a_slow_consumer_is_closed_with_4008_and_the_others_keep_up() {
    let app = spawn_app_with(&[("PYTAKE__LIVE__MAX_BUFFER_BYTES", "1048576")]).await;
    let t = app.tenant("slow").await;
    app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;

    // A client with a tiny receive window that never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(format!("127.0.0.1:{}", app.port).parse().unwrap()).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://127.0.0.1:{}/api/v1/ws", app.port),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("connect");
    let mut slow = Socket { ws, seen: Vec::new(), next_id: 0 };
    slow.send(json!({"type": "auth", "token": t.admin.token})).await;
    let (mut fast, _) = Socket::connect(&app, &t.admin.token, None).await;
    let total = 240;
    let big = "x".repeat(50_000);
    // A client that keeps up reads on its own, all the while.
    let last = format!("{big} 23.9");
    let fast_reader = actix_web::rt::spawn(async move {
        fast.wait_for("every message", |f| f["type"] == "message.created" && f["data"]["text"] == last.as_str()).await;
        fast.seen.iter().filter(|f| f["type"] == "message.created").count()
    });

    // More than the kernel's socket buffers hold (a few MiB), so the server must notice.
    for batch in 0..(total / 10) {
        let messages: Vec<Value> = (0..10)
            .map(|i| {
                json!({"from": "5511933330001", "id": format!("wamid.slow.{batch}.{i}"), "timestamp": "1700000000",
                       "type": "text", "text": {"body": format!("{big} {batch}.{i}")}})
            })
            .collect();
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Slow"}, "wa_id": "5511933330001"}], "messages": messages}}]}]});
        app.deliver(&body.to_string(), APP_SECRET).await.expect(200);
    }
    app.drained().await;
    assert_eq!(fast_reader.await.unwrap(), total);

    // The slow one, read at last, ends with 4008 after what was buffered.
    let ended = loop {
        match slow.read(Duration::from_secs(10)).await {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(ended, Ended::Closed(Some(4008)));
    assert!(slow.seen.iter().filter(|f| f["type"] == "message.created").count() < total);
}

#[actix_web::test]
async fn presence_assignment_strategies_and_offline_requeue() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(
        &fake,
        &[("PYTAKE__LIVE__PRESENCE_GRACE_SECS", "1"), ("PYTAKE__LIVE__REQUEUE_OFFLINE_AFTER_SECS", "1")],
    )
    .await;
    let t = app.tenant("presence").await;
    let admin = &t.admin.token;
    let (second, email, password) = app.create_user(&t.org_id, "agent").await;
    let second_token = app.token(&email, &password).await;
    let (_, queue) = department_and_queue(&app, admin, "Sales", &[&t.agent.id, &second], "least_busy").await;
    handoff_bot(&app, admin, &queue).await;

    let (mut boss, _) = Socket::connect(&app, admin, None).await;
    let (mut first, ready) = Socket::connect(&app, &t.agent.token, None).await;
    assert_eq!(ready["data"]["status"], "available");
    boss.wait_for("presence", |f| f["type"] == "agent.presence" && f["data"]["user_id"] == t.agent.id.as_str()).await;
    let (mut other, _) = Socket::connect(&app, &second_token, None).await;

    // Least busy: two conversations go one to each agent.
    let c1 = queued_conversation(&app, admin, "5511944440001").await;
    let c2 = queued_conversation(&app, admin, "5511944440002").await;
    let (h1, h2) = (holder(&app, admin, &c1).await, holder(&app, admin, &c2).await);
    assert_ne!(h1, h2, "least busy spreads the work");

    // Away agents get nothing new; the available one does.
    let away = other.command("set_status", json!({"status": "away"})).await;
    assert_eq!(away["data"]["status"], "away");
    boss.wait_for("away", |f| f["type"] == "agent.presence" && f["data"]["status"] == "away").await;
    let bad = other.command("set_status", json!({"status": "sleeping"})).await;
    assert_eq!(bad["code"], "validation_failed");
    let c3 = queued_conversation(&app, admin, "5511944440003").await;
    assert_eq!(holder(&app, admin, &c3).await, t.agent.id.as_str());

    // The first agent leaves: offline after the grace period, their conversations re-queued and
    // then given to the agent who is back.
    drop(first.ws);
    boss.wait_for("offline", |f| {
        f["type"] == "agent.presence" && f["data"]["user_id"] == t.agent.id.as_str() && f["data"]["status"] == "offline"
    })
    .await;
    other.command("set_status", json!({"status": "available"})).await;
    eventually("the re-queue and re-assignment", || async {
        let c = app.get(&format!("/api/v1/conversations/{c3}"), admin).await.expect(200).body;
        c["assigned_agent_id"] == second.as_str()
    })
    .await;
    first.seen.clear();
}

#[actix_web::test]
async fn rest_actions_take_transfer_close_reopen_read_and_tag() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("rest-actions").await;
    let admin = &t.admin.token;
    let agent = &t.agent.token;
    let (_, queue) = department_and_queue(&app, admin, "Sales", &[&t.agent.id], "manual").await;
    let support =
        app.post("/api/v1/departments", admin, json!({"name": "Support"})).await.expect(201).body["id"].clone();
    handoff_bot(&app, admin, &queue).await;

    app.post("/api/v1/conversations/take-next", agent, json!({})).await.expect(204);
    let c = queued_conversation(&app, admin, "5511955550001").await;
    // Manual: nobody is given it; the agent sees it waiting and takes it.
    let waiting = app.get("/api/v1/conversations?status=queued", agent).await.expect(200);
    assert_eq!(waiting.body["items"][0]["id"], c.as_str());
    let taken = app.post("/api/v1/conversations/take-next", agent, json!({})).await.expect(200);
    assert_eq!(taken.body["id"], c.as_str());
    assert_eq!(taken.body["assigned_agent_id"], t.agent.id.as_str());
    let mine = app.get("/api/v1/conversations?mine=true", agent).await.expect(200);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);

    // Read: the unread count is cleared and WhatsApp gets the read receipt.
    let read = app.post(&format!("/api/v1/conversations/{c}/read"), agent, json!({})).await.expect(200);
    assert_eq!(read.body["unread_count"], 0);
    fake.wait_until(Duration::from_secs(5), |r| r.iter().any(|x| x.body["status"] == "read"))
        .await
        .expect("mark read sent");

    // Tags.
    let tags =
        app.post(&format!("/api/v1/conversations/{c}/tags"), agent, json!({"name": "billing"})).await.expect(200);
    assert_eq!(tags.body, json!(["billing"]));
    let by_tag = app.get("/api/v1/conversations?tag=billing", admin).await.expect(200);
    assert_eq!(by_tag.body["items"][0]["id"], c.as_str());
    let found = app.get("/api/v1/conversations?q=teste", admin).await.expect(200);
    assert_eq!(found.body["items"][0]["id"], c.as_str(), "search by the contact's name");
    app.delete(&format!("/api/v1/conversations/{c}/tags/billing"), agent).await.expect(200);
    app.delete(&format!("/api/v1/conversations/{c}/tags/billing"), agent).await.expect(404);

    // Transfer to another department: it leaves the agent's view.
    app.post(&format!("/api/v1/conversations/{c}/transfer"), agent, json!({"queue_id": queue, "agent_id": t.agent.id}))
        .await
        .expect(422);
    let moved = app
        .post(
            &format!("/api/v1/conversations/{c}/transfer"),
            agent,
            json!({"department_id": support, "note": "needs a refund"}),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["status"], "queued");
    assert_eq!(moved.body["department_id"], support);
    app.get(&format!("/api/v1/conversations/{c}"), agent).await.expect(404);

    // The admin gives it back, closes it; the agent reopens what they held.
    app.post(&format!("/api/v1/conversations/{c}/assign"), admin, json!({"agent_id": t.agent.id})).await.expect(200);
    app.post(&format!("/api/v1/conversations/{c}/assign"), agent, json!({"agent_id": t.admin.id})).await.expect(403);
    let closed = app.post(&format!("/api/v1/conversations/{c}/close"), agent, json!({})).await.expect(200);
    assert_eq!(closed.body["status"], "closed");
    let r =
        app.post(&format!("/api/v1/conversations/{c}/messages"), agent, json!({"type": "text", "text": "hi"})).await;
    assert_eq!(r.expect(409).code(), "conversation_closed");
    let reopened = app.post(&format!("/api/v1/conversations/{c}/reopen"), agent, json!({})).await.expect(200);
    assert_eq!(reopened.body["status"], "assigned");
    app.post(&format!("/api/v1/conversations/{c}/reopen"), agent, json!({})).await.expect(409);
    let note = app.post(&format!("/api/v1/conversations/{c}/notes"), agent, json!({"text": ""})).await.expect(422);
    assert_eq!(note.body["error"]["details"]["fields"][0]["field"], "text");

    let other = app.tenant("rest-actions-other").await;
    assert_cross_tenant_404(
        &app,
        &other,
        &[
            (Method::POST, format!("/api/v1/conversations/{c}/assign"), Some(json!({}))),
            (Method::POST, format!("/api/v1/conversations/{c}/transfer"), Some(json!({"agent_id": other.agent.id}))),
            (Method::POST, format!("/api/v1/conversations/{c}/close"), Some(json!({}))),
            (Method::POST, format!("/api/v1/conversations/{c}/reopen"), Some(json!({}))),
            (Method::POST, format!("/api/v1/conversations/{c}/read"), Some(json!({}))),
            (Method::POST, format!("/api/v1/conversations/{c}/notes"), Some(json!({"text": "x"}))),
            (Method::GET, format!("/api/v1/conversations/{c}/tags"), None),
            (Method::POST, format!("/api/v1/conversations/{c}/tags"), Some(json!({"name": "x"}))),
        ],
    )
    .await;
}

/// Two servers on one PostgreSQL database and one Redis (same secrets, each its own port), or None
/// (with the reason printed) when the suite runs without them.
async fn two_nodes(fake: &FakeGraph, extra: &[(&str, &str)]) -> Option<(TestApp, TestApp)> {
    two_nodes_with(fake, extra, &[]).await
}

/// Two nodes on one database and Redis; `only_b` are settings for node B alone.
async fn two_nodes_with(
    fake: &FakeGraph,
    extra: &[(&str, &str)],
    only_b: &[(&str, &str)],
) -> Option<(TestApp, TestApp)> {
    let redis = std::env::var("PYTAKE_TEST_REDIS_URL").unwrap_or_default();
    if !is_postgres() || redis.is_empty() {
        eprintln!("SKIPPED (two nodes): needs PYTAKE_TEST_DATABASE_URL and PYTAKE_TEST_REDIS_URL");
        return None;
    }
    let a = spawn_with_graph(fake, extra).await;
    let dir = tempfile::TempDir::new().unwrap();
    let url = a.settings.database.url.expose().to_string();
    let jwt = a.settings.resolved.jwt_secret.expose().to_string();
    let key = a.settings.resolved.encryption_key.expose().to_string();
    let mut overrides = vec![
        ("PYTAKE__DATABASE__URL", url.as_str()),
        ("PYTAKE__AUTH__JWT_SECRET", jwt.as_str()),
        ("PYTAKE__SECURITY__ENCRYPTION_KEY", key.as_str()),
        ("PYTAKE__META__GRAPH_BASE_URL", fake.base_url.as_str()),
    ];
    overrides.extend_from_slice(extra);
    overrides.extend_from_slice(only_b);
    let (settings, _) = test_settings(dir.path(), &overrides).await;
    let b = spawn_app_in(dir, settings, a.admin_password.clone()).await;
    Some((a, b))
}

#[actix_web::test]
async fn two_nodes_share_events_through_redis_and_a_node_switch_resyncs() {
    let fake = FakeGraph::start().unwrap();
    let Some((a, b)) = two_nodes(&fake, &[]).await else { return };
    let t = a.tenant("nodes").await;
    let (_, queue) = department_and_queue(&a, &t.admin.token, "Sales", &[&t.agent.id], "round_robin").await;
    handoff_bot(&a, &t.admin.token, &queue).await;

    let (mut on_b, ready_b) = Socket::connect(&b, &t.admin.token, None).await;
    let (_on_a, ready_a) = Socket::connect(&a, &t.admin.token, None).await;
    assert_ne!(ready_a["data"]["stream"], ready_b["data"]["stream"], "each node numbers its own stream");
    // Let B's subscription settle, then a webhook lands on node A.
    eventually("node B's relay", || async {
        b.get("/health/ready", &t.admin.token).await.body["checks"]["redis"] == "ok"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.say(PNID, "5511977770101", "hello node A").await;
    let seen = on_b
        .wait_for("the message on node B", |f| f["type"] == "message.created" && f["data"]["text"] == "hello node A")
        .await;
    let seq_b = seen["seq"].as_u64().unwrap();

    // A client moving from B to A with B's numbering is told to resync, never given a silent gap.
    let mut moved = Socket::open(&a).await;
    moved
        .send(json!({"type": "auth", "token": t.admin.token, "last_seq": seq_b, "stream": ready_b["data"]["stream"]}))
        .await;
    moved.wait_for("resync", |f| f["type"] == "resync").await;

    // An agent connected only to node B is given a conversation handed off on node A.
    let (mut agent_on_b, _) = Socket::connect(&b, &t.agent.token, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let conversation = queued_conversation(&a, &t.admin.token, "5511977770102").await;
    let mine = agent_on_b
        .wait_for("the assignment on node B", |f| {
            f["type"] == "conversation.updated"
                && f["data"]["id"] == conversation.as_str()
                && f["data"]["status"] == "assigned"
        })
        .await;
    assert_eq!(mine["data"]["assigned_agent_id"], t.agent.id.as_str());

    // One conversation's messages, delivered alternately to both nodes, are processed in order by
    // the node that owns it (the other forwards a wake through Redis).
    tokio::time::sleep(Duration::from_secs(3)).await; // both nodes see each other
    let contact = "5511977770103";
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        node.say(PNID, contact, &format!("m{i:02}")).await;
    }
    a.drained().await;
    b.drained().await;
    let mut texts: Vec<String> = Vec::new();
    for _ in 0..250 {
        let list = a.get(&format!("/api/v1/conversations?contact_wa_id={contact}"), &t.admin.token).await.expect(200);
        if let Some(id) = list.body["items"][0]["id"].as_str() {
            texts = a
                .messages(&t.admin.token, id)
                .await
                .into_iter()
                .filter(|m| m["direction"] == "inbound")
                .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                .collect();
            if texts.len() == 20 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let sent: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    assert_eq!(texts, sent, "processed in the order received, across nodes");
    // The same stream resumes normally.
    let mut back = Socket::open(&b).await;
    back.send(json!({"type": "auth", "token": t.admin.token, "last_seq": seq_b, "stream": ready_b["data"]["stream"]}))
        .await;
    back.wait_for("ready", |f| f["type"] == "ready").await;
    back.settle(Duration::from_millis(300)).await;
    assert!(back.seen.iter().all(|f| f["type"] != "resync"), "{:?}", back.seen);
}

#[actix_web::test]
async fn full_queues_overflow_and_slow_queues_raise_sla_breaches() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[("PYTAKE__LIVE__ASSIGNMENT_SWEEP_SECS", "1")]).await;
    let t = app.tenant("sla").await;
    let admin = &t.admin.token;
    let spill =
        app.post("/api/v1/queues", admin, json!({"name": "Spill", "strategy": "manual"})).await.expect(201).body["id"]
            .as_str()
            .unwrap()
            .to_string();
    let main = app
        .post(
            "/api/v1/queues",
            admin,
            json!({"name": "Main", "strategy": "manual", "max_size": 1, "overflow_queue_id": spill, "sla_minutes": 5}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    handoff_bot(&app, admin, &main).await;
    let (mut boss, _) = Socket::connect(&app, admin, None).await;

    let first = queued_conversation(&app, admin, "5511988880101").await;
    let second = queued_conversation(&app, admin, "5511988880102").await;
    eventually("the overflow", || async {
        app.get(&format!("/api/v1/conversations/{second}"), admin).await.expect(200).body["queue_id"] == spill.as_str()
    })
    .await;
    let kept = app.get(&format!("/api/v1/conversations/{first}"), admin).await.expect(200).body;
    assert_eq!(kept["queue_id"], main.as_str(), "the oldest stays; the newest overflows");

    // The first has waited longer than the 5-minute SLA: one event, counted once.
    app.exec_sql(
        &format!(
            "UPDATE conversations SET queued_at = '2020-01-01 00:00:00+00:00' WHERE id = X'{}'",
            first.replace('-', "")
        ),
        &format!("UPDATE conversations SET queued_at = '2020-01-01T00:00:00Z' WHERE id = '{first}'"),
    )
    .await;
    let breach = boss.wait_for("the SLA breach", |f| f["type"] == "sla.breached").await;
    assert_eq!(breach["data"]["conversation_id"], first.as_str());
    assert_eq!(breach["data"]["queue_id"], main.as_str());
    boss.settle(Duration::from_millis(1500)).await;
    assert_eq!(boss.seen.iter().filter(|f| f["type"] == "sla.breached").count(), 1, "raised once");
}

#[actix_web::test]
async fn a_silent_client_is_dropped_and_typing_reaches_the_others() {
    let app =
        spawn_app_with(&[("PYTAKE__LIVE__PING_INTERVAL_SECS", "1"), ("PYTAKE__LIVE__CLIENT_TIMEOUT_SECS", "2")]).await;
    let t = app.tenant("silent").await;
    app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let conversation = queued_conversation(&app, &t.admin.token, "5511922229999").await;

    // A client that never reads (so never answers a ping) is closed with 4009.
    let (mut silent, _) = Socket::connect(&app, &t.admin.token, None).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let ended = loop {
        match silent.read(Duration::from_secs(5)).await {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(ended, Ended::Closed(Some(4009)));

    // Typing goes to the others watching the conversation (a client that keeps reading stays).
    let (mut agent, _) = Socket::connect(&app, &t.agent.token, None).await;
    let (mut boss, _) = Socket::connect(&app, &t.admin.token, None).await;
    let reader = actix_web::rt::spawn(async move {
        boss.wait_for("typing", |f| f["type"] == "typing").await;
        boss
    });
    let ack = agent.command("typing", json!({"conversation_id": conversation})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let boss = reader.await.unwrap();
    let typing = boss.seen.iter().find(|f| f["type"] == "typing").unwrap();
    assert_eq!(typing["data"]["user_id"], t.agent.id.as_str());
    // Reading keeps a client alive past the timeout.
    agent.settle(Duration::from_millis(2500)).await;
    assert_eq!(agent.command("ping", json!({})).await["type"], "ack");
}

#[actix_web::test]
async fn an_agent_on_two_nodes_stays_online_until_their_last_socket_closes() {
    let fake = FakeGraph::start().unwrap();
    let fast = [("PYTAKE__LIVE__PRESENCE_GRACE_SECS", "1"), ("PYTAKE__LIVE__REQUEUE_OFFLINE_AFTER_SECS", "1")];
    let Some((a, b)) = two_nodes(&fake, &fast).await else { return };
    let t = a.tenant("nodes-presence").await;
    let (mut boss, _) = Socket::connect(&a, &t.admin.token, None).await;
    let (on_a, _) = Socket::connect(&a, &t.agent.token, None).await;
    let (on_b, _) = Socket::connect(&b, &t.agent.token, None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let offline = |f: &serde_json::Value| {
        f["type"] == "agent.presence" && f["data"]["user_id"] == t.agent.id.as_str() && f["data"]["status"] == "offline"
    };
    // The socket on node A closes: the agent is still on node B, so not offline.
    drop(on_a);
    boss.settle(Duration::from_millis(3000)).await;
    assert!(!boss.seen.iter().any(offline), "announced offline while connected to node B: {:?}", boss.seen);
    // The last one closes: offline.
    drop(on_b);
    boss.wait_for("offline", offline).await;
}

/// A TCP relay to Redis that a test can cut (every connection dropped, new ones refused) and
/// restore: Redis going away for one node only, with the real Redis behind it.
struct RedisCut {
    url: String,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl RedisCut {
    async fn start(redis_url: &str) -> RedisCut {
        let upstream = redis_url.trim_start_matches("redis://").trim_end_matches('/').to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (gate, registry) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !gate.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is refused in effect
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                registry.lock().unwrap().push(link.abort_handle());
            }
        });
        RedisCut { url, open, links }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn a_node_that_lost_redis_tells_its_consoles_to_resync_when_redis_returns() {
    let fake = FakeGraph::start().unwrap();
    let redis = std::env::var("PYTAKE_TEST_REDIS_URL").unwrap_or_default();
    let cut = RedisCut::start(&redis).await;
    let Some((a, b)) = two_nodes_with(&fake, &[], &[("PYTAKE__REDIS__URL", cut.url.as_str())]).await else { return };
    let t = a.tenant("redis-cut").await;
    a.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let redis_is = |state: &'static str| {
        let (b, token) = (&b, t.admin.token.clone());
        move || {
            let token = token.clone();
            async move { b.get("/health/ready", &token).await.body["checks"]["redis"] == state }
        }
    };
    let (mut on_b, ready_b) = Socket::connect(&b, &t.admin.token, None).await;
    eventually("node B's relay", redis_is("ok")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.say(PNID, "5511977770201", "before the cut").await;
    let before = on_b
        .wait_for("the first message on node B", |f| {
            f["type"] == "message.created" && f["data"]["text"] == "before the cut"
        })
        .await;
    let seq_before = before["seq"].as_u64().unwrap();

    // Redis goes away for node B only: whatever node A publishes now cannot reach B's console.
    cut.cut();
    eventually("node B degraded", redis_is("down")).await;
    on_b.settle(Duration::from_millis(300)).await;
    assert!(on_b.seen.iter().all(|f| f["type"] != "resync"), "no resync while Redis is away");

    // Redis returns: the console is told it may have missed events, never left with a silent gap.
    cut.restore();
    let resync = on_b.wait_for("a resync on node B", |f| f["type"] == "resync").await;
    assert!(resync["data"]["reason"].as_str().unwrap().contains("Redis"), "{resync}");
    eventually("node B ready again", redis_is("ok")).await;

    // A client reconnecting to B from before the gap is told to resync too, not replayed a window
    // with a hole in it.
    let mut back = Socket::open(&b).await;
    back.send(
        json!({"type": "auth", "token": t.admin.token, "last_seq": seq_before, "stream": ready_b["data"]["stream"]}),
    )
    .await;
    back.wait_for("resync after the gap", |f| f["type"] == "resync").await;

    // And events flow across the nodes again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.say(PNID, "5511977770201", "after Redis returned").await;
    on_b.wait_for("the message after the return", |f| {
        f["type"] == "message.created" && f["data"]["text"] == "after Redis returned"
    })
    .await;
}

#[actix_web::test]
async fn a_node_drops_the_heartbeat_its_previous_run_left_behind() {
    let redis_url = std::env::var("PYTAKE_TEST_REDIS_URL").unwrap_or_default();
    if !is_postgres() || redis_url.is_empty() {
        eprintln!("SKIPPED (seat): needs PYTAKE_TEST_DATABASE_URL and PYTAKE_TEST_REDIS_URL");
        return;
    }
    // A fixed address gives the node a seat (an ephemeral port would not).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let app = spawn_app_with(&[("PYTAKE__SERVER__LISTEN", listen.as_str())]).await;
    let node = app.state.live.node.to_string();
    let mut redis = redis::Client::open(redis_url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut mine = None;
    for _ in 0..50 {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("*:node:{node}")).query_async(&mut redis).await.unwrap();
        if let Some(k) = keys.into_iter().next() {
            mine = Some(k);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mine = mine.expect("the node's heartbeat");
    let members = mine.strip_suffix(&node).unwrap().to_string();
    let seat: String = redis::cmd("GET").arg(&mine).query_async(&mut redis).await.unwrap();
    assert!(seat.ends_with(&format!("|{listen}")), "{seat}");

    // A killed earlier run of this node (same seat, another id, still within its TTL), and a node
    // elsewhere: the first is removed within a heartbeat round, the second is left alone.
    let (previous, elsewhere) =
        (format!("{members}{}", uuid::Uuid::now_v7()), format!("{members}{}", uuid::Uuid::now_v7()));
    let _: () = redis::cmd("SET").arg(&previous).arg(&seat).arg("EX").arg(60).query_async(&mut redis).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&elsewhere)
        .arg("another-host|10.0.0.2:8000")
        .arg("EX")
        .arg(60)
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        let exists: i64 = redis::cmd("EXISTS").arg(&previous).query_async(&mut redis).await.unwrap();
        if exists == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the previous run's heartbeat is removed long before its 60 s TTL");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let still: i64 = redis::cmd("EXISTS").arg(&elsewhere).query_async(&mut redis).await.unwrap();
    let own: i64 = redis::cmd("EXISTS").arg(&mine).query_async(&mut redis).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&elsewhere).query_async(&mut redis).await.unwrap();
    assert_eq!((still, own), (1, 1), "another seat's heartbeat and the node's own stay");
}
