//! `pytake-load consoles`: admin sockets that behave like the browser console through a fault —
//! reconnect with backoff, resume with `last_seq` and `stream`, reload on `resync` — and report
//! whether each one came back to live events after the fault (a server killed, Redis away).

use crate::api::Api;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(clap::Args)]
pub struct Args {
    /// The node the consoles connect to.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// An admin of the organization (the consoles watch all of it).
    #[arg(long, env = "PYTAKE_LOAD_EMAIL")]
    email: String,
    #[arg(long, env = "PYTAKE_LOAD_PASSWORD")]
    password: String,
    /// Sockets to keep open.
    #[arg(long, default_value_t = 20)]
    sockets: usize,
    /// Seconds to keep them open (the fault happens meanwhile).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Where to write the JSON result.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What one socket lived through.
#[derive(Debug, Default, Clone, Serialize)]
struct SocketLog {
    /// Times the socket was ready again after losing its connection.
    reconnects: u64,
    /// `resync` frames (at a reconnect to a new stream, or when the node's bus returned).
    resyncs: u64,
    /// `message.created` frames in all, and since the last reconnect or resync.
    messages: u64,
    messages_since_disruption: u64,
    /// The longest time without a ready connection, milliseconds.
    longest_gap_ms: u64,
    /// When the last disruption (a lost connection or a resync) was noticed, ms into the run.
    disrupted_at_ms: Option<u64>,
}

#[derive(Debug, Default, Serialize)]
struct ConsolesResult {
    scenario: &'static str,
    sockets: usize,
    duration_secs: u64,
    /// Sockets that lost their connection or were told to resync at least once.
    disrupted: usize,
    /// Of those, the ones that received live `message.created` frames afterwards.
    resumed: usize,
    reconnects: u64,
    resyncs: u64,
    messages: u64,
    longest_gap_ms: u64,
    /// The last disruption seen by any socket, ms into the run.
    last_disruption_ms: Option<u64>,
    verdict: &'static str,
}

/// One console: connect, authenticate (resuming where it was), read; on any loss, back off and
/// reconnect, as `src/console/app.js` does.
async fn console(ws_url: String, token: String, log: Arc<Mutex<SocketLog>>, started: Instant, until: Instant) {
    let ms = |at: Instant| at.duration_since(started).as_millis() as u64;
    let (mut last_seq, mut stream): (Option<u64>, Option<String>) = (None, None);
    let mut lost_at: Option<Instant> = None;
    let mut backoff = Duration::from_millis(100);
    while Instant::now() < until {
        let connected = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(&ws_url)).await;
        let Ok(Ok((mut ws, _))) = connected else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        let auth = json!({"type": "auth", "token": token, "last_seq": last_seq, "stream": stream});
        if ws.send(Message::text(auth.to_string())).await.is_err() {
            continue;
        }
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            let frame = match tokio::time::timeout(remaining, ws.next()).await {
                Err(_) => {
                    let _ = ws.close(None).await;
                    return;
                }
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(_))) => continue,
                Ok(_) => break,
            };
            let Ok(frame) = serde_json::from_str::<Value>(frame.as_str()) else { continue };
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            match frame["type"].as_str() {
                Some("ready") => {
                    backoff = Duration::from_millis(100);
                    stream = frame["data"]["stream"].as_str().map(String::from);
                    if let Some(at) = lost_at.take() {
                        log.reconnects += 1;
                        log.longest_gap_ms = log.longest_gap_ms.max(at.elapsed().as_millis() as u64);
                        log.messages_since_disruption = 0;
                        log.disrupted_at_ms = Some(ms(Instant::now()));
                    }
                }
                Some("resync") => {
                    log.resyncs += 1;
                    log.messages_since_disruption = 0;
                    log.disrupted_at_ms = Some(ms(Instant::now()));
                }
                Some("message.created") => {
                    log.messages += 1;
                    log.messages_since_disruption += 1;
                }
                _ => {}
            }
            if let Some(seq) = frame["seq"].as_u64() {
                last_seq = Some(seq);
            }
        }
        lost_at.get_or_insert_with(Instant::now);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

pub async fn run(args: Args) -> Result<bool, BoxError> {
    let base = args.url.trim_end_matches('/').to_string();
    let api = Api::login(&base, reqwest::Client::new(), &args.email, &args.password, None).await?;
    let ws_url = format!("{}/api/v1/ws", base.replacen("http", "ws", 1));
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    let logs: Vec<Arc<Mutex<SocketLog>>> = (0..args.sockets).map(|_| Arc::default()).collect();
    let tasks: Vec<_> = logs
        .iter()
        .map(|log| tokio::spawn(console(ws_url.clone(), api.token.clone(), log.clone(), started, until)))
        .collect();
    println!("{} consoles on {base} for {} s", args.sockets, args.duration);
    for t in tasks {
        let _ = t.await;
    }
    let logs: Vec<SocketLog> = logs.iter().map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect();
    let disrupted: Vec<&SocketLog> = logs.iter().filter(|l| l.disrupted_at_ms.is_some()).collect();
    let resumed = disrupted.iter().filter(|l| l.messages_since_disruption > 0).count();
    let result = ConsolesResult {
        scenario: "consoles",
        sockets: args.sockets,
        duration_secs: args.duration,
        disrupted: disrupted.len(),
        resumed,
        reconnects: logs.iter().map(|l| l.reconnects).sum(),
        resyncs: logs.iter().map(|l| l.resyncs).sum(),
        messages: logs.iter().map(|l| l.messages).sum(),
        longest_gap_ms: logs.iter().map(|l| l.longest_gap_ms).max().unwrap_or(0),
        last_disruption_ms: logs.iter().filter_map(|l| l.disrupted_at_ms).max(),
        verdict: if resumed == disrupted.len() { "PASS" } else { "FAIL" },
    };
    println!(
        "consoles: {} sockets, {} disrupted, {} resumed live events after it; {} reconnects (longest gap {} ms), {} resyncs, {} message frames -> {}",
        result.sockets,
        result.disrupted,
        result.resumed,
        result.reconnects,
        result.longest_gap_ms,
        result.resyncs,
        result.messages,
        result.verdict
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(result.verdict == "PASS")
}
