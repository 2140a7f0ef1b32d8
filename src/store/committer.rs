//! Group commit for conversation actors: every write an actor awaits (a change set, a status, an
//! item finished or failed) joins the batch being formed; the batch runs in one transaction (one
//! fsync, one writer-lock turn on SQLite, one connection), and each actor gets its own outcome once
//! the batch is durable. Each actor still waits for its own commit before its next item, so
//! per-conversation ordering is untouched. If a batch fails unexpectedly it is rolled back and its
//! operations retried one transaction each, so one bad operation cannot fail the others.

use super::single_statement::{self, Attempt};
use super::steps::{self, ChangesOutcome, StatusOutcome};
use crate::db::{Db, DbTx, StoreError};
use crate::metrics::Metrics;
use crate::repo::inbox;
use pytake_actors::domain::conversation::{Changes, ConversationKey};
use pytake_actors::domain::inbound::StatusUpdate;
use pytake_actors::ports::Clock;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

pub enum Op {
    Changes {
        key: ConversationKey,
        changes: Box<Changes>,
        reply: oneshot::Sender<Result<ChangesOutcome, StoreError>>,
    },
    Status {
        key: ConversationKey,
        item: Uuid,
        status: StatusUpdate,
        reply: oneshot::Sender<Result<StatusOutcome, StoreError>>,
    },
    Finish {
        item: Uuid,
        note: Option<String>,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    Failure {
        item: Uuid,
        error: String,
        park: bool,
        reply: oneshot::Sender<Result<i32, StoreError>>,
    },
}

/// An operation's result, held until its batch is committed.
enum Done {
    Changes(ChangesOutcome),
    Status(StatusOutcome),
    Finish(bool),
    Failure(i32),
}

impl Op {
    async fn run(&self, tx: &mut DbTx, now: chrono::DateTime<chrono::Utc>) -> Result<Done, StoreError> {
        Ok(match self {
            Op::Changes { key, changes, .. } => Done::Changes(steps::apply_changes(tx, key, changes, now).await?),
            Op::Status { key, item, status, .. } => {
                Done::Status(steps::apply_status(tx, key, *item, status, now).await?)
            }
            Op::Finish { item, note, .. } => Done::Finish(inbox::mark_done(tx, *item, note.as_deref(), now).await?),
            Op::Failure { item, error, park, .. } => {
                Done::Failure(inbox::record_failure(tx, *item, error, *park, now).await?)
            }
        })
    }

    fn answer(self, result: Result<Done, StoreError>) {
        match (self, result) {
            (Op::Changes { reply, .. }, Ok(Done::Changes(o))) => drop(reply.send(Ok(o))),
            (Op::Status { reply, .. }, Ok(Done::Status(o))) => drop(reply.send(Ok(o))),
            (Op::Finish { reply, .. }, Ok(Done::Finish(o))) => drop(reply.send(Ok(o))),
            (Op::Failure { reply, .. }, Ok(Done::Failure(o))) => drop(reply.send(Ok(o))),
            (op, Err(e)) => op.fail(e),
            (op, Ok(_)) => op.fail(StoreError::Corrupt("mismatched batch result".into())),
        }
    }

    fn fail(self, e: StoreError) {
        match self {
            Op::Changes { reply, .. } => drop(reply.send(Err(e))),
            Op::Status { reply, .. } => drop(reply.send(Err(e))),
            Op::Finish { reply, .. } => drop(reply.send(Err(e))),
            Op::Failure { reply, .. } => drop(reply.send(Err(e))),
        }
    }
}

/// The change sets among `ops`, in order.
fn change_sets(ops: &[Op]) -> Vec<(&ConversationKey, &Changes)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Changes { key, changes, .. } => Some((key, changes.as_ref())),
            _ => None,
        })
        .collect()
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Op>,
}

impl Committer {
    /// Starts the committer on the current runtime with `workers` transactions in flight at most.
    pub fn start(db: Db, clock: Arc<dyn Clock>, metrics: Arc<Metrics>, workers: usize, max_batch: usize) -> Committer {
        let (tx, rx) = mpsc::channel(100_000);
        let worker = Worker { db, clock, metrics, slots: Arc::new(Semaphore::new(workers.max(1))) };
        actix::spawn(worker.run(rx, max_batch.max(1)));
        Committer { tx }
    }

    pub async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the committer has stopped".into());
        self.tx.send(make(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

struct Worker {
    db: Db,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Op>, max_batch: usize) {
        let me = Arc::new(self);
        while let Some(first) = rx.recv().await {
            let Ok(slot) = me.slots.clone().acquire_owned().await else { return };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let worker = me.clone();
            actix::spawn(async move {
                worker.execute(batch).await;
                drop(slot);
            });
        }
    }

    async fn execute(&self, batch: Vec<Op>) {
        let started = Instant::now();
        self.metrics.add("pytake_commit_batches_total", "", 1);
        self.metrics.add("pytake_commit_batched_ops_total", "", batch.len() as u64);
        for op in &batch {
            let kind = match op {
                Op::Changes { .. } => "changes",
                Op::Status { .. } => "status",
                Op::Finish { .. } => "finish",
                Op::Failure { .. } => "failure",
            };
            self.metrics.add("pytake_commit_ops_total", kind, 1);
        }
        let batch = self.commit_single_statement(batch).await;
        if batch.is_empty() {
            self.metrics.observe("pytake_commit_batch_seconds", started.elapsed());
            return;
        }
        match self.run_batch(&batch).await {
            Ok(results) => {
                self.metrics.observe("pytake_commit_batch_seconds", started.elapsed());
                for (op, result) in batch.into_iter().zip(results) {
                    op.answer(Ok(result));
                }
            }
            Err(e) if batch.len() > 1 && !e.is_unavailable() => {
                tracing::warn!(error = %e, size = batch.len(), "a commit batch failed; retrying its operations one by one");
                for op in batch {
                    let result = self.run_batch(std::slice::from_ref(&op)).await.map(|mut r| r.remove(0));
                    op.answer(result);
                }
            }
            Err(e) => {
                let shown = e.to_string();
                let unavailable = e.is_unavailable();
                for op in batch {
                    op.fail(if unavailable {
                        StoreError::Unavailable(shown.clone())
                    } else {
                        StoreError::Failed(shown.clone())
                    });
                }
            }
        }
    }

    /// On PostgreSQL, commits the batch's change sets that [`single_statement::fits`] in one
    /// statement and answers them; returns the operations still to commit (all of them when the
    /// statement wrote nothing).
    async fn commit_single_statement(&self, batch: Vec<Op>) -> Vec<Op> {
        let Db::Postgres(pg) = &self.db else { return batch };
        let fits = |op: &Op| matches!(op, Op::Changes { changes, .. } if single_statement::fits(changes));
        if !batch.iter().any(fits) {
            return batch;
        }
        let (simple, rest): (Vec<Op>, Vec<Op>) = batch.into_iter().partition(fits);
        let sets = change_sets(&simple);
        let attempt = match pg.hot.acquire().await {
            Ok(mut conn) => single_statement::commit(&mut conn, &sets, self.clock.now()).await,
            Err(e) => Err(e.into()),
        };
        let outcome = match attempt {
            Ok(Attempt::Committed(outcomes)) => {
                self.metrics.add("pytake_commit_single_statement_total", "committed", 1);
                for (op, outcome) in simple.into_iter().zip(outcomes) {
                    op.answer(Ok(Done::Changes(outcome)));
                }
                return rest;
            }
            Ok(Attempt::Incomplete) => "incomplete",
            Err(e) => {
                tracing::warn!(error = %e, size = sets.len(), "a single-statement commit failed; committing its change sets in a transaction");
                "failed"
            }
        };
        self.metrics.add("pytake_commit_single_statement_total", outcome, 1);
        drop(sets);
        simple.into_iter().chain(rest).collect()
    }

    async fn run_batch(&self, batch: &[Op]) -> Result<Vec<Done>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.db.hot_begin().await?;
        match Self::run_in(&mut tx, batch, now).await {
            Ok(results) => {
                tx.commit().await?;
                Ok(results)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Change sets go together through the set-wise path; the other operations one by one.
    async fn run_in(tx: &mut DbTx, batch: &[Op], now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Done>, StoreError> {
        let sets = change_sets(batch);
        let mut set_outcomes = if sets.len() > 1 {
            let started = Instant::now();
            let outcomes = steps::apply_changes_batch(tx, &sets, now).await?;
            tracing::debug!(sets = sets.len(), ms = started.elapsed().as_secs_f64() * 1000.0, "set-wise commit");
            outcomes.into_iter()
        } else {
            Vec::new().into_iter()
        };
        let statuses: Vec<(&ConversationKey, Uuid, &StatusUpdate)> = batch
            .iter()
            .filter_map(|op| match op {
                Op::Status { key, item, status, .. } => Some((key, *item, status)),
                _ => None,
            })
            .collect();
        let mut status_outcomes = if statuses.len() > 1 {
            steps::apply_statuses_batch(tx, &statuses, now).await?.into_iter()
        } else {
            Vec::new().into_iter()
        };
        let lost = || StoreError::Failed("a batched operation lost its outcome".into());
        let mut results = Vec::with_capacity(batch.len());
        for op in batch {
            let done = match op {
                Op::Changes { .. } if sets.len() > 1 => Done::Changes(set_outcomes.next().ok_or_else(lost)?),
                Op::Status { .. } if statuses.len() > 1 => Done::Status(status_outcomes.next().ok_or_else(lost)?),
                _ => op.run(tx, now).await?,
            };
            results.push(done);
        }
        Ok(results)
    }
}
