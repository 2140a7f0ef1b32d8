//! Runtime counters: activations, passivations, restarts, processed and parked items.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

#[derive(Default, Debug)]
pub struct RuntimeStats {
    pub activations: AtomicU64,
    pub passivations: AtomicU64,
    /// Activated ahead of their next item, with their state read in batches (after a start).
    pub prewarmed: AtomicU64,
    pub restarts: AtomicU64,
    pub processed: AtomicU64,
    pub retries: AtomicU64,
    pub parked: AtomicU64,
    pub dropped_deliveries: AtomicU64,
    pub orphans: AtomicU64,
    pub events: AtomicU64,
    /// From an item's arrival (its UUIDv7 id carries the time) to its effects being committed.
    pub item_latency: LatencyHistogram,
}

impl RuntimeStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A point-in-time view for `/health/actors`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatsSnapshot {
    pub org_actors: usize,
    /// Conversation actors: active now, activated, passivated and restarted since start.
    pub conversation_actors: usize,
    pub activations: u64,
    pub passivations: u64,
    pub prewarmed: u64,
    pub restarts: u64,
    pub processed: u64,
    pub retries: u64,
    pub parked: u64,
    /// Deliveries that found a full mailbox (left in the store and picked up later).
    pub dropped_deliveries: u64,
    /// Statuses dropped because no message of ours had their wamid.
    pub orphans: u64,
    pub events: u64,
    /// Arrival-to-committed latency of processed items, milliseconds.
    pub item_latency_ms: LatencySummary,
    /// Items queued in conversation actors, in total and in the fullest one.
    pub mailbox_total: usize,
    pub mailbox_max: usize,
}

const BUCKETS: usize = 72;
const FIRST_BOUND_US: f64 = 100.0;
const GROWTH: f64 = 1.25;

/// A lock-free latency histogram with buckets growing by 25 % from 100 µs (about 10 minutes at the
/// top); percentiles are reported as bucket upper bounds, so within 25 %.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), count: AtomicU64::new(0) }
    }
}

fn bound_us(i: usize) -> f64 {
    FIRST_BOUND_US * GROWTH.powi(i as i32)
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

impl LatencyHistogram {
    pub fn record(&self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let i = if us <= FIRST_BOUND_US { 0 } else { ((us / FIRST_BOUND_US).ln() / GROWTH.ln()).ceil() as usize };
        self.buckets[i.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the time since the UUIDv7 `id` was made.
    pub fn record_since_id(&self, id: Uuid, now: DateTime<Utc>) {
        if let Some(ts) = id.get_timestamp() {
            let (secs, nanos) = ts.to_unix();
            if let Some(made) = DateTime::from_timestamp(secs as i64, nanos) {
                self.record((now - made).to_std().unwrap_or_default());
            }
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let at = |q: f64| {
            if total == 0 {
                return 0.0;
            }
            let rank = (q * total as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return (bound_us(i) / 1000.0 * 100.0).round() / 100.0;
                }
            }
            bound_us(BUCKETS - 1) / 1000.0
        };
        LatencySummary { count: total, p50: at(0.50), p99: at(0.99), p999: at(0.999) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_bucket() {
        let h = LatencyHistogram::default();
        for ms in 1..=1000 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((500.0..=625.0).contains(&s.p50), "{s:?}");
        assert!((990.0..=1250.0).contains(&s.p99), "{s:?}");
    }
}
