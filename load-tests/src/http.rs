//! The HTTP floor: `GET /health/live` (no database, no auth) as fast as `--connections` closed-loop
//! clients can go. What the stack itself costs per request; every other scenario sits above it.

use crate::chart::{Timeline, draw};
use crate::report::{Percentiles, histogram, percentiles, write_json};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Concurrent clients, each sending its next request when the last is answered.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long)]
    chart: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct HttpResult {
    scenario: &'static str,
    label: String,
    connections: usize,
    duration_secs: u64,
    requests: u64,
    errors: u64,
    requests_per_sec: f64,
    latency: Percentiles,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(args: Args) -> Result<bool, BoxError> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    let url = format!("{}/health/live", args.url.trim_end_matches('/'));
    let start = Instant::now();
    let until = start + Duration::from_secs(args.duration);
    let timeline = Arc::new(Timeline::new(start));
    let latency = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let (client, url, timeline, latency, errors) =
                (client.clone(), url.clone(), timeline.clone(), latency.clone(), errors.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let sent = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let done = Instant::now();
                    if ok {
                        let micros = done.duration_since(sent).as_micros() as u64;
                        timeline.record(sent, done, micros);
                        let _ = latency.lock().map(|mut h| h.saturating_record(micros.max(1)));
                    } else {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let latency = latency.lock().map(|h| percentiles(&h)).unwrap_or_default();
    let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
    let result = HttpResult {
        scenario: "http",
        label: args.label.clone(),
        connections: args.connections,
        duration_secs: args.duration,
        requests: latency.count,
        errors,
        requests_per_sec: (latency.count as f64 / elapsed).round(),
        latency,
    };
    println!(
        "| http floor {} | {} connections x {} s | {:.0} req/s | {} / {} / {} ms | errors {} |",
        result.label,
        result.connections,
        result.duration_secs,
        result.requests_per_sec,
        result.latency.p50_ms,
        result.latency.p99_ms,
        result.latency.p999_ms,
        errors
    );
    write_json(args.json.as_deref(), &result)?;
    if let Some(path) = &args.chart {
        draw(path, &format!("http floor, {} connections", args.connections), "requests", &timeline.seconds())?;
    }
    Ok(errors == 0)
}
