//! The archive end to end: flow traces through `GET /conversations/{id}/traces` from the SQL archive,
//! and against CongoDB (a wire-compatible MongoDB stand-in, `tests/congodb/`, smoke coverage only:
//! it enforces no unique index) the raw deliveries, traces, shipped audit entries and TTL indexes
//! written by the official driver. The MongoDB test is skipped, with the reason printed, when
//! CongoDB is not installed (`tests/congodb/setup.sh`, run by `.ci/run`) or cannot start.

use crate::helpers::*;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Waits for `n` traces of the conversation through the API.
async fn traces(app: &TestApp, token: &str, conversation: &str, n: usize) -> Vec<Value> {
    let path = format!("/api/v1/conversations/{conversation}/traces");
    for _ in 0..200 {
        let got = app.get(&path, token).await.expect(200).body;
        if got.as_array().is_some_and(|a| a.len() >= n) {
            return got.as_array().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} traces for {conversation}");
}

/// Two engine runs (the start, then the answer that hands off), as the archive recorded them.
async fn run_the_bot(app: &TestApp, fake: &FakeGraph, t: &Tenant, contact: &str) -> (String, Vec<Value>) {
    let admin = &t.admin.token;
    order_bot(app, admin).await;
    app.say(PNID, contact, "hi").await;
    bot_says(fake, contact, 1).await;
    app.say(PNID, contact, "A-1234").await;
    app.drained().await;
    let conversation = app.conversations(admin).await[0]["id"].as_str().unwrap().to_string();
    let found = traces(app, admin, &conversation, 2).await;
    assert_eq!(found[0]["input"]["type"], "start", "{found:?}");
    assert_eq!(found[0]["entered"], json!(["ask"]));
    assert_eq!(found[0]["effects"][0]["effect"], "send");
    assert_eq!(
        found[1]["input"],
        json!({"type": "message", "text": "A-1234", "reply_id": null, "message_type": "text"})
    );
    assert_eq!(found[1]["entered"], json!(["h"]));
    assert!(found[1]["effects"].as_array().unwrap().iter().any(|e| e["effect"] == "handoff"), "{found:?}");
    assert!(found[1]["duration_us"].as_u64().is_some());
    (conversation, found)
}

#[actix_web::test]
async fn the_sql_archive_keeps_flow_traces_readable_by_conversation() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[("PYTAKE__ARCHIVE__FLUSH_INTERVAL_MS", "20")]).await;
    let t = app.tenant("archive-sql").await;
    let (conversation, _) = run_the_bot(&app, &fake, &t, "5511955550001").await;
    let path = format!("/api/v1/conversations/{conversation}/traces");
    // Viewers read them; agents do not; another organization gets a 404; limits are checked.
    app.get(&path, &t.viewer.token).await.expect(200);
    app.get(&path, &t.agent.token).await.expect(403);
    let other = app.tenant("archive-sql-other").await;
    app.get(&path, &other.admin.token).await.expect(404);
    app.get(&format!("{path}?limit=0"), &t.admin.token).await.expect(422);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("pytake_archive_records_total{sink=\"sql\",kind=\"trace\",outcome=\"written\"}"),
        "{metrics}"
    );
}

/// CongoDB on a free port, stopped when dropped.
struct Congo {
    _child: tokio::process::Child,
    url: String,
}

async fn congo() -> Result<Congo, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/congodb");
    if !dir.join("congodb/index.js").exists() || !dir.join("node_modules/mingo").exists() {
        return Err("CongoDB is not installed (run tests/congodb/setup.sh)".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().unwrap().port();
    let mut child = tokio::process::Command::new("node")
        .arg("server.mjs")
        .arg(port.to_string())
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("node: {e}"))?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    match tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await {
        Ok(Ok(Some(line))) if line.starts_with("ready") => {}
        other => return Err(format!("CongoDB did not start: {other:?}")),
    }
    Ok(Congo { _child: child, url: format!("mongodb://127.0.0.1:{port}/pytake_archive?directConnection=true") })
}

async fn documents(db: &mongodb::Database, collection: &str, filter: Document) -> Vec<Document> {
    let mut cursor = db.collection::<Document>(collection).find(filter).await.unwrap();
    let mut out = Vec::new();
    while cursor.advance().await.unwrap() {
        out.push(cursor.deserialize_current().unwrap());
    }
    out
}

#[actix_web::test]
async fn the_mongodb_archive_keeps_deliveries_traces_and_audit_with_ttl_indexes() {
    let server = match congo().await {
        Ok(s) => s,
        Err(reason) => {
            eprintln!("SKIPPED the_mongodb_archive_keeps_deliveries_traces_and_audit_with_ttl_indexes: {reason}");
            return;
        }
    };
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(
        &fake,
        &[
            ("PYTAKE__MONGODB__URL", &server.url),
            ("PYTAKE__ARCHIVE__FLUSH_INTERVAL_MS", "20"),
            ("PYTAKE__ARCHIVE__AUDIT_SETTLE_SECS", "0"),
        ],
    )
    .await;
    let t = app.tenant("archive-mongo").await;
    let contact = "5511955550002";
    let (conversation, _) = run_the_bot(&app, &fake, &t, contact).await;

    let client = mongodb::Client::with_uri_str(&server.url).await.unwrap();
    let db = client.database("pytake_archive");
    // The traces the API answered came from MongoDB, with a BSON date for the TTL index.
    let stored = documents(&db, "traces", doc! {"conversation_id": &conversation}).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored[0].get_datetime("at").is_ok());
    // Every raw delivery, as received.
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = documents(&db, "deliveries", doc! {}).await;
        if deliveries.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let bodies: Vec<&str> = deliveries.iter().filter_map(|d| d.get_str("body").ok()).collect();
    assert!(bodies.iter().any(|b| b.contains("A-1234") && b.contains(contact)), "{bodies:?}");
    assert!(deliveries.iter().all(|d| d.get_datetime("received_at").is_ok()));
    // Audit entries are shipped from the SQL log (which keeps them whatever MongoDB does).
    let mut audit = Vec::new();
    for _ in 0..200 {
        audit = documents(&db, "audit", doc! {"action": "flow.published"}).await;
        if !audit.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].get_str("org_id").unwrap(), t.org_id);
    let sql_audit = app.get("/api/v1/audit?entity_type=flow", &t.admin.token).await.expect(200).body;
    assert!(sql_audit["items"].as_array().unwrap().iter().any(|a| a["action"] == "flow.published"));
    // The TTL indexes the retention settings ask for.
    let delivery_indexes = db.collection::<Document>("deliveries").list_index_names().await.unwrap();
    assert!(delivery_indexes.contains(&"received_at_ttl".to_string()), "{delivery_indexes:?}");
    let trace_indexes = db.collection::<Document>("traces").list_index_names().await.unwrap();
    assert!(trace_indexes.contains(&"at_ttl".to_string()) && trace_indexes.contains(&"conversation".to_string()));
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pytake_archive_records_total{sink=\"mongodb\",kind=\"delivery\",outcome=\"written\"}"));
}
