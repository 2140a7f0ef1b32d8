//! The archive's logic through its trait: batching, never blocking, dropping and counting when
//! full, retrying a failing sink, shipping audit entries from SQL exactly once behind the cursor.

use super::*;
use crate::config::{DatabaseSettings, SecretString};
use crate::repo::audit::{self as audit_repo, AuditRow};
use pytake_actors::ports::Archive as _;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<usize>>,
    traces: Mutex<Vec<FlowTrace>>,
    deliveries: Mutex<Vec<DeliveryCopy>>,
    audit: Mutex<Vec<AuditCopy>>,
    cursor: Mutex<Option<Uuid>>,
    /// While set, writes wait (a slow MongoDB).
    stall: AtomicBool,
    /// Writes fail this many more times.
    failures: AtomicU64,
}

#[async_trait::async_trait]
impl ArchiveSink for Arc<Recorder> {
    fn name(&self) -> &'static str {
        "recorder"
    }
    async fn prepare(&self) -> Result<(), ArchiveError> {
        Ok(())
    }
    fn wants_deliveries(&self) -> bool {
        true
    }
    async fn write_deliveries(&self, batch: &[DeliveryCopy]) -> Result<(), ArchiveError> {
        self.deliveries.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
    async fn write_traces(&self, batch: &[FlowTrace]) -> Result<(), ArchiveError> {
        while self.stall.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(ArchiveError::Mongo("connection refused".into()));
        }
        self.batches.lock().unwrap().push(batch.len());
        self.traces.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
    fn wants_audit(&self) -> bool {
        true
    }
    async fn write_audit(&self, batch: &[AuditCopy]) -> Result<(), ArchiveError> {
        self.audit.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
    async fn audit_cursor(&self) -> Result<Option<Uuid>, ArchiveError> {
        Ok(*self.cursor.lock().unwrap())
    }
    async fn save_audit_cursor(&self, id: Uuid) -> Result<(), ArchiveError> {
        *self.cursor.lock().unwrap() = Some(id);
        Ok(())
    }
    async fn prune(&self, _: DateTime<Utc>) -> Result<u64, ArchiveError> {
        Ok(0)
    }
    async fn traces(&self, _: OrgId, _: Uuid, _: u32) -> Result<Vec<Value>, ArchiveError> {
        Ok(Vec::new())
    }
}

async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("archive.db").display());
    let db = Db::connect(&DatabaseSettings {
        url: SecretString::new(url),
        max_connections: 2,
        min_connections: 0,
        hot_path_connections: 1,
        acquire_timeout_secs: 5,
    })
    .await
    .unwrap();
    db.migrate().await.unwrap();
    (db, dir)
}

fn options(capacity: usize, batch: usize) -> ArchiveOptions {
    ArchiveOptions {
        traces: true,
        queue_capacity: capacity,
        batch_size: batch,
        flush_interval: Duration::from_millis(20),
        trace_retention: chrono::Duration::days(1),
        delivery_retention: chrono::Duration::days(1),
        audit_settle: chrono::Duration::seconds(10),
    }
}

fn trace(n: usize) -> FlowTrace {
    FlowTrace {
        org_id: Uuid::now_v7(),
        conversation_id: Uuid::now_v7(),
        flow_id: Uuid::now_v7(),
        version_id: None,
        input: serde_json::json!({"type": "message", "text": format!("m{n}")}),
        entered: vec!["start".into(), format!("node{n}")],
        effects: serde_json::json!([]),
        duration_us: 12,
        at: Utc::now(),
    }
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn traces_are_written_in_bounded_batches_in_order() {
    let (db, _dir) = sqlite().await;
    let sink = Arc::new(Recorder::default());
    sink.stall.store(true, Ordering::SeqCst);
    let archive = Archive::start(Arc::new(sink.clone()), db, options(1000, 40));
    for n in 0..100 {
        archive.trace(trace(n));
    }
    sink.stall.store(false, Ordering::SeqCst);
    until("every trace", || sink.traces.lock().unwrap().len() == 100).await;
    assert!(sink.batches.lock().unwrap().iter().all(|&b| b <= 40), "{:?}", sink.batches.lock().unwrap());
    let texts: Vec<String> =
        sink.traces.lock().unwrap().iter().map(|t| t.input["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts, (0..100).map(|n| format!("m{n}")).collect::<Vec<_>>());
    assert_eq!(archive.stats.traces_written.load(Ordering::Relaxed), 100);
    assert_eq!(archive.stats.traces_dropped.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let (db, _dir) = sqlite().await;
    let sink = Arc::new(Recorder::default());
    sink.stall.store(true, Ordering::SeqCst);
    let archive = Archive::start(Arc::new(sink.clone()), db, options(10, 5));
    tokio::time::sleep(Duration::from_millis(50)).await; // the writer is now stuck on a write
    let started = std::time::Instant::now();
    for n in 0..1000 {
        archive.trace(trace(n));
        archive.delivery(|| DeliveryCopy {
            delivery_id: Uuid::now_v7(),
            received_at: Utc::now(),
            body: "{}".into(),
            outcome: "accepted".into(),
            source_ip: None,
        });
    }
    // A producer never waits for the archive.
    assert!(started.elapsed() < Duration::from_secs(1), "producers were blocked");
    let dropped =
        archive.stats.traces_dropped.load(Ordering::Relaxed) + archive.stats.deliveries_dropped.load(Ordering::Relaxed);
    assert!(dropped >= 1990 - 20, "dropped {dropped}");
    sink.stall.store(false, Ordering::SeqCst);
    let written = || {
        archive.stats.traces_written.load(Ordering::Relaxed) + archive.stats.deliveries_written.load(Ordering::Relaxed)
    };
    until("the queued records", || written() + dropped == 2000).await;
}

#[tokio::test]
async fn a_failing_sink_is_retried_then_the_batch_is_counted_lost() {
    let (db, _dir) = sqlite().await;
    let sink = Arc::new(Recorder::default());
    sink.failures.store(2, Ordering::SeqCst);
    let archive = Archive::start(Arc::new(sink.clone()), db.clone(), options(100, 100));
    archive.trace(trace(1));
    until("the retried write", || sink.traces.lock().unwrap().len() == 1).await;
    assert_eq!(archive.stats.write_failures.load(Ordering::Relaxed), 0, "two failures, then success");
    sink.failures.store(3, Ordering::SeqCst);
    archive.trace(trace(2));
    until("the failure counted", || archive.stats.write_failures.load(Ordering::Relaxed) == 1).await;
    assert_eq!(archive.stats.traces_dropped.load(Ordering::Relaxed), 1);
    archive.trace(trace(3));
    until("the next write", || sink.traces.lock().unwrap().len() == 2).await;
}

#[tokio::test]
async fn audit_entries_are_shipped_from_sql_once_settled_and_once_only() {
    let (db, _dir) = sqlite().await;
    let row = |age_secs: i64| AuditRow {
        id: Uuid::now_v7(),
        organization_id: None,
        actor_user_id: None,
        action: "user.updated".into(),
        entity_type: "user".into(),
        entity_id: None,
        before_state: None,
        after_state: Some(sqlx::types::Json(serde_json::json!({"role": "agent"}))),
        ip: None,
        request_id: None,
        created_at: Utc::now() - chrono::Duration::seconds(age_secs),
    };
    let old = [row(60), row(30)];
    let fresh = row(0);
    {
        let mut c = db.conn().await.unwrap();
        for r in old.iter().chain([&fresh]) {
            audit_repo::insert(&mut c, r).await.unwrap();
        }
    }
    let sink = Arc::new(Recorder::default());
    let archive = Archive::start(Arc::new(sink.clone()), db.clone(), options(100, 100));
    until("the settled entries", || sink.audit.lock().unwrap().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shipped: Vec<Uuid> = sink.audit.lock().unwrap().iter().map(|a| a.audit_id).collect();
    assert_eq!(shipped, old.iter().map(|r| r.id).collect::<Vec<_>>(), "the fresh entry waits to settle");
    assert_eq!(*sink.cursor.lock().unwrap(), Some(old[1].id));
    assert_eq!(archive.stats.audit_shipped.load(Ordering::Relaxed), 2);
    // A restart resumes from the saved cursor: nothing is shipped twice.
    let again = Archive::start(Arc::new(sink.clone()), db, options(100, 100));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.audit.lock().unwrap().len(), 2);
    assert_eq!(again.stats.audit_shipped.load(Ordering::Relaxed), 0);
}
