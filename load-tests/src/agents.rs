//! `pytake-load agents`: agent sockets. Three measures, each against the real server:
//! 1. memory per idle socket: the server's RSS (from /proc, `--server-pid`) with 0 and then each
//!    of `--sockets` authenticated, idle sockets open; the slope is bytes per socket;
//! 2. webhook -> agent frame latency: `--latency-sockets` sockets watch the organization while
//!    signed deliveries arrive open loop at `--rate`; each `message.created` frame is timed from its
//!    delivery's intended send time;
//! 3. fan-out: `--watchers` sockets watch one organization while deliveries arrive at
//!    `--fanout-rate`; frames delivered per second across all of them.

use crate::api::Api;
use crate::chart::Timeline;
use crate::report::{Percentiles, write_json};
use futures_util::{SinkExt, StreamExt};
use pytake_load::fake_graph::sign;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Clone)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The app secret that signs deliveries (set on the number created for the run).
    #[arg(long)]
    app_secret: String,
    #[arg(long, env = "PYTAKE_LOAD_EMAIL")]
    email: String,
    #[arg(long, env = "PYTAKE_LOAD_PASSWORD")]
    password: String,
    /// The server's process id, to read its memory (skips the memory measure when absent).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Idle socket counts to measure memory at, ascending.
    #[arg(long, value_delimiter = ',', default_value = "5000,15000")]
    sockets: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    latency_sockets: usize,
    /// Deliveries per second for the latency measure.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds at the start of the latency measure left out of `frame_latency_after_warmup`.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Deliveries per second for the fan-out measure.
    #[arg(long, default_value_t = 100)]
    fanout_rate: u64,
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only the memory measure (one node of a cluster, see scripts/bench-sockets.sh).
    #[arg(long)]
    memory_only: bool,
    /// Seconds to keep the last count of idle sockets open after measuring it (so that several
    /// generators' sockets are open at the same time).
    #[arg(long, default_value_t = 0)]
    hold: u64,
}

#[derive(Debug, Default, Serialize)]
struct AgentsResult {
    scenario: &'static str,
    label: String,
    /// (sockets open, server RSS in KiB).
    memory: Vec<(usize, u64)>,
    bytes_per_socket: Option<f64>,
    latency_sockets: usize,
    rate: u64,
    frames_timed: u64,
    frame_latency: Percentiles,
    /// Frames of deliveries meant to be sent after the first `--warmup` seconds (the first
    /// seconds create every contact and conversation of the run: the cold path).
    frame_latency_after_warmup: Percentiles,
    /// The latency phase's deliveries: intended send time to the 200.
    ack_latency: Percentiles,
    /// The server's own arrival-to-committed figures for the latency phase (`/health/actors`).
    server_item_latency_ms: Value,
    /// Per second of the latency phase, by intended send time: frame latency percentiles.
    frame_seconds: Vec<crate::chart::Second>,
    /// Per second of the latency phase: acknowledgement latency percentiles.
    ack_seconds: Vec<crate::chart::Second>,
    watchers: usize,
    fanout_rate: u64,
    fanout_frames: u64,
    fanout_frames_per_sec: f64,
    fanout_closed_early: u64,
    verdict: &'static str,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Called with every frame a socket reads.
type FrameHook = Arc<dyn Fn(&Value) + Send + Sync>;

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What every socket reports to the run.
#[derive(Default)]
struct Tally {
    ready: AtomicU64,
    frames: AtomicU64,
    closed: AtomicU64,
}

/// Opens an authenticated socket from a loopback source address (spreading sockets over several
/// addresses keeps clear of the ephemeral port range) and reads it until told to stop.
async fn open_socket(
    ws_url: String,
    server: SocketAddr,
    source: u8,
    token: String,
    tally: Arc<Tally>,
    on_frame: Option<FrameHook>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)), 0))?;
    let stream = socket.connect(server).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(ws_url, tokio_tungstenite::MaybeTlsStream::Plain(stream)).await?;
    ws.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await?;
    let mut stop = stop;
    let mut ready = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    if !ready {
                        ready = true;
                        tally.ready.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    tally.frames.fetch_add(1, Ordering::Relaxed);
                    if let Some(f) = &on_frame
                        && let Ok(v) = serde_json::from_str::<Value>(t.as_str())
                    {
                        f(&v);
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

struct Fleet {
    stop: tokio::sync::watch::Sender<bool>,
    tally: Arc<Tally>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    fn new() -> Self {
        Fleet { stop: tokio::sync::watch::channel(false).0, tally: Arc::default(), tasks: Vec::new() }
    }

    /// Opens sockets until `n` are ready (at most 200 handshakes at a time).
    async fn grow_to(
        &mut self,
        n: usize,
        base: &str,
        token: &str,
        on_frame: Option<FrameHook>,
    ) -> Result<(), BoxError> {
        let server: SocketAddr = base.trim_start_matches("http://").parse()?;
        let ws_url = format!("{}/api/v1/ws", base.replacen("http", "ws", 1));
        let gate = Arc::new(Semaphore::new(200));
        while self.tasks.len() < n {
            let i = self.tasks.len();
            let permit = gate.clone().acquire_owned().await?;
            let (ws_url, token, tally, on_frame, stop) =
                (ws_url.clone(), token.to_string(), self.tally.clone(), on_frame.clone(), self.stop.subscribe());
            let source = 1 + (i % 8) as u8;
            self.tasks.push(tokio::spawn(async move {
                let before = tally.ready.load(Ordering::Relaxed);
                let run = open_socket(ws_url, server, source, token, tally.clone(), on_frame, stop);
                tokio::pin!(run);
                // Release the handshake slot once this socket is ready (or failed).
                let mut permit = Some(permit);
                loop {
                    tokio::select! {
                        r = &mut run => {
                            if let Err(e) = r {
                                eprintln!("socket {i}: {e}");
                            }
                            break;
                        }
                        _ = tokio::time::sleep(Duration::from_millis(20)), if permit.is_some() => {
                            if tally.ready.load(Ordering::Relaxed) > before {
                                permit = None;
                            }
                        }
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while (self.tally.ready.load(Ordering::Relaxed) as usize) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ready = self.tally.ready.load(Ordering::Relaxed) as usize;
        if ready < n {
            return Err(format!("only {ready} of {n} sockets became ready").into());
        }
        Ok(())
    }

    async fn close(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Sends `rate` deliveries per second for `duration` seconds, one text message each, its body
/// `"{tag}{seq}"`, the first at `start`; returns each delivery's intended send time. With `acks`,
/// each 200 is recorded there (latency from the intended send time).
#[allow(clippy::too_many_arguments)]
async fn drive(
    client: &reqwest::Client,
    base: &str,
    pnid: &str,
    secret: &str,
    tag: &str,
    rate: u64,
    duration: u64,
    start: Instant,
    acks: Option<Arc<Timeline>>,
) -> Vec<Instant> {
    let total = rate * duration;
    let url = format!("{base}/api/v1/webhooks/meta");
    let mut intended = Vec::with_capacity(total as usize);
    let mut tasks = Vec::new();
    for seq in 0..total {
        let at = start + Duration::from_nanos(seq * 1_000_000_000 / rate.max(1));
        intended.push(at);
        tokio::time::sleep_until(at.into()).await;
        let contact = format!("66{:010}", seq % 1000);
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid},
            "contacts": [{"profile": {"name": "Load"}, "wa_id": contact}],
            "messages": [{"from": contact, "id": format!("wamid.AG.{tag}.{seq}"), "timestamp": chrono::Utc::now().timestamp().to_string(),
                          "type": "text", "text": {"body": format!("{tag}{seq}")}}]
        }}]}]})
        .to_string();
        let (client, url, signature) = (client.clone(), url.clone(), sign(secret, body.as_bytes()));
        let acks = acks.clone();
        tasks.push(tokio::spawn(async move {
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            if let (Some(acks), Ok(r)) = (acks, sent)
                && r.status().is_success()
            {
                let done = Instant::now();
                acks.record(at, done, done.saturating_duration_since(at).as_micros() as u64);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    intended
}

pub async fn run(args: Args) -> Result<bool, BoxError> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(512).timeout(Duration::from_secs(30)).build()?;
    let base = args.url.trim_end_matches('/').to_string();
    let api = Api::login(&base, client.clone(), &args.email, &args.password, None).await?;
    let pnid = format!("7{}", rand::rng().random_range(10_000_000_000u64..99_999_999_999));
    api.post("/api/v1/whatsapp/numbers", &json!({"phone_number_id": pnid, "app_secret": args.app_secret})).await?;
    let mut result = AgentsResult {
        scenario: "agents",
        label: args.label.clone(),
        latency_sockets: args.latency_sockets,
        rate: args.rate,
        watchers: args.watchers,
        fanout_rate: args.fanout_rate,
        ..Default::default()
    };

    // 1. Memory per idle socket.
    if let Some(pid) = args.server_pid {
        tokio::time::sleep(Duration::from_secs(1)).await;
        result.memory.push((0, rss_kib(pid).unwrap_or(0)));
        let mut fleet = Fleet::new();
        for &n in &args.sockets {
            fleet.grow_to(n, &base, &api.token, None).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let rss = rss_kib(pid).unwrap_or(0);
            println!("{n} idle sockets: server RSS {rss} KiB");
            result.memory.push((n, rss));
        }
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
        fleet.close().await;
        // The next measure starts once the server has let every one of these sockets go (closing
        // thousands of sockets is work of its own, not the latency under test).
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let open = api.actor_health().await.ok().and_then(|h| h["agent_sessions"].as_u64());
            if open == Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let (Some(first), Some(last)) = (result.memory.get(1), result.memory.last())
            && last.0 > first.0
        {
            result.bytes_per_socket = Some((last.1 as f64 - first.1 as f64) * 1024.0 / (last.0 - first.0) as f64);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    if args.memory_only {
        result.verdict = "PASS";
        write_json(args.json.as_deref(), &result)?;
        println!(
            "| agents {} | idle socket {} B | memory only | PASS |",
            args.label,
            result.bytes_per_socket.map_or("-".to_string(), |b| format!("{b:.0}"))
        );
        return Ok(true);
    }

    // 2. Webhook -> frame latency.
    let sent_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let timed = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(200);
    let frame_timeline = Arc::new(Timeline::new(start));
    let ack_timeline = Arc::new(Timeline::new(start));
    let on_frame: FrameHook = {
        let (sent_at, timed, frame_timeline) = (sent_at.clone(), timed.clone(), frame_timeline.clone());
        Arc::new(move |f: &Value| {
            if f["type"] != "message.created" {
                return;
            }
            let Some(seq) =
                f["data"]["text"].as_str().and_then(|t| t.strip_prefix("lat")).and_then(|s| s.parse::<usize>().ok())
            else {
                return;
            };
            let now = Instant::now();
            let at = sent_at.lock().ok().and_then(|s| s.get(seq).copied());
            if let Some(at) = at {
                let micros = now.saturating_duration_since(at).as_micros() as u64;
                frame_timeline.record(at, now, micros);
                timed.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut watchers = Fleet::new();
    watchers.grow_to(args.latency_sockets, &base, &api.token, Some(on_frame)).await?;
    // Intended times are known before sending: fill them first so early frames find theirs.
    let total = args.rate * args.duration;
    let times: Vec<Instant> =
        (0..total).map(|s| start + Duration::from_nanos(s * 1_000_000_000 / args.rate.max(1))).collect();
    if let Ok(mut s) = sent_at.lock() {
        *s = times;
    }
    let acks = Some(ack_timeline.clone());
    drive(&client, &base, &pnid, &args.app_secret, "lat", args.rate, args.duration, start, acks).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    watchers.close().await;
    result.frames_timed = timed.load(Ordering::Relaxed);
    result.frame_latency = frame_timeline.percentiles();
    result.frame_latency_after_warmup = frame_timeline.percentiles_since(args.warmup as usize);
    result.frame_seconds = frame_timeline.seconds();
    result.ack_seconds = ack_timeline.seconds();
    result.ack_latency = ack_timeline.percentiles();
    result.server_item_latency_ms =
        api.actor_health().await.map(|h| h["actors"]["item_latency_ms"].clone()).unwrap_or_default();
    println!(
        "latency: {} frames on {} sockets at {}/s: p50 {} ms, p99 {} ms (after {} s: p50 {} ms, p99 {} ms); acks p50 {} ms, p99 {} ms; server arrival to committed {}",
        result.frames_timed,
        args.latency_sockets,
        args.rate,
        result.frame_latency.p50_ms,
        result.frame_latency.p99_ms,
        args.warmup,
        result.frame_latency_after_warmup.p50_ms,
        result.frame_latency_after_warmup.p99_ms,
        result.ack_latency.p50_ms,
        result.ack_latency.p99_ms,
        result.server_item_latency_ms
    );
    for s in &result.frame_seconds {
        println!("  second {}: frames p50 {} ms, p99 {} ms", s.second, s.p50_ms, s.p99_ms);
    }

    // 3. Fan-out to many sockets of one organization.
    let mut fans = Fleet::new();
    fans.grow_to(args.watchers, &base, &api.token, None).await?;
    let before = fans.tally.frames.load(Ordering::Relaxed);
    let start = Instant::now();
    drive(&client, &base, &pnid, &args.app_secret, "fan", args.fanout_rate, args.duration, start, None).await;
    // Until every socket has its frames (or 30 s).
    let expected_min = args.fanout_rate * args.duration * args.watchers as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while fans.tally.frames.load(Ordering::Relaxed) - before < expected_min && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    result.fanout_frames = fans.tally.frames.load(Ordering::Relaxed) - before;
    result.fanout_frames_per_sec = (result.fanout_frames as f64 / elapsed * 10.0).round() / 10.0;
    result.fanout_closed_early = fans.tally.closed.load(Ordering::Relaxed);
    fans.close().await;
    println!(
        "fan-out: {} frames to {} sockets in {elapsed:.1} s ({:.0}/s), {} closed early",
        result.fanout_frames, args.watchers, result.fanout_frames_per_sec, result.fanout_closed_early
    );

    let ok = result.frames_timed >= args.rate * args.duration * args.latency_sockets as u64
        && result.fanout_closed_early == 0
        && result.fanout_frames >= expected_min;
    result.verdict = if ok { "PASS" } else { "FAIL" };
    write_json(args.json.as_deref(), &result)?;
    println!(
        "| agents {} | idle socket {} B | frame p50/p99 {} / {} ms at {}/s | fan-out {:.0} frames/s to {} sockets | {} |",
        args.label,
        result.bytes_per_socket.map_or("-".to_string(), |b| format!("{b:.0}")),
        result.frame_latency.p50_ms,
        result.frame_latency.p99_ms,
        args.rate,
        result.fanout_frames_per_sec,
        args.watchers,
        result.verdict
    );
    Ok(ok)
}
