//! Runtime counters: activations, passivations, restarts, processed and parked items.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct RuntimeStats {
    pub activations: AtomicU64,
    pub passivations: AtomicU64,
    pub restarts: AtomicU64,
    pub processed: AtomicU64,
    pub retries: AtomicU64,
    pub parked: AtomicU64,
    pub dropped_deliveries: AtomicU64,
    pub events: AtomicU64,
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
    pub restarts: u64,
    pub processed: u64,
    pub retries: u64,
    pub parked: u64,
    /// Deliveries that found a full mailbox (left in the store and picked up later).
    pub dropped_deliveries: u64,
    pub events: u64,
    /// Items queued in conversation actors, in total and in the fullest one.
    pub mailbox_total: usize,
    pub mailbox_max: usize,
}
