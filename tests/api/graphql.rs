//! GraphQL with REST's auth, roles and tenancy: queries, mutations with the same validation, and
//! the live events subscription over graphql-transport-ws.

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> Value {
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.post("/graphql", token, json!({"query": query, "variables": variables})).await.expect(200).body
}

fn error_code(r: &Value) -> &str {
    r["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

#[actix_web::test]
async fn graphql_queries_and_mutations_follow_the_rest_rules() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("gql").await;
    let admin = &t.admin.token;
    app.sending_number(admin, PNID).await;
    app.say(PNID, "5511911112222", "hello from graphql").await;
    app.drained().await;

    let r = gql(
        &app,
        admin,
        "{ me conversations(limit: 5) { items { id status messages(limit: 5) } nextCursor } }",
        json!({}),
    )
    .await;
    assert_eq!(r["data"]["me"]["email"], t.admin.email.as_str(), "{r}");
    let conv = &r["data"]["conversations"]["items"][0];
    assert_eq!(conv["messages"]["items"][0]["text"], "hello from graphql");
    let conv_id = conv["id"].as_str().unwrap().to_string();

    // No token: 401 as REST.
    let r = app.client.post(app.url("/graphql")).json(&json!({"query": "{ me }"})).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Mutations validate like REST and change nothing when refused.
    let bad =
        gql(&app, admin, "mutation($c: JSON!) { createContact(contact: $c) }", json!({"c": {"wa_id": "12"}})).await;
    assert_eq!(error_code(&bad), "validation_failed", "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["fields"][0]["field"], "wa_id");
    let made = gql(
        &app,
        admin,
        "mutation($c: JSON!) { createContact(contact: $c) }",
        json!({"c": {"wa_id": "5511900001111", "name": "Gi"}}),
    )
    .await;
    let contact = made["data"]["createContact"]["id"].as_str().expect("created").to_string();
    let edited = gql(
        &app,
        admin,
        "mutation($id: ID!) { updateContact(id: $id, contact: {company: \"Acme\"}) }",
        json!({"id": contact}),
    )
    .await;
    assert_eq!(edited["data"]["updateContact"]["company"], "Acme", "{edited}");
    let sent = gql(
        &app,
        admin,
        "mutation($id: ID!, $m: JSON!) { sendMessage(conversationId: $id, message: $m) }",
        json!({"id": conv_id, "m": {"type": "text", "text": "answer via graphql"}}),
    )
    .await;
    assert_eq!(sent["data"]["sendMessage"]["text"], "answer via graphql", "{sent}");
    fake.wait_accepted(1, Duration::from_secs(5)).await.expect("sent to WhatsApp");

    // Roles: a viewer reads but may not write.
    let refused =
        gql(&app, &t.viewer.token, "mutation($id: ID!) { close(conversationId: $id) }", json!({"id": conv_id})).await;
    assert_eq!(error_code(&refused), "forbidden");
    // Tenancy: another organization's objects are not found, its lists empty.
    let other = app.tenant("gql-other").await;
    let hidden = gql(&app, &other.admin.token, "query($id: ID!) { contact(id: $id) }", json!({"id": contact})).await;
    assert_eq!(error_code(&hidden), "not_found");
    let theirs = gql(&app, &other.admin.token, "{ conversations { items { id } } contacts }", json!({})).await;
    assert_eq!(theirs["data"]["conversations"]["items"], json!([]));
    assert_eq!(theirs["data"]["contacts"]["items"], json!([]));

    let closed = gql(&app, admin, "mutation($id: ID!) { close(conversationId: $id) }", json!({"id": conv_id})).await;
    assert_eq!(closed["data"]["close"]["status"], "closed");
    let page = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("PyTake GraphQL"));
}

#[actix_web::test]
async fn the_events_subscription_streams_what_the_caller_may_see() {
    let app = spawn_app().await;
    let t = app.tenant("gql-sub").await;
    app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    ws.send(Message::text(json!({"type": "connection_init", "payload": {"token": t.admin.token}}).to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(
        json!({"type": "subscribe", "id": "1", "payload": {"query": "subscription { events }"}}).to_string(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.say(PNID, "5511911113333", "live over graphql").await;
    loop {
        let frame = next(&mut ws).await;
        assert_eq!(frame["type"], "next", "{frame}");
        let event = &frame["payload"]["data"]["events"];
        if event["type"] == "message.created" {
            assert_eq!(event["data"]["text"], "live over graphql");
            break;
        }
    }

    // A bad token is refused at connection_init.
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut bad, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    bad.send(Message::text(json!({"type": "connection_init", "payload": {"token": "nope"}}).to_string()))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), bad.next()).await {
        // async-graphql closes a refused connection_init with a protocol error and the reason.
        Ok(Some(Ok(Message::Close(Some(frame))))) => {
            assert_ne!(u16::from(frame.code), 1000);
            assert!(frame.reason.contains("token"), "{frame:?}");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}
