//! The archive: raw webhook deliveries, audit copies and flow execution traces, kept off the hot
//! path in MongoDB (when `mongodb.url` is set) or the SQL database. Producers hand records to a
//! bounded queue and never wait: when it is full, trace and delivery copies are counted and
//! dropped (the delivery itself is already stored in SQL). Audit entries are never queued: the
//! writer ships them from the SQL audit log, which is written in the same transaction as the change
//! it records, so none is lost whatever happens to MongoDB.

pub mod mongo;
pub mod sql;
mod writer;

use crate::db::{Db, StoreError};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::ports::FlowTrace;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("mongodb: {0}")]
    Mongo(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A raw webhook delivery as the archive keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryCopy {
    pub delivery_id: Uuid,
    pub received_at: DateTime<Utc>,
    /// The body as received (lossy UTF-8 for the odd invalid byte).
    pub body: String,
    pub outcome: String,
    pub source_ip: Option<String>,
}

/// An audit entry as shipped to the archive (from the SQL audit log).
#[derive(Clone, Debug, Serialize)]
pub struct AuditCopy {
    pub audit_id: Uuid,
    pub org_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// Where the archive writes: MongoDB or the SQL database.
#[async_trait::async_trait]
pub trait ArchiveSink: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Creates what the sink needs (indexes, TTLs); called once at start.
    async fn prepare(&self) -> Result<(), ArchiveError>;
    /// Whether raw deliveries are copied to this sink (the SQL sink already holds them).
    fn wants_deliveries(&self) -> bool;
    async fn write_deliveries(&self, batch: &[DeliveryCopy]) -> Result<(), ArchiveError>;
    async fn write_traces(&self, batch: &[FlowTrace]) -> Result<(), ArchiveError>;
    /// Whether audit entries are copied to this sink (the SQL sink already holds them).
    fn wants_audit(&self) -> bool;
    async fn write_audit(&self, batch: &[AuditCopy]) -> Result<(), ArchiveError>;
    /// The last audit id shipped (kept by the sink, so a restart resumes).
    async fn audit_cursor(&self) -> Result<Option<Uuid>, ArchiveError>;
    async fn save_audit_cursor(&self, id: Uuid) -> Result<(), ArchiveError>;
    /// Removes what outlived its retention where the sink has no TTL of its own; returns how many.
    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, ArchiveError>;
    /// A conversation's traces, oldest first.
    async fn traces(&self, org: OrgId, conversation: Uuid, limit: u32) -> Result<Vec<Value>, ArchiveError>;
}

/// Counters of what the archive took, wrote, dropped and failed, by kind (`/metrics`).
#[derive(Debug, Default)]
pub struct ArchiveStats {
    pub deliveries_written: AtomicU64,
    pub deliveries_dropped: AtomicU64,
    pub traces_written: AtomicU64,
    pub traces_dropped: AtomicU64,
    pub audit_shipped: AtomicU64,
    pub write_failures: AtomicU64,
}

impl ArchiveStats {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Prometheus text lines.
    pub fn render(&self, sink: &str) -> String {
        let rows = [
            ("written", "delivery", &self.deliveries_written),
            ("dropped", "delivery", &self.deliveries_dropped),
            ("written", "trace", &self.traces_written),
            ("dropped", "trace", &self.traces_dropped),
            ("written", "audit", &self.audit_shipped),
        ];
        let mut out = String::from("# TYPE pytake_archive_records_total counter\n");
        for (outcome, kind, n) in rows {
            out.push_str(&format!(
                "pytake_archive_records_total{{sink=\"{sink}\",kind=\"{kind}\",outcome=\"{outcome}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# TYPE pytake_archive_write_failures_total counter\npytake_archive_write_failures_total{{sink=\"{sink}\"}} {}\n",
            self.write_failures.load(Ordering::Relaxed)
        ));
        out
    }
}

pub(crate) enum Record {
    Delivery(DeliveryCopy),
    Trace(Box<FlowTrace>),
}

/// How the writer batches and retains.
#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    pub traces: bool,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: std::time::Duration,
    pub trace_retention: chrono::Duration,
    pub delivery_retention: chrono::Duration,
    pub audit_settle: chrono::Duration,
}

impl ArchiveOptions {
    pub fn from_settings(s: &crate::config::ArchiveSettings) -> Self {
        ArchiveOptions {
            traces: s.traces,
            queue_capacity: s.queue_capacity,
            batch_size: s.batch_size,
            flush_interval: std::time::Duration::from_millis(s.flush_interval_ms),
            trace_retention: chrono::Duration::days(i64::from(s.trace_retention_days)),
            delivery_retention: chrono::Duration::days(i64::from(s.delivery_retention_days)),
            audit_settle: chrono::Duration::seconds(i64::from(s.audit_settle_secs)),
        }
    }
}

/// The producers' handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Archive {
    queue: mpsc::Sender<Record>,
    traces: bool,
    pub stats: Arc<ArchiveStats>,
    sink: Arc<dyn ArchiveSink>,
}

impl Archive {
    /// Starts the writer task over `sink` (it prepares the sink before its first write) and returns the handle.
    pub fn start(sink: Arc<dyn ArchiveSink>, db: Db, options: ArchiveOptions) -> Archive {
        let (queue, rx) = mpsc::channel(options.queue_capacity);
        let stats = Arc::new(ArchiveStats::default());
        tokio::spawn(writer::run(sink.clone(), db, rx, stats.clone(), options.clone()));
        Archive { queue, traces: options.traces, stats, sink }
    }

    pub fn sink_name(&self) -> &'static str {
        self.sink.name()
    }

    /// Copies a raw delivery (already stored in SQL) to the archive, or counts it dropped. `copy`
    /// is only called when the sink keeps deliveries.
    pub fn delivery(&self, copy: impl FnOnce() -> DeliveryCopy) {
        if !self.sink.wants_deliveries() {
            return;
        }
        if self.queue.try_send(Record::Delivery(copy())).is_err() {
            ArchiveStats::add(&self.stats.deliveries_dropped, 1);
        }
    }

    /// A conversation's traces from the sink.
    pub async fn traces(&self, org: OrgId, conversation: Uuid, limit: u32) -> Result<Vec<Value>, ArchiveError> {
        self.sink.traces(org, conversation, limit).await
    }
}

impl pytake_actors::ports::Archive for Archive {
    fn traces_enabled(&self) -> bool {
        self.traces
    }

    fn trace(&self, trace: FlowTrace) {
        if self.traces && self.queue.try_send(Record::Trace(Box::new(trace))).is_err() {
            ArchiveStats::add(&self.stats.traces_dropped, 1);
        }
    }
}

/// Connects the sink the settings name: MongoDB with `mongodb.url`, else SQL.
pub async fn from_settings(settings: &crate::config::Settings, db: Db) -> Result<Archive, ArchiveError> {
    let options = ArchiveOptions::from_settings(&settings.archive);
    let sink: Arc<dyn ArchiveSink> = match &settings.mongodb.url {
        Some(url) => Arc::new(mongo::MongoSink::connect(url.expose(), &options).await?),
        None => Arc::new(sql::SqlSink::new(db.clone(), options.trace_retention)),
    };
    Ok(Archive::start(sink, db, options))
}

#[cfg(test)]
mod tests;
