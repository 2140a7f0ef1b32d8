//! The archive writer task: drains the queue in batches (up to `batch_size`, or whatever came
//! within `flush_interval`), retries a failed batch a few times with backoff and then counts it
//! lost, ships audit entries from the SQL audit log behind a cursor, and prunes old traces.

use super::{ArchiveError, ArchiveOptions, ArchiveSink, ArchiveStats, AuditCopy, Record};
use crate::db::Db;
use crate::repo::audit;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

const ATTEMPTS: u32 = 3;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

async fn with_retry<F, Fut>(what: &str, stats: &ArchiveStats, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ArchiveError>>,
{
    for n in 0..ATTEMPTS {
        match attempt().await {
            Ok(()) => return true,
            Err(e) if n + 1 == ATTEMPTS => {
                stats.write_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, "archive: writing {what} failed {ATTEMPTS} times; the batch is dropped");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200 * 4u64.pow(n))).await,
        }
    }
    false
}

struct AuditShipper {
    cursor: Option<Uuid>,
    loaded: bool,
}

impl AuditShipper {
    /// Ships every settled entry after the cursor, in batches; stops at the first failure (the
    /// entries stay in SQL and go next time).
    async fn ship(&mut self, sink: &dyn ArchiveSink, db: &Db, stats: &ArchiveStats, options: &ArchiveOptions) {
        let batch = options.batch_size;
        if !self.loaded {
            match sink.audit_cursor().await {
                Ok(c) => (self.cursor, self.loaded) = (c, true),
                Err(e) => return tracing::warn!(error = %e, "archive: cannot read the audit cursor"),
            }
        }
        for _ in 0..10 {
            let settled = chrono::Utc::now() - options.audit_settle;
            let rows = match db.conn().await {
                Ok(mut c) => audit::after(&mut c, self.cursor, settled, batch as u32).await,
                Err(e) => Err(e),
            };
            let rows = match rows {
                Ok(rows) if rows.is_empty() => return,
                Ok(rows) => rows,
                Err(e) => return tracing::warn!(error = %e, "archive: cannot read the audit log"),
            };
            let copies: Vec<AuditCopy> = rows
                .iter()
                .map(|r| AuditCopy {
                    audit_id: r.id,
                    org_id: r.organization_id,
                    actor_user_id: r.actor_user_id,
                    action: r.action.clone(),
                    entity_type: r.entity_type.clone(),
                    entity_id: r.entity_id,
                    before: r.before_state.as_ref().map(|j| j.0.clone()),
                    after: r.after_state.as_ref().map(|j| j.0.clone()),
                    ip: r.ip.clone(),
                    request_id: r.request_id.clone(),
                    at: r.created_at,
                })
                .collect();
            let last = copies.last().map(|c| c.audit_id);
            if !with_retry("audit entries", stats, || sink.write_audit(&copies)).await {
                return;
            }
            if let Some(last) = last {
                if let Err(e) = sink.save_audit_cursor(last).await {
                    tracing::warn!(error = %e, "archive: cannot save the audit cursor (entries may be shipped twice)");
                }
                self.cursor = Some(last);
            }
            stats.audit_shipped.fetch_add(copies.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if copies.len() < batch {
                return;
            }
        }
    }
}

pub(super) async fn run(
    sink: Arc<dyn ArchiveSink>,
    db: Db,
    mut queue: mpsc::Receiver<Record>,
    stats: Arc<ArchiveStats>,
    options: ArchiveOptions,
) {
    let mut shipper = AuditShipper { cursor: None, loaded: false };
    let mut last_ship = Instant::now();
    let mut last_prune = Instant::now();
    let mut prepared = false;
    let mut next_prepare = Instant::now();
    loop {
        let (mut deliveries, mut traces) = (Vec::new(), Vec::new());
        let mut push = |r: Record| match r {
            Record::Delivery(d) => deliveries.push(d),
            Record::Trace(t) => traces.push(*t),
        };
        let closed = match tokio::time::timeout(options.flush_interval, queue.recv()).await {
            Ok(Some(r)) => {
                push(r);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        };
        let mut taken = 1;
        while taken < options.batch_size {
            match queue.try_recv() {
                Ok(r) => {
                    push(r);
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        if !prepared && Instant::now() >= next_prepare {
            match sink.prepare().await {
                Ok(()) => prepared = true,
                Err(e) => {
                    next_prepare = Instant::now() + Duration::from_secs(30);
                    tracing::warn!(error = %e, sink = sink.name(), "archive: cannot prepare the sink yet (retrying in 30 s)");
                }
            }
        }
        if !deliveries.is_empty() {
            if with_retry("deliveries", &stats, || sink.write_deliveries(&deliveries)).await {
                stats.deliveries_written.fetch_add(deliveries.len() as u64, std::sync::atomic::Ordering::Relaxed);
            } else {
                stats.deliveries_dropped.fetch_add(deliveries.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if !traces.is_empty() {
            if with_retry("traces", &stats, || sink.write_traces(&traces)).await {
                stats.traces_written.fetch_add(traces.len() as u64, std::sync::atomic::Ordering::Relaxed);
            } else {
                stats.traces_dropped.fetch_add(traces.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if db.is_closed() {
            return;
        }
        if sink.wants_audit() && (closed || last_ship.elapsed() >= options.flush_interval) {
            shipper.ship(sink.as_ref(), &db, &stats, &options).await;
            last_ship = Instant::now();
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            match sink.prune(chrono::Utc::now()).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "archive: pruned old traces"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "archive: prune failed"),
            }
        }
        if closed {
            return;
        }
    }
}
