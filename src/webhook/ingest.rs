//! Group commit of webhook deliveries: handlers hand their delivery and items to the writer and wait;
//! the writer takes every delivery waiting at that moment and commits them in one transaction (a few
//! transactions in flight at once on PostgreSQL), answers each handler, then dispatches the new items
//! to their conversation actors. One commit carries many concurrent deliveries, so acknowledged
//! throughput is bounded by transactions, not by deliveries.

use crate::db::{Backend, Db, StoreError, WritePriority};
use crate::metrics::Metrics;
use crate::repo::inbox::{self, DeliveryRow, NewInboxItem};
use pytake_actors::domain::conversation::ConversationKey;
use pytake_actors::domain::inbound::InboxPayload;
use pytake_actors::ports::{Clock, InboxItem};
use pytake_actors::runtime::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// An item to store, with its parsed payload for dispatch.
pub struct PreparedItem {
    pub row: NewInboxItem,
    pub key: ConversationKey,
    pub payload: InboxPayload,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub new_items: usize,
    pub duplicates: usize,
}

struct Job {
    delivery: DeliveryRow,
    items: Vec<PreparedItem>,
    reply: oneshot::Sender<Result<Stored, IngestError>>,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum IngestError {
    /// The database cannot be reached: the delivery was not stored (Meta will retry).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The delivery could not be stored for another reason.
    #[error("cannot store the delivery: {0}")]
    Failed(String),
    #[error("the ingest writer has stopped")]
    Stopped,
}

impl From<&StoreError> for IngestError {
    fn from(e: &StoreError) -> Self {
        if e.is_unavailable() { IngestError::Unavailable(e.to_string()) } else { IngestError::Failed(e.to_string()) }
    }
}

#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

pub struct IngestConfig {
    pub max_batch: usize,
    pub writers: usize,
    pub queue: usize,
}

impl Ingest {
    /// Starts the writer on the current runtime.
    pub fn start(
        db: Db,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: IngestConfig,
    ) -> Ingest {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let writer = Writer { db, registry, clock, metrics, writers: Arc::new(Semaphore::new(config.writers.max(1))) };
        actix::spawn(writer.run(rx, config.max_batch.max(1)));
        Ingest { tx }
    }

    /// Stores a delivery and its items durably; returns once committed.
    pub async fn store(&self, delivery: DeliveryRow, items: Vec<PreparedItem>) -> Result<Stored, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { delivery, items, reply }).await.map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

struct Writer {
    db: Db,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    writers: Arc<Semaphore>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
        let me = Arc::new(self);
        while let Some(first) = rx.recv().await {
            // Wait for a free writer first: deliveries arriving meanwhile join this batch.
            let Ok(permit) = me.writers.clone().acquire_owned().await else { return };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let writer = me.clone();
            actix::spawn(async move {
                writer.commit_batch(batch).await;
                drop(permit);
            });
        }
    }

    async fn commit_batch(&self, batch: Vec<Job>) {
        let started = Instant::now();
        self.metrics.add("pytake_ingest_batches_total", "", 1);
        self.metrics.add("pytake_ingest_batched_deliveries_total", "", batch.len() as u64);
        match self.write(&batch).await {
            Ok(results) => {
                self.metrics.observe("pytake_ingest_commit_seconds", started.elapsed());
                self.finish(batch, results);
            }
            Err(e) if batch.len() > 1 && !e.is_unavailable() => {
                // One bad delivery must not fail the others: commit them one by one.
                self.metrics.add("pytake_ingest_batch_retries_total", "", 1);
                tracing::warn!(error = %e, size = batch.len(), "batch commit failed; retrying deliveries one by one");
                for job in batch {
                    let one = vec![job];
                    match self.write(&one).await {
                        Ok(results) => self.finish(one, results),
                        Err(e) => fail(one, e),
                    }
                }
            }
            Err(e) => fail(batch, e),
        }
    }

    /// Stores the whole batch atomically: one statement on PostgreSQL (no transaction around it:
    /// one round trip, and the dedup-key locks are held only while it runs), one `BEGIN IMMEDIATE`
    /// transaction ahead of ordinary writers on SQLite. Returns, per job, which of its items were new.
    async fn write(&self, batch: &[Job]) -> Result<Vec<Vec<bool>>, StoreError> {
        let now = self.clock.now();
        let deliveries: Vec<&DeliveryRow> = batch.iter().map(|j| &j.delivery).collect();
        let mut items: Vec<(uuid::Uuid, &NewInboxItem)> =
            batch.iter().flat_map(|j| j.items.iter().map(move |i| (j.delivery.id, &i.row))).collect();
        // Rows are inserted in this order, so every batch takes its dedup-key locks in the same
        // order: two batches holding the same redelivered keys wait for each other instead of
        // deadlocking (PostgreSQL detects a deadlock only after `deadlock_timeout`, a 1 s stall,
        // then one batch fails and is retried delivery by delivery; seen at 3,000/s).
        items.sort_by(|a, b| a.1.dedup_key.cmp(&b.1.dedup_key));
        let inserted = if self.db.backend() == Backend::Postgres {
            let mut c = self.db.hot_conn().await?;
            inbox::insert_batch(&mut c, &deliveries, &items, now).await?
        } else {
            let mut tx = self.db.begin_with(WritePriority::Urgent).await?;
            let inserted = inbox::insert_batch(&mut tx, &deliveries, &items, now).await?;
            tx.commit().await?;
            inserted
        };
        Ok(batch.iter().map(|j| j.items.iter().map(|i| inserted.contains(&i.row.id)).collect()).collect())
    }

    /// Answers the handlers, then hands the new items to their actors, oldest first per conversation.
    fn finish(&self, batch: Vec<Job>, results: Vec<Vec<bool>>) {
        let mut by_key: BTreeMap<ConversationKey, Vec<InboxItem>> = BTreeMap::new();
        for (job, new) in batch.into_iter().zip(results) {
            let stored = Stored {
                new_items: new.iter().filter(|n| **n).count(),
                duplicates: new.iter().filter(|n| !**n).count(),
            };
            self.metrics.add("pytake_webhook_items_total", "new", stored.new_items as u64);
            self.metrics.add("pytake_webhook_items_total", "duplicate", stored.duplicates as u64);
            let _ = job.reply.send(Ok(stored));
            for (item, is_new) in job.items.into_iter().zip(new) {
                if is_new {
                    by_key.entry(item.key).or_default().push(InboxItem {
                        id: item.row.id,
                        payload: item.payload,
                        attempts: 0,
                    });
                }
            }
        }
        for (key, mut items) in by_key {
            items.sort_by_key(|i| i.id);
            self.registry.dispatch(&key, items);
        }
    }
}

fn fail(batch: Vec<Job>, e: StoreError) {
    let error = IngestError::from(&e);
    tracing::warn!(error = %e, "cannot store webhook deliveries");
    for job in batch {
        let _ = job.reply.send(Err(error.clone()));
    }
}
