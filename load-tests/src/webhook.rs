//! The webhook scenario: signed, realistic deliveries at a fixed rate (open loop: each delivery has
//! an intended send time, and latency is measured from it, so a stalled server cannot hide queueing),
//! with batches, duplicates and out-of-order statuses. Afterwards it waits for the inbox to drain and
//! reconciles what the server stored against what it acknowledged: lost and double-processed
//! messages must both be 0.

use crate::api::Api;
use crate::report::{Percentiles, histogram, percentiles, write_json};
use futures_util::StreamExt;
use pytake_load::fake_graph::sign;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The app secret that signs deliveries (the number's own, or meta.app_secret).
    #[arg(long)]
    app_secret: String,
    /// Deliveries per second to send.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Distinct contacts (conversations) to spread deliveries over.
    #[arg(long, default_value_t = 1000)]
    conversations: u64,
    /// Share of deliveries that repeat an earlier one byte for byte (Meta's redeliveries).
    #[arg(long, default_value_t = 0.05)]
    dup_ratio: f64,
    /// Share of deliveries that batch 2-5 items.
    #[arg(long, default_value_t = 0.1)]
    batch_ratio: f64,
    /// Share of items that are statuses (sent, delivered and read in shuffled order).
    #[arg(long, default_value_t = 0.1)]
    status_ratio: f64,
    /// The number to deliver to; created (with --app-secret) when absent.
    #[arg(long)]
    phone_number_id: Option<String>,
    /// An admin of the number's organization, for setup and reconciliation.
    #[arg(long, env = "PYTAKE_LOAD_EMAIL")]
    email: String,
    #[arg(long, env = "PYTAKE_LOAD_PASSWORD")]
    password: String,
    /// Bearer token for /health/actors (when the server sets ops.token).
    #[arg(long, env = "PYTAKE_OPS_TOKEN")]
    ops_token: Option<String>,
    /// Requests in flight at most (beyond it, latency from the intended time keeps counting).
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// Seconds to wait for the inbox to drain after sending.
    #[arg(long, default_value_t = 300)]
    drain_timeout: u64,
    /// Behave as Meta does when a delivery is not acknowledged: send it again (every second, for
    /// up to this many seconds) until it gets a 200. For fault runs (a server killed or a
    /// database stopped mid-run): the verdict then needs every delivery acknowledged in the end,
    /// and every acknowledged message stored exactly once.
    #[arg(long, default_value_t = 0)]
    redeliver_for: u64,
    /// Draw the run's latency and throughput per second as an SVG chart here.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Label for the result (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// Where to write the JSON result.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
struct WebhookResult {
    scenario: &'static str,
    label: String,
    target_rate: u64,
    duration_secs: u64,
    conversations: u64,
    sent: u64,
    acked: u64,
    failed: u64,
    status_counts: HashMap<u16, u64>,
    duplicates_sent: u64,
    /// Deliveries that needed redelivery (fault runs), and how many were still unacknowledged.
    redelivered: u64,
    never_acked: u64,
    acks_per_sec: f64,
    ack_latency: Percentiles,
    drain_secs: f64,
    server_item_latency_ms: Value,
    messages_expected: u64,
    messages_found: u64,
    lost: u64,
    double_processed: u64,
    verdict: &'static str,
    /// Acknowledgement latency per second of the run (where the tail comes from).
    seconds: Vec<crate::chart::Second>,
}

struct Delivery {
    body: String,
    /// (contact, wamid) of each new message in it.
    messages: Vec<(u64, String)>,
    duplicate: bool,
}

struct Generator {
    run: String,
    pnid: String,
    seq: u64,
    sent_bodies: Vec<String>,
}

impl Generator {
    fn wa_id(contact: u64) -> String {
        format!("5511{:09}", contact)
    }

    fn message(&mut self, contact: u64, rng: &mut impl Rng) -> (Value, String) {
        self.seq += 1;
        let wamid = format!("wamid.LOAD.{}.{}", self.run, self.seq);
        let wa = Self::wa_id(contact);
        let ts = (chrono::Utc::now().timestamp()).to_string();
        let roll: f64 = rng.random();
        let m = if roll < 0.70 {
            json!({"from": wa, "id": wamid, "timestamp": ts, "type": "text", "text": {"body": format!("hello {}", self.seq)}})
        } else if roll < 0.80 {
            json!({"from": wa, "id": wamid, "timestamp": ts, "type": "image",
                   "image": {"caption": "photo", "mime_type": "image/jpeg", "sha256": "abc", "id": format!("media{}", self.seq)}})
        } else if roll < 0.87 {
            json!({"from": wa, "id": wamid, "timestamp": ts, "type": "interactive",
                   "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}})
        } else if roll < 0.94 {
            json!({"from": wa, "id": wamid, "timestamp": ts, "type": "location",
                   "location": {"latitude": -23.55, "longitude": -46.63, "name": "Sé"}})
        } else {
            json!({"from": wa, "id": wamid, "timestamp": ts, "type": "reaction",
                   "reaction": {"message_id": "wamid.someone", "emoji": "👍"}})
        };
        (m, wamid)
    }

    /// Statuses for a message id nobody sent (out of order): the server keeps them apart and drops
    /// them as orphans without holding up the conversation.
    fn statuses(&mut self, contact: u64, rng: &mut impl Rng) -> Vec<Value> {
        self.seq += 1;
        let wamid = format!("wamid.OUT.{}.{}", self.run, self.seq);
        let mut list = vec!["sent", "delivered", "read"];
        for i in (1..list.len()).rev() {
            list.swap(i, rng.random_range(0..=i));
        }
        let base = chrono::Utc::now().timestamp();
        list.into_iter()
            .take(rng.random_range(1..=3))
            .enumerate()
            .map(|(i, s)| json!({"id": wamid, "status": s, "timestamp": (base + i as i64).to_string(), "recipient_id": Self::wa_id(contact)}))
            .collect()
    }

    fn next(&mut self, args: &Args, rng: &mut impl Rng) -> Delivery {
        if !self.sent_bodies.is_empty() && rng.random::<f64>() < args.dup_ratio {
            let i = rng.random_range(0..self.sent_bodies.len());
            return Delivery { body: self.sent_bodies[i].clone(), messages: Vec::new(), duplicate: true };
        }
        let items = if rng.random::<f64>() < args.batch_ratio { rng.random_range(2..=5) } else { 1 };
        let mut messages_json = Vec::new();
        let mut statuses_json = Vec::new();
        let mut contacts_json = Vec::new();
        let mut messages = Vec::new();
        for _ in 0..items {
            let contact = rng.random_range(0..args.conversations.max(1));
            if rng.random::<f64>() < args.status_ratio {
                statuses_json.extend(self.statuses(contact, rng));
            } else {
                let (m, wamid) = self.message(contact, rng);
                messages_json.push(m);
                contacts_json
                    .push(json!({"profile": {"name": format!("Load {contact}")}, "wa_id": Self::wa_id(contact)}));
                messages.push((contact, wamid));
            }
        }
        let mut value = json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": self.pnid}});
        if !messages_json.is_empty() {
            value["contacts"] = json!(contacts_json);
            value["messages"] = json!(messages_json);
        }
        if !statuses_json.is_empty() {
            value["statuses"] = json!(statuses_json);
        }
        let body = json!({"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]})
        .to_string();
        if self.sent_bodies.len() < 10_000 {
            self.sent_bodies.push(body.clone());
        }
        Delivery { body, messages, duplicate: false }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(args: Args) -> Result<bool, BoxError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = args.url.trim_end_matches('/').to_string();
    let api = Api::login(&base, client.clone(), &args.email, &args.password, args.ops_token.clone()).await?;
    let pnid = match &args.phone_number_id {
        Some(p) => p.clone(),
        None => {
            let pnid = format!("9{}", rand::rng().random_range(10_000_000_000u64..99_999_999_999));
            let n = api
                .post("/api/v1/whatsapp/numbers", &json!({"phone_number_id": pnid, "app_secret": args.app_secret}))
                .await?;
            println!("created number {pnid} ({})", n["id"].as_str().unwrap_or("?"));
            pnid
        }
    };
    let number_id = api
        .all("/api/v1/whatsapp/numbers")
        .await?
        .into_iter()
        .find(|n| n["phone_number_id"] == pnid.as_str())
        .and_then(|n| n["id"].as_str().map(String::from))
        .ok_or("the number is not in the admin's organization")?;

    let total = args.rate * args.duration;
    let mut generator = Generator {
        run: uuid::Uuid::now_v7().simple().to_string()[..8].to_string(),
        pnid: pnid.clone(),
        seq: 0,
        sent_bodies: Vec::new(),
    };
    let latency = Arc::new(Mutex::new(histogram()));
    let statuses: Arc<Mutex<HashMap<u16, u64>>> = Arc::default();
    let acked_messages: Arc<Mutex<HashMap<u64, Vec<String>>>> = Arc::default();
    let unacked: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let limiter = Arc::new(Semaphore::new(args.max_in_flight));
    let url = format!("{base}/api/v1/webhooks/meta");
    let mut rng = rand::rng();
    let mut duplicates = 0u64;
    let mut tasks = Vec::with_capacity(total as usize);
    println!("sending {total} deliveries at {}/s for {} s to {url}", args.rate, args.duration);
    let start = Instant::now();
    let timeline = Arc::new(crate::chart::Timeline::new(start));
    for i in 0..total {
        let intended = start + Duration::from_nanos(i * 1_000_000_000 / args.rate.max(1));
        tokio::time::sleep_until(intended.into()).await;
        let delivery = generator.next(&args, &mut rng);
        duplicates += u64::from(delivery.duplicate);
        let permit = limiter.clone().acquire_owned().await?;
        let (client, url, secret) = (client.clone(), url.clone(), args.app_secret.clone());
        let (latency, statuses, acked) = (latency.clone(), statuses.clone(), acked_messages.clone());
        let unacked = unacked.clone();
        let timeline = timeline.clone();
        tasks.push(tokio::spawn(async move {
            let signature = sign(&secret, delivery.body.as_bytes());
            let result = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(delivery.body.clone())
                .send()
                .await;
            let done = Instant::now();
            let code = match result {
                Ok(r) => {
                    let code = r.status().as_u16();
                    let _ = r.bytes().await;
                    code
                }
                Err(_) => 0,
            };
            let micros = done.saturating_duration_since(intended).as_micros() as u64;
            let _ = latency.lock().map(|mut h| h.saturating_record(micros.max(1)));
            if let Ok(mut s) = statuses.lock() {
                *s.entry(code).or_default() += 1;
            }
            if code == 200 {
                timeline.record(intended, done, micros);
                if let Ok(mut a) = acked.lock() {
                    for (contact, wamid) in delivery.messages {
                        a.entry(contact).or_default().push(wamid);
                    }
                }
            } else if let Ok(mut u) = unacked.lock() {
                u.push(delivery);
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let status_counts = statuses.lock().map(|s| s.clone()).unwrap_or_default();
    let acked = status_counts.get(&200).copied().unwrap_or(0);
    let ack_latency = latency.lock().map(|h| percentiles(&h)).unwrap_or_default();
    println!(
        "sent {total} in {elapsed:.1} s: {acked} acknowledged ({:.0}/s), ack latency p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        acked as f64 / elapsed,
        ack_latency.p50_ms,
        ack_latency.p99_ms,
        ack_latency.p999_ms,
        ack_latency.max_ms
    );

    // Meta's redelivery of whatever was not acknowledged (fault runs).
    let mut pending: Vec<Delivery> = unacked.lock().map(|mut u| std::mem::take(&mut *u)).unwrap_or_default();
    let redelivered = pending.len() as u64;
    let redeliver_until = Instant::now() + Duration::from_secs(args.redeliver_for);
    if args.redeliver_for > 0 && !pending.is_empty() {
        println!(
            "redelivering {} unacknowledged deliveries (every second, for up to {} s)",
            pending.len(),
            args.redeliver_for
        );
    }
    while args.redeliver_for > 0 && !pending.is_empty() && Instant::now() < redeliver_until {
        let round = futures_util::stream::iter(pending.into_iter().map(|d| {
            let (client, url, secret) = (client.clone(), url.clone(), args.app_secret.clone());
            async move {
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sign(&secret, d.body.as_bytes()))
                    .body(d.body.clone())
                    .send()
                    .await;
                (r.map(|r| r.status().as_u16()).unwrap_or(0), d)
            }
        }))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
        pending = Vec::new();
        for (code, d) in round {
            if let Ok(mut s) = statuses.lock() {
                *s.entry(code).or_default() += 1;
            }
            if code == 200 {
                if let Ok(mut a) = acked_messages.lock() {
                    for (contact, wamid) in d.messages {
                        a.entry(contact).or_default().push(wamid);
                    }
                }
            } else {
                pending.push(d);
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let never_acked = if args.redeliver_for > 0 { pending.len() as u64 } else { total - acked };

    // Drain.
    let mut health = loop {
        // After a restart the server may still be starting: wait for it.
        match api.actor_health().await {
            Ok(h) => break h,
            Err(_) if Instant::now() < redeliver_until => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e.into()),
        }
    };
    let drain_start = Instant::now();
    while health["inbox_backlog"].as_i64().unwrap_or(1) > 0 {
        if drain_start.elapsed() > Duration::from_secs(args.drain_timeout) {
            println!("the inbox did not drain within {} s: {}", args.drain_timeout, health["inbox_backlog"]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        health = api.actor_health().await?;
    }
    let drain_secs = drain_start.elapsed().as_secs_f64();
    println!(
        "inbox drained {drain_secs:.1} s after the last acknowledgement; server item latency {}",
        health["actors"]["item_latency_ms"]
    );

    // Reconcile: every acknowledged message stored exactly once, and counted once.
    let acked_messages = acked_messages.lock().map(|a| a.clone()).unwrap_or_default();
    let expected: u64 = acked_messages.values().map(|v| v.len() as u64).sum();
    let api = Arc::new(api);
    let checks = futures_util::stream::iter(acked_messages.into_iter().map(|(contact, wamids)| {
        let api = api.clone();
        let number_id = number_id.clone();
        async move {
            let wa = Generator::wa_id(contact);
            let convs = api.all(&format!("/api/v1/conversations?contact_wa_id={wa}&number_id={number_id}")).await?;
            let mut found: HashMap<String, u64> = HashMap::new();
            let mut unread = 0;
            for c in &convs {
                unread += c["unread_count"].as_i64().unwrap_or(0);
                let id = c["id"].as_str().unwrap_or_default();
                for m in api.all(&format!("/api/v1/conversations/{id}/messages")).await? {
                    if let Some(w) = m["wamid"].as_str() {
                        *found.entry(w.to_string()).or_default() += 1;
                    }
                }
            }
            let present = wamids.iter().filter(|w| found.contains_key(*w)).count() as u64;
            let lost = wamids.len() as u64 - present;
            let stored_twice: u64 = found.values().map(|n| n.saturating_sub(1)).sum();
            let counted_twice = (unread as u64).saturating_sub(found.len() as u64);
            Ok::<_, crate::api::ApiError>((present, lost, stored_twice + counted_twice))
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    let (mut found, mut lost, mut double) = (0, 0, 0);
    for c in checks {
        let (f, l, d) = c?;
        found += f;
        lost += l;
        double += d;
    }
    let ok = lost == 0 && double == 0 && never_acked == 0;
    let result = WebhookResult {
        scenario: "webhook",
        label: args.label.clone(),
        target_rate: args.rate,
        duration_secs: args.duration,
        conversations: args.conversations,
        sent: total,
        acked,
        failed: total - acked,
        status_counts,
        duplicates_sent: duplicates,
        redelivered,
        never_acked,
        acks_per_sec: (acked as f64 / elapsed * 10.0).round() / 10.0,
        ack_latency,
        drain_secs: (drain_secs * 10.0).round() / 10.0,
        server_item_latency_ms: health["actors"]["item_latency_ms"].clone(),
        messages_expected: expected,
        messages_found: found,
        lost,
        double_processed: double,
        verdict: if ok { "PASS" } else { "FAIL" },
        seconds: timeline.seconds(),
    };
    println!(
        "reconciliation: {expected} acknowledged messages, {found} stored, lost {lost}, double-processed {double} -> {}",
        result.verdict
    );
    println!(
        "| webhook {} | {} /s x {} s, {} conv, dup {} | {:.0} acks/s | {} / {} / {} ms | drain {:.1} s | lost {} double {} |",
        result.label,
        result.target_rate,
        result.duration_secs,
        result.conversations,
        args.dup_ratio,
        result.acks_per_sec,
        result.ack_latency.p50_ms,
        result.ack_latency.p99_ms,
        result.ack_latency.p999_ms,
        result.drain_secs,
        lost,
        double
    );
    write_json(args.json.as_deref(), &result)?;
    if let Some(path) = &args.chart {
        let title = format!("webhook {} /s x {} s {}", args.rate, args.duration, args.label);
        crate::chart::draw(path, title.trim(), "acknowledgements", &timeline.seconds())?;
    }
    Ok(ok)
}
