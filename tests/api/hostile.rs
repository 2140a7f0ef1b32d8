//! Hostile input through the public surface: oversized and deeply nested JSON, invalid UTF-8, huge
//! headers, slow heads and slow bodies, forged JWTs (`alg: none`, another algorithm, a forged
//! signature), SQL-meta characters in every search filter, path traversal in served file names,
//! and thousands of WebSocket connections opened and dropped without authenticating. Each answer
//! is a clear error from the error model, nothing changes, and the server keeps serving.
//! (SSRF targets in `api_call` are refused in `src/flow_http.rs`'s tests and `tests/api/bot.rs`.)

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The server still answers. (A pooled keep-alive connection may have been closed by the server
/// during a long step; one retry on a fresh connection tells that apart from a dead server.)
async fn alive(app: &TestApp) {
    let r = match app.client.get(app.url("/health/live")).send().await {
        Ok(r) => r,
        Err(_) => reqwest::get(app.url("/health/live")).await.expect("the server still answers"),
    };
    assert_eq!(r.status(), 200);
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(String::from))
        .unwrap_or_default()
}

#[actix_web::test]
async fn oversized_deeply_nested_and_invalid_utf8_bodies_are_clean_errors() {
    let app = spawn_app_with(&[("PYTAKE__META__APP_SECRET", APP_SECRET)]).await;
    let t = app.tenant("hostile-bodies").await;
    let admin = &t.admin.token;
    let post = |path: &str, body: Vec<u8>| {
        app.client
            .post(app.url(path))
            .bearer_auth(admin)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", pytake::webhook::signature::sign(APP_SECRET.as_bytes(), &body))
            .body(body)
            .send()
    };
    // Larger than the API's JSON limit (1 MiB) and the webhook's (3 MiB).
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20)).into_bytes();
    let r = post("/api/v1/contacts", big).await.unwrap();
    assert_eq!(r.status(), 413);
    let r = post("/api/v1/webhooks/meta", vec![b' '; 4 << 20]).await.unwrap();
    assert_eq!(r.status(), 413);
    // 100,000 levels of nesting: refused as malformed, no stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    for path in ["/api/v1/flows", "/api/v1/contacts", "/api/v1/auth/login", "/api/v1/webhooks/meta"] {
        let r = post(path, deep.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            code(&r.text().await.unwrap()),
            if path.contains("webhooks") { "malformed_payload" } else { "malformed_json" }
        );
    }
    let nested_object = format!("{{\"nodes\": {}{}, \"name\": \"n\"}}", "{\"a\":".repeat(5_000), "1}".repeat(5_000));
    let r = post("/api/v1/flows", nested_object.into_bytes()).await.unwrap();
    assert_eq!(r.status(), 400);
    // Invalid UTF-8.
    for path in ["/api/v1/contacts", "/api/v1/auth/login", "/api/v1/webhooks/meta"] {
        let r = post(path, b"{\"name\": \"\xff\xfe\xfd\"}".to_vec()).await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
    }
    // Nothing was created by any of it.
    assert_eq!(app.get("/api/v1/contacts", admin).await.expect(200).body["items"], json!([]));
    assert_eq!(app.get("/api/v1/flows", admin).await.expect(200).body["items"], json!([]));
    alive(&app).await;
}

#[actix_web::test]
async fn huge_headers_and_slow_clients_are_cut_off() {
    let app = spawn_app_with(&[
        ("PYTAKE__SERVER__CLIENT_REQUEST_TIMEOUT_SECS", "1"),
        ("PYTAKE__SERVER__BODY_TIMEOUT_SECS", "1"),
    ])
    .await;
    // A 200 KiB header: refused (431 or a closed connection), never served.
    let r = app.client.get(app.url("/health/live")).header("x-padding", "a".repeat(200 << 10)).send().await;
    if let Ok(r) = r {
        assert!(r.status() == 431 || r.status() == 400, "{}", r.status());
    }
    alive(&app).await;
    // Slow head: headers never finished; the server answers 408 or closes within the timeout.
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    slow.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a client that never finished its headers was kept for 10 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    // Slow body: headers complete, the body trickles: 408 with the error model.
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    slow.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"email\"")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer)).await.expect("answered").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    alive(&app).await;
}

fn forge(header: Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{}", part(&header), part(claims), signature)
}

#[actix_web::test]
async fn forged_tokens_are_refused() {
    let app = spawn_app().await;
    let t = app.tenant("hostile-jwt").await;
    let real = &t.agent.token;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(real.split('.').nth(1).unwrap()).unwrap()).unwrap();
    // The agent's own claims, promoted to super_admin.
    let mut promoted = claims.clone();
    promoted["role"] = json!("super_admin");
    let real_signature = real.split('.').nth(2).unwrap();
    let forged = [
        forge(json!({"alg": "none", "typ": "JWT"}), &promoted, ""),
        forge(json!({"alg": "none", "typ": "JWT"}), &claims, ""),
        forge(json!({"alg": "NONE", "typ": "JWT"}), &claims, ""),
        forge(json!({"alg": "HS512", "typ": "JWT"}), &claims, real_signature),
        forge(json!({"alg": "RS256", "typ": "JWT"}), &claims, real_signature),
        forge(json!({"alg": "HS256", "typ": "JWT"}), &promoted, real_signature),
        "not.a.jwt".to_string(),
        String::new(),
    ];
    for token in &forged {
        let r = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 401, "{token}");
        assert!(["invalid_token", "unauthorized", "missing_token"].contains(&code(&r.text().await.unwrap()).as_str()));
        let r = app.client.get(app.url("/api/v1/organizations")).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    app.get("/api/v1/auth/me", real).await.expect(200);
}

#[actix_web::test]
async fn sql_meta_characters_in_every_search_filter_are_plain_text() {
    let app = spawn_app().await;
    let t = app.tenant("hostile-sql").await;
    let admin = &t.admin.token;
    app.post("/api/v1/contacts", admin, json!({"wa_id": "5511900000001", "name": "Ana"})).await.expect(201);
    app.post("/api/v1/canned-responses", admin, json!({"shortcut": "hello", "text": "Hi!"})).await.expect(201);
    let payloads = [
        "' OR '1'='1",
        "\" OR \"\"=\"",
        "'; DROP TABLE contacts; --",
        "%",
        "_",
        "\\",
        "%' UNION SELECT password_hash FROM users --",
        "$1",
        "\u{0}",
        "🙂' OR 1=1",
    ];
    let filters = [
        "/api/v1/conversations?q=",
        "/api/v1/conversations?contact_wa_id=",
        "/api/v1/conversations?tag=",
        "/api/v1/conversations?status=",
        "/api/v1/conversations?sort=",
        "/api/v1/conversations?cursor=",
        "/api/v1/contacts?query=",
        "/api/v1/contacts?wa_id=",
        "/api/v1/contacts?tag=",
        "/api/v1/contacts?cursor=",
        "/api/v1/canned-responses?prefix=",
        "/api/v1/audit?entity_type=",
        "/api/v1/flows?cursor=",
        "/api/v1/users?cursor=",
    ];
    for filter in filters {
        for payload in payloads {
            let url = format!("{}{}", app.url(filter), urlencode(payload));
            let r = app.client.get(&url).bearer_auth(admin).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(matches!(status, 200 | 400 | 422), "{filter}{payload:?} -> {status} {body}");
            if status == 200 {
                let items =
                    serde_json::from_str::<Value>(&body).unwrap()["items"].as_array().cloned().unwrap_or_default();
                assert!(items.is_empty(), "{filter}{payload:?} matched {items:?}");
            } else {
                assert!(!code(&body).is_empty(), "{body}");
            }
        }
    }
    // Everything is still there, and `%`/`_` are literal (they matched nothing above).
    let found = app.get("/api/v1/contacts?query=ana", admin).await.expect(200).body;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    alive(&app).await;
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[actix_web::test]
async fn path_traversal_in_served_file_names_is_a_404() {
    let app = spawn_app().await;
    for path in [
        "/admin/..%2F..%2FCargo.toml",
        "/admin/%2e%2e/%2e%2e/Cargo.toml",
        "/admin/....//Cargo.toml",
        "/console/..%2Fapp.js",
        "/console/%2e%2e%2fCargo.toml",
        "/admin/app.js%00.css",
        "/api/v1/../../etc/passwd",
        "/docs/..%2F..%2Fsrc%2Fmain.rs",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("[package]"), "{path}");
    }
}

#[actix_web::test]
async fn ten_thousand_sockets_opened_and_dropped_without_auth_leave_nothing_behind() {
    let app = spawn_app().await;
    let t = app.tenant("hostile-ws").await;
    let url = format!("ws://127.0.0.1:{}/api/v1/ws", app.port);
    let started = Instant::now();
    let mut opened = 0;
    for _wave in 0..20 {
        let wave: Vec<_> = (0..500).map(|_| tokio_tungstenite::connect_async(url.clone())).collect();
        for socket in futures_util::future::join_all(wave).await {
            if socket.is_ok() {
                opened += 1;
            }
        } // dropped here, unauthenticated
    }
    assert_eq!(opened, 10_000, "every handshake was accepted");
    eprintln!("10,000 unauthenticated sockets opened and dropped in {:?}", started.elapsed());
    // The server forgets them: no session stays, and it still serves sockets and requests.
    let mut sessions = u64::MAX;
    for _ in 0..100 {
        // A fresh connection each time: pooled ones may have idled out during the 10,000 sockets.
        let Ok(response) = reqwest::get(app.url("/metrics")).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = response.text().await.unwrap_or_default();
        sessions = metrics
            .lines()
            .find(|l| l.starts_with("pytake_agent_sessions_active"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse::<f64>().ok())
            .map_or(u64::MAX, |n| n as u64);
        if sessions == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sessions, 0);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text(json!({"type": "auth", "token": t.agent.token}).to_string().into())).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("ready"), "{first:?}");
    alive(&app).await;
}
