//! The end-to-end scenario: signed text messages at a fixed rate (open loop) to a number whose bot
//! answers every message (a question that loops on itself, so each answer is persisted flow state)
//! through the outbox to an in-process fake Graph API. A reply's latency runs from its inbound
//! message's intended send time to the reply's arrival at the fake Graph API. Optionally the fake
//! sends Meta's status webhooks (sent, delivered, read) for every reply it accepts.

use crate::api::Api;
use crate::report::{Percentiles, histogram, percentiles, write_json};
use pytake_load::fake_graph::{FakeGraph, StatusWebhook, sign};
use rand::Rng;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Where the fake Graph API listens; start the server with
    /// PYTAKE__META__GRAPH_BASE_URL=http://<this address>.
    #[arg(long, default_value = "127.0.0.1:9900")]
    graph_listen: SocketAddr,
    /// The app secret that signs deliveries (set on the number created for the run).
    #[arg(long)]
    app_secret: String,
    /// Inbound messages per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Distinct contacts (conversations) to spread messages over.
    #[arg(long, default_value_t = 1000)]
    conversations: u64,
    /// The number's outbound throughput (Meta's tiers: 80 standard, 1000 upgraded).
    #[arg(long, default_value_t = 1000)]
    number_mps: u32,
    /// Have the fake Graph API send sent/delivered/read webhooks for every reply.
    #[arg(long)]
    statuses: bool,
    /// An admin of the organization to set up in.
    #[arg(long, env = "PYTAKE_LOAD_EMAIL")]
    email: String,
    #[arg(long, env = "PYTAKE_LOAD_PASSWORD")]
    password: String,
    #[arg(long, env = "PYTAKE_OPS_TOKEN")]
    ops_token: Option<String>,
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// Seconds to wait for the last replies after sending.
    #[arg(long, default_value_t = 120)]
    drain_timeout: u64,
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    json: Option<PathBuf>,
    /// A Graph API storm (fault runs): the fake fails this many sends each with HTTP 503, Meta's
    /// 130429 (number throughput) and 131000 (generic, retryable), and enforces the number's
    /// `--number-mps` itself (130429 beyond it). Every reply must still arrive, exactly once.
    #[arg(long, default_value_t = 0)]
    storm: u32,
    /// Actor density and cold rehydration: before the timed phase, send one message to each of the
    /// `--conversations` contacts at `--activate-rate` (one conversation actor each) and wait for
    /// every reply; report the server's RSS (`--server-pid`) and actor count; then wait up to
    /// `--cold-wait` seconds for the server to passivate them (run it with a short
    /// `actors.idle_ttl_secs`), so that each message of the timed phase (one per contact while
    /// rate x duration <= conversations) wakes a cold actor.
    #[arg(long)]
    activate: bool,
    #[arg(long, default_value_t = 2000)]
    activate_rate: u64,
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 0)]
    cold_wait: u64,
    /// Print reply latency per second of sending (to see where a tail comes from).
    #[arg(long)]
    timeline: bool,
}

#[derive(Debug, Default, Serialize)]
struct FlowResult {
    scenario: &'static str,
    label: String,
    target_rate: u64,
    duration_secs: u64,
    conversations: u64,
    statuses: bool,
    sent: u64,
    acked: u64,
    acks_per_sec: f64,
    ack_latency: Percentiles,
    replies_expected: u64,
    replies: u64,
    replies_per_sec: f64,
    missing: u64,
    duplicated: u64,
    /// Inbound message (intended send time) -> its reply at the fake Graph API.
    reply_latency: Percentiles,
    /// Status webhooks the fake delivered (and failed to).
    status_callbacks: (u64, u64),
    messages_read: Option<u64>,
    /// Storm runs: send requests the fake received, those it failed, and the busiest second's
    /// requests for the number (the limiter's proof).
    graph_requests: u64,
    graph_failures: u64,
    busiest_second: u64,
    busiest_5s_per_sec: f64,
    /// Activation runs: actors woken, the server's RSS before, with them active and after their
    /// passivation (MiB), bytes per active actor, and the actor counts.
    density: Option<Density>,
    verdict: &'static str,
}

#[derive(Debug, Default, Serialize)]
struct Density {
    activated: u64,
    activation_secs: f64,
    actors_active: u64,
    actors_after_wait: u64,
    rss_before_mib: f64,
    rss_active_mib: f64,
    rss_after_wait_mib: f64,
    bytes_per_active_actor: f64,
}

/// One signed text delivery from `contact`.
fn text_delivery(pnid: &str, contact: &str, wamid: &str, text: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "Load"}, "wa_id": contact}],
        "messages": [{"from": contact, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                      "type": "text", "text": {"body": text}}]
    }}]}]})
    .to_string()
}

fn mib(kib: Option<u64>) -> f64 {
    kib.map_or(0.0, |k| (k as f64 / 1024.0 * 10.0).round() / 10.0)
}

/// Wakes one actor per contact and waits for all of them to answer; then waits for passivation.
async fn activate(
    args: &Args,
    api: &Api,
    client: &reqwest::Client,
    url: &str,
    pnid: &str,
    fake: &FakeGraph,
) -> Result<Density, BoxError> {
    let rss = || args.server_pid.and_then(crate::agents::rss_kib);
    let actors = || async {
        api.actor_health().await.ok().and_then(|h| h["actors"]["conversation_actors"].as_u64()).unwrap_or(0)
    };
    let mut d = Density { activated: args.conversations, rss_before_mib: mib(rss()), ..Density::default() };
    let run_id = uuid::Uuid::now_v7().simple().to_string()[..8].to_string();
    let start = Instant::now();
    let limiter = Arc::new(Semaphore::new(args.max_in_flight));
    let mut tasks = Vec::new();
    for i in 0..args.conversations {
        tokio::time::sleep_until((start + Duration::from_nanos(i * 1_000_000_000 / args.activate_rate.max(1))).into())
            .await;
        let body = text_delivery(pnid, &format!("77{i:010}"), &format!("wamid.WARM.{run_id}.{i}"), &format!("a{i}"));
        let permit = limiter.clone().acquire_owned().await?;
        let (client, url, secret) = (client.clone(), url.to_string(), args.app_secret.clone());
        tasks.push(tokio::spawn(async move {
            let _ = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sign(&secret, body.as_bytes()))
                .body(body)
                .send()
                .await;
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
    while (fake.accepted().len() as u64) < args.conversations && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.activation_secs = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    d.actors_active = actors().await;
    d.rss_active_mib = mib(rss());
    d.bytes_per_active_actor =
        ((d.rss_active_mib - d.rss_before_mib) * 1024.0 * 1024.0 / args.conversations.max(1) as f64).round();
    println!(
        "activated {} conversations in {} s: {} actors, server RSS {} -> {} MiB ({} bytes per actor)",
        args.conversations,
        d.activation_secs,
        d.actors_active,
        d.rss_before_mib,
        d.rss_active_mib,
        d.bytes_per_active_actor
    );
    let wait_until = Instant::now() + Duration::from_secs(args.cold_wait);
    d.actors_after_wait = actors().await;
    while args.cold_wait > 0 && d.actors_after_wait > args.conversations / 100 && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        d.actors_after_wait = actors().await;
    }
    d.rss_after_wait_mib = mib(rss());
    println!("after waiting for passivation: {} actors, server RSS {} MiB", d.actors_after_wait, d.rss_after_wait_mib);
    Ok(d)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The echo flow: a question that asks again with the last answer, forever.
fn echo_flow() -> serde_json::Value {
    json!({
        "name": "Load echo",
        "nodes": [
            {"id": "s", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
            {"id": "q", "type": "question", "position": {"x": 0, "y": 100},
             "data": {"questionText": "Got {{last_message}}.", "variableName": "answer"}}
        ],
        "edges": [{"id": "e1", "source": "s", "target": "q"}, {"id": "e2", "source": "q", "target": "q"}]
    })
}

pub async fn run(args: Args) -> Result<bool, BoxError> {
    let fake = FakeGraph::start_on(args.graph_listen, 2)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = args.url.trim_end_matches('/').to_string();
    let api = Api::login(&base, client.clone(), &args.email, &args.password, args.ops_token.clone()).await?;

    // Setup: a number that sends, the echo flow published, a default chatbot on the number.
    let pnid = format!("8{}", rand::rng().random_range(10_000_000_000u64..99_999_999_999));
    let number = api
        .post(
            "/api/v1/whatsapp/numbers",
            &json!({"phone_number_id": pnid, "app_secret": args.app_secret, "access_token": "load-test-token",
                    "messages_per_second": args.number_mps}),
        )
        .await?;
    let number_id = number["id"].as_str().unwrap_or_default().to_string();
    let flow = api.post("/api/v1/flows", &echo_flow()).await?;
    let flow_id = flow["id"].as_str().unwrap_or_default().to_string();
    api.post(&format!("/api/v1/flows/{flow_id}/publish"), &json!({})).await?;
    api.post(
        "/api/v1/chatbots",
        &json!({"name": "Load echo", "number_ids": [number_id], "main_flow_id": flow_id, "triggers": {"default": true}}),
    )
    .await?;
    if args.storm > 0 {
        use pytake_load::fake_graph::Fault;
        for fault in [Fault::Http(503), Fault::Meta(130429), Fault::Meta(131000)] {
            fake.inject(fault, None, args.storm);
        }
        fake.set_rate_limit(Some(args.number_mps));
    }
    if args.statuses {
        fake.set_status_webhook(Some(StatusWebhook::new(
            format!("{base}/api/v1/webhooks/meta"),
            args.app_secret.clone(),
        )));
    }
    println!("number {pnid}, echo flow {flow_id}; fake Graph API at {}", fake.base_url);
    let density = if args.activate {
        Some(activate(&args, &api, &client, &format!("{base}/api/v1/webhooks/meta"), &pnid, &fake).await?)
    } else {
        None
    };
    let warm_replies = fake.accepted().len() as u64;

    let total = args.rate * args.duration;
    let intended: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total as usize]));
    let ack_latency = Arc::new(Mutex::new(histogram()));
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let limiter = Arc::new(Semaphore::new(args.max_in_flight));
    let url = format!("{base}/api/v1/webhooks/meta");
    let run_id = uuid::Uuid::now_v7().simple().to_string()[..8].to_string();
    let mut tasks = Vec::with_capacity(total as usize);
    println!(
        "sending {total} messages at {}/s for {} s over {} conversations",
        args.rate, args.duration, args.conversations
    );
    let start = Instant::now();
    for seq in 0..total {
        let at = start + Duration::from_nanos(seq * 1_000_000_000 / args.rate.max(1));
        tokio::time::sleep_until(at.into()).await;
        let contact = format!("77{:010}", seq % args.conversations.max(1));
        let body = text_delivery(&pnid, &contact, &format!("wamid.LOAD.{run_id}.{seq}"), &format!("m{seq}"));
        if let Ok(mut i) = intended.lock() {
            i[seq as usize] = Some(at);
        }
        let permit = limiter.clone().acquire_owned().await?;
        let (client, url, secret) = (client.clone(), url.clone(), args.app_secret.clone());
        let (ack_latency, acked) = (ack_latency.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let signature = sign(&secret, body.as_bytes());
            let result = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            let ok = match result {
                Ok(r) => {
                    let ok = r.status().is_success();
                    let _ = r.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            if ok {
                acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let micros = Instant::now().saturating_duration_since(at).as_micros() as u64;
                let _ = ack_latency.lock().map(|mut h| h.saturating_record(micros.max(1)));
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let send_secs = start.elapsed().as_secs_f64();
    let acked = acked.load(std::sync::atomic::Ordering::Relaxed);
    let ack_latency = ack_latency.lock().map(|h| percentiles(&h)).unwrap_or_default();
    println!(
        "sent {total} in {send_secs:.1} s; {acked} acknowledged; ack p50 {} ms, p99 {} ms",
        ack_latency.p50_ms, ack_latency.p99_ms
    );

    // Wait for every reply (each inbound message gets exactly one).
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
    let replies_of =
        |fake: &FakeGraph| fake.accepted().into_iter().filter(|r| r.phone_number_id == pnid).count() as u64;
    while replies_of(&fake) < acked + warm_replies && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replies = fake.accepted();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut latency = histogram();
    let intended = intended.lock().map(|i| i.clone()).unwrap_or_default();
    let mut last_at = start;
    let mut per_second: Vec<hdrhistogram::Histogram<u64>> =
        (0..args.duration.max(1) + 1).map(|_| histogram()).collect();
    for r in replies.iter().filter(|r| r.phone_number_id == pnid) {
        let text = r.text();
        let Some(seq) =
            text.strip_prefix("Got m").and_then(|t| t.strip_suffix('.')).and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        *seen.entry(seq).or_default() += 1;
        if let Some(Some(at)) = intended.get(seq as usize) {
            let micros = r.received_at.saturating_duration_since(*at).as_micros().max(1) as u64;
            latency.saturating_record(micros);
            let second = (at.saturating_duration_since(start).as_secs() as usize).min(per_second.len() - 1);
            per_second[second].saturating_record(micros);
        }
        last_at = last_at.max(r.received_at);
    }
    if args.timeline {
        for (second, h) in per_second.iter().enumerate().filter(|(_, h)| !h.is_empty()) {
            let p = percentiles(h);
            println!(
                "  second {second:>3}: {:>5} replies, p50 {:>8} ms, p99 {:>8} ms, max {:>8} ms",
                p.count, p.p50_ms, p.p99_ms, p.max_ms
            );
        }
    }
    let reply_count = seen.values().map(|n| u64::from(*n)).sum::<u64>();
    let missing = acked.saturating_sub(seen.len() as u64);
    let duplicated = seen.values().map(|n| u64::from(n.saturating_sub(1))).sum::<u64>();
    let reply_secs = last_at.saturating_duration_since(start).as_secs_f64().max(send_secs);

    let messages_read = if args.statuses {
        // Wait for the last status webhooks to be delivered and processed, then count the replies
        // Meta "read".
        let expected_callbacks = reply_count * 3;
        while fake.callbacks().0 + fake.callbacks().1 < expected_callbacks && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut health = api.actor_health().await?;
        while health["inbox_backlog"].as_i64().unwrap_or(1) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            health = api.actor_health().await?;
        }
        Some(count_read(&api, &number_id).await?)
    } else {
        None
    };
    let requests: Vec<_> = fake.requests().into_iter().filter(|r| r.phone_number_id == pnid).collect();
    let graph_failures = requests.iter().filter(|r| r.http_status != 200).count() as u64;
    // Requests per second of the run, for the limiter's proof: the busiest second (a GCRA limiter
    // allows its burst on top of the rate there) and the busiest five seconds (the sustained rate).
    let mut per_second: Vec<u64> = Vec::new();
    if let Some(first) = requests.iter().map(|r| r.received_at).min() {
        for r in &requests {
            let i = r.received_at.duration_since(first).as_secs() as usize;
            if per_second.len() <= i {
                per_second.resize(i + 1, 0);
            }
            per_second[i] += 1;
        }
    }
    let busiest_second = per_second.iter().copied().max().unwrap_or(0);
    let busiest_5s_per_sec = per_second
        .windows(5.min(per_second.len()).max(1))
        .map(|w| w.iter().sum::<u64>() as f64 / w.len() as f64)
        .fold(0.0, f64::max);
    if args.storm > 0 {
        println!(
            "storm: {} send requests for {reply_count} replies, {graph_failures} failed by the fake; busiest second {busiest_second} requests, busiest 5 s {busiest_5s_per_sec:.1}/s (number limit {}/s)",
            requests.len(),
            args.number_mps
        );
    }
    let ok = missing == 0 && duplicated == 0 && acked == total && messages_read.is_none_or(|r| r == acked);
    let result = FlowResult {
        scenario: "flow",
        label: args.label.clone(),
        target_rate: args.rate,
        duration_secs: args.duration,
        conversations: args.conversations,
        statuses: args.statuses,
        sent: total,
        acked,
        acks_per_sec: (acked as f64 / send_secs * 10.0).round() / 10.0,
        ack_latency,
        replies_expected: acked,
        replies: reply_count,
        replies_per_sec: (reply_count as f64 / reply_secs * 10.0).round() / 10.0,
        missing,
        duplicated,
        reply_latency: percentiles(&latency),
        status_callbacks: fake.callbacks(),
        messages_read,
        graph_requests: requests.len() as u64,
        graph_failures,
        busiest_second,
        busiest_5s_per_sec,
        density,
        verdict: if ok { "PASS" } else { "FAIL" },
    };
    println!(
        "replies: {reply_count} of {acked} ({:.0}/s), missing {missing}, duplicated {duplicated}; webhook -> reply p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; statuses {:?} read {:?} -> {}",
        result.replies_per_sec,
        result.reply_latency.p50_ms,
        result.reply_latency.p90_ms,
        result.reply_latency.p99_ms,
        result.reply_latency.max_ms,
        result.status_callbacks,
        result.messages_read,
        result.verdict
    );
    println!(
        "| flow {} | {} /s x {} s, {} conv{} | {:.0} replies/s | {} / {} / {} ms | missing {} dup {} |",
        result.label,
        result.target_rate,
        result.duration_secs,
        result.conversations,
        if args.statuses { ", statuses" } else { "" },
        result.replies_per_sec,
        result.reply_latency.p50_ms,
        result.reply_latency.p90_ms,
        result.reply_latency.p99_ms,
        missing,
        duplicated
    );
    write_json(args.json.as_deref(), &result)?;
    Ok(ok)
}

/// Outbound messages of the number's conversations that reached `read`.
async fn count_read(api: &Api, number_id: &str) -> Result<u64, BoxError> {
    let convs = api.all(&format!("/api/v1/conversations?number_id={number_id}")).await?;
    let mut read = 0;
    for c in convs {
        let id = c["id"].as_str().unwrap_or_default();
        for m in api.all(&format!("/api/v1/conversations/{id}/messages")).await? {
            if m["direction"] == "outbound" && m["status"] == "read" {
                read += 1;
            }
        }
    }
    Ok(read)
}
