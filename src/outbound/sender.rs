//! The sender drains the outbox. One worker per number: messages to one recipient go out in order,
//! each accepted by Meta before the next; recipients are served concurrently within the number's
//! throughput (governor, `messages_per_second`). A failure is handled by its class: retried with
//! backoff and jitter, the recipient held (pair rate), the number paused (throughput), or the message
//! failed with its reason (and, for a rejected token, the number flagged). Rows are claimed with a
//! lease before sending, so a row is sent by one node; a sweeper re-queues due retries and rows
//! whose lease expired (a sender that died), which is also how unsent rows resume after a restart.

use super::classify::{Disposition, classify};
use super::graph::{GraphClient, SendError};
use super::payload::message_body;
use crate::db::{Db, StoreError};
use crate::metrics::Metrics;
use crate::repo::{numbers, outbox};
use crate::webhook::directory::NumberDirectory;
use chrono::Duration as ChronoDuration;
use dashmap::DashMap;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::NewOutbox;
use pytake_actors::domain::event::EventDraft;
use pytake_actors::flow::OutMessage;
use pytake_actors::ports::{Clock, OutboxSink};
use pytake_actors::runtime::Registry;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct SenderConfig {
    pub max_attempts: u32,
    /// Sends in flight per number at most (each to a different recipient).
    pub concurrency: usize,
    /// How long a claimed row is ours before another sender may take it.
    pub lease: Duration,
    pub sweep_every: Duration,
    /// Scales every backoff (1.0: Meta's advice as is, e.g. 4^X seconds for pair rate).
    pub backoff_scale: f64,
}

struct Job {
    row: outbox::OutboxRow,
    /// A row this node just wrote is ours until then: sent without a claim.
    fresh_until: Option<Instant>,
}

/// An accepted send to record, and who waits for the record.
type SentNote = (outbox::SentRecord, oneshot::Sender<Result<(), StoreError>>);

struct Shared {
    db: Db,
    graph: GraphClient,
    directory: Arc<NumberDirectory>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    config: SenderConfig,
    workers: DashMap<Uuid, mpsc::UnboundedSender<Job>>,
    recorder: mpsc::UnboundedSender<SentNote>,
}

#[derive(Clone)]
pub struct OutboundSender {
    shared: Arc<Shared>,
}

impl OutboundSender {
    pub fn start(
        db: Db,
        graph: GraphClient,
        directory: Arc<NumberDirectory>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
    ) -> OutboundSender {
        let (recorder, notes) = mpsc::unbounded_channel();
        actix::spawn(record_sent(db.clone(), clock.clone(), notes));
        let workers = DashMap::new();
        let shared = Arc::new(Shared { db, graph, directory, registry, metrics, clock, config, workers, recorder });
        let sender = OutboundSender { shared };
        let sweeper = sender.clone();
        actix::spawn(async move {
            loop {
                if let Err(e) = sweeper.sweep().await {
                    tracing::warn!(error = %e, "outbox sweep failed");
                }
                tokio::time::sleep(sweeper.shared.config.sweep_every).await;
            }
        });
        sender
    }

    /// Re-queues rows that are due (retries, unsent rows after a restart, expired leases).
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let mut c = self.shared.db.conn().await?;
        let rows = outbox::due(&mut c, self.shared.clock.now(), 1000).await?;
        drop(c);
        let n = rows.len();
        for row in rows {
            self.submit(Job { row, fresh_until: None });
        }
        Ok(n)
    }

    fn submit(&self, job: Job) {
        let number = job.row.number_id;
        let tx = self
            .shared
            .workers
            .entry(number)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let worker = Worker::new(self.shared.clone(), number);
                actix::spawn(worker.run(rx));
                tx
            })
            .clone();
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            // The worker stopped (it exits when idle): start a new one.
            self.shared.workers.remove(&number);
            self.submit(job);
        }
    }
}

impl OutboxSink for OutboundSender {
    fn enqueue(&self, org: OrgId, number_id: Uuid, items: Vec<NewOutbox>) {
        let now = self.shared.clock.now();
        // Half the fresh lease, so a slow queue falls back to claiming well before others may.
        let fresh_until = Instant::now() + Duration::from_secs(outbox::FRESH_LEASE_SECS as u64 / 2);
        for o in items {
            self.submit(Job {
                row: outbox::OutboxRow {
                    id: o.id,
                    organization_id: org.as_uuid(),
                    number_id,
                    conversation_id: Some(o.conversation_id),
                    message_id: Some(o.message_id),
                    recipient: o.recipient,
                    kind: o.kind,
                    payload: sqlx::types::Json(o.payload),
                    state: "pending".into(),
                    attempts: 0,
                    next_attempt_at: now,
                },
                fresh_until: Some(fresh_until),
            });
        }
    }
}

enum Outcome {
    Sent,
    Retry {
        after: Duration,
        number_pause: Option<Duration>,
    },
    Failed,
    /// Not ours to send (claimed elsewhere, or already finished).
    Skipped,
    /// The store is unavailable: try again later.
    Later,
}

struct Worker {
    shared: Arc<Shared>,
    number: Uuid,
    queues: BTreeMap<String, VecDeque<Job>>,
    known: HashSet<Uuid>,
    busy: HashSet<String>,
    held: HashMap<String, Instant>,
    paused_until: Option<Instant>,
    limiter: Option<(u32, DefaultDirectRateLimiter)>,
}

impl Worker {
    fn new(shared: Arc<Shared>, number: Uuid) -> Self {
        Worker {
            shared,
            number,
            queues: BTreeMap::new(),
            known: HashSet::new(),
            busy: HashSet::new(),
            held: HashMap::new(),
            paused_until: None,
            limiter: None,
        }
    }

    fn accept(&mut self, job: Job) {
        if self.known.insert(job.row.id) {
            let queue = self.queues.entry(job.row.recipient.clone()).or_default();
            // Keep each recipient's queue in outbox order (a sweep may bring older rows late).
            let at = queue.iter().position(|j| j.row.id > job.row.id).unwrap_or(queue.len());
            queue.insert(at, job);
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut inflight = FuturesUnordered::new();
        let mut idle_since = Instant::now();
        loop {
            // Start every send allowed now.
            let now = Instant::now();
            self.held.retain(|_, until| *until > now);
            let paused = self.paused_until.is_some_and(|p| p > now);
            let mut wake = Duration::from_millis(500);
            if !paused {
                let ready: Vec<String> = self
                    .queues
                    .iter()
                    .filter(|(r, q)| {
                        !q.is_empty() && !self.busy.contains(*r) && self.held.get(*r).is_none_or(|h| *h <= now)
                    })
                    .map(|(r, _)| r.clone())
                    .collect();
                for recipient in ready {
                    if self.busy.len() >= self.shared.config.concurrency {
                        break;
                    }
                    if let Some((_, limiter)) = &self.limiter
                        && let Err(not_until) = limiter.check()
                    {
                        wake = wake
                            .min(not_until.wait_time_from(governor::clock::Clock::now(
                                &governor::clock::DefaultClock::default(),
                            )));
                        break;
                    }
                    let Some(job) = self.queues.get_mut(&recipient).and_then(VecDeque::pop_front) else { continue };
                    self.busy.insert(recipient.clone());
                    let shared = self.shared.clone();
                    inflight.push(async move {
                        let outcome = send(&shared, &job).await;
                        (recipient, job, outcome)
                    });
                }
            } else if let Some(p) = self.paused_until {
                wake = wake.min(p.saturating_duration_since(now));
            }
            for h in self.held.values() {
                if *h > now {
                    wake = wake.min(h.saturating_duration_since(now));
                }
            }
            let idle = inflight.is_empty() && self.queues.values().all(VecDeque::is_empty);
            if !idle {
                idle_since = Instant::now();
            } else if idle_since.elapsed() > Duration::from_secs(60) {
                self.shared.workers.remove(&self.number);
                return;
            }
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => {
                        self.refresh_limiter(&job).await;
                        self.accept(job);
                    }
                    None => return,
                },
                Some((recipient, job, outcome)) = inflight.next(), if !inflight.is_empty() => {
                    self.busy.remove(&recipient);
                    match outcome {
                        Outcome::Retry { after, number_pause } => {
                            if let Some(p) = number_pause {
                                self.paused_until = Some(Instant::now() + p);
                            }
                            // The recipient waits with it, so its later messages cannot overtake it.
                            self.held.insert(recipient.clone(), Instant::now() + after);
                            let mut job = job;
                            job.row.attempts += 1;
                            job.fresh_until = None;
                            self.requeue(job);
                        }
                        Outcome::Later => {
                            self.held.insert(recipient.clone(), Instant::now() + Duration::from_secs(2));
                            self.requeue(job);
                        }
                        Outcome::Sent | Outcome::Failed | Outcome::Skipped => {
                            self.known.remove(&job.row.id);
                        }
                    }
                    if self.queues.get(&recipient).is_some_and(VecDeque::is_empty) {
                        self.queues.remove(&recipient);
                    }
                },
                _ = tokio::time::sleep(wake) => {},
            }
        }
    }

    /// Puts a job back at its place in its recipient's queue (its row stays known, so a sweep that
    /// finds it due does not queue it twice).
    fn requeue(&mut self, job: Job) {
        self.known.remove(&job.row.id);
        self.accept(job);
    }

    async fn refresh_limiter(&mut self, job: &Job) {
        #[allow(clippy::disallowed_methods)]
        let org = OrgId::assume_verified(job.row.organization_id);
        if let Ok(Some(info)) = self.shared.directory.sending(org, self.number).await {
            let rate = info.messages_per_second.max(1);
            if self.limiter.as_ref().is_none_or(|(r, _)| *r != rate) {
                let n = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
                self.limiter = Some((rate, RateLimiter::direct(Quota::per_second(n))));
            }
        }
    }
}

fn jitter() -> f64 {
    rand::random::<f64>()
}

/// Claims, sends and records one row.
async fn send(shared: &Shared, job: &Job) -> Outcome {
    match try_send(shared, job).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(outbox = %job.row.id, error = %e, "cannot record a send; will retry");
            Outcome::Later
        }
    }
}

async fn try_send(shared: &Shared, job: &Job) -> Result<Outcome, StoreError> {
    let row = &job.row;
    if shared.db.is_closed() {
        // Shutting down: the row stays in the outbox for the next start.
        return Ok(Outcome::Skipped);
    }
    #[allow(clippy::disallowed_methods)]
    let org = OrgId::assume_verified(row.organization_id);
    let now = shared.clock.now();
    let lease = now + ChronoDuration::from_std(shared.config.lease).unwrap_or_default();
    if job.fresh_until.is_none_or(|until| Instant::now() >= until) {
        let mut tx = shared.db.begin().await?;
        let claimed = outbox::claim(&mut tx, row.id, lease, now).await?;
        tx.commit().await?;
        if !claimed {
            return Ok(Outcome::Skipped);
        }
    }
    let Some(info) = shared.directory.sending(org, row.number_id).await? else {
        fail(shared, org, row, None, "the WhatsApp number no longer exists", None).await?;
        return Ok(Outcome::Failed);
    };
    let token = match (&info.access_token, info.token_invalid) {
        (Some(t), false) => t.clone(),
        (None, _) => {
            fail(shared, org, row, None, "the WhatsApp number has no access token", None).await?;
            return Ok(Outcome::Failed);
        }
        (_, true) => {
            fail(shared, org, row, Some(190), "the number's access token was rejected by Meta; save a new one", None)
                .await?;
            return Ok(Outcome::Failed);
        }
    };
    let message: OutMessage = match serde_json::from_value(row.payload.0.clone()) {
        Ok(m) => m,
        Err(e) => {
            fail(shared, org, row, None, &format!("the outbox row is unreadable: {e}"), None).await?;
            return Ok(Outcome::Failed);
        }
    };
    let body = message_body(&message, &row.recipient, row.message_id.unwrap_or(row.id));
    let started = Instant::now();
    let result = shared.graph.send_message(&info.phone_number_id, &token, &body).await;
    shared.metrics.observe("pytake_graph_send_seconds", started.elapsed());
    match result {
        Ok(wamid) => {
            shared.metrics.add("pytake_outbound_total", "sent", 1);
            // Meta has the message: from here on only the record may be retried, never the send.
            for attempt in 0..5u32 {
                let (done, recorded) = oneshot::channel();
                let note = ((row.organization_id, row.id, row.message_id, wamid.clone()), done);
                let result = match shared.recorder.send(note) {
                    Ok(()) => recorded
                        .await
                        .unwrap_or_else(|_| Err(StoreError::Unavailable("the send recorder stopped".into()))),
                    Err(_) => Err(StoreError::Unavailable("the send recorder stopped".into())),
                };
                match result {
                    Ok(()) => return Ok(Outcome::Sent),
                    Err(e) if attempt < 4 => {
                        tracing::warn!(outbox = %row.id, error = %e, "cannot record an accepted send yet; retrying the record");
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                    Err(e) => {
                        shared.metrics.add("pytake_outbound_unrecorded_total", "", 1);
                        tracing::error!(outbox = %row.id, %wamid, error = %e, "Meta accepted a message that could not be recorded; it stays leased and may be sent again after the lease");
                    }
                }
            }
            Ok(Outcome::Sent)
        }
        Err(error) => {
            let attempt = row.attempts.max(0) as u32;
            let code = match &error {
                SendError::Graph(g) => Some(i32::try_from(g.code).unwrap_or(i32::MAX)),
                SendError::Transport(_) => None,
            };
            let details = match &error {
                SendError::Graph(g) => g.details.clone(),
                SendError::Transport(_) => None,
            };
            match classify(&error, attempt, shared.config.max_attempts, jitter()) {
                Disposition::Fail { bad_token } => {
                    shared.metrics.add("pytake_outbound_total", "failed", 1);
                    if bad_token {
                        let mut tx = shared.db.begin().await?;
                        numbers::flag_token_invalid(&mut tx, org, row.number_id, shared.clock.now()).await?;
                        tx.commit().await?;
                        shared.directory.invalidate(&info.phone_number_id);
                        tracing::error!(number = %row.number_id, "Meta rejected the number's access token; its sends stop until a new one is saved");
                    }
                    fail(shared, org, row, code, &error.to_string(), details.as_deref()).await?;
                    Ok(Outcome::Failed)
                }
                disposition => {
                    shared.metrics.add("pytake_outbound_total", "retried", 1);
                    let scale = |d: Duration| d.mul_f64(shared.config.backoff_scale.max(0.0));
                    let (after, number_pause) = match disposition {
                        Disposition::Retry(d) | Disposition::HoldRecipient(d) => (scale(d), None),
                        Disposition::PauseNumber(d) => (scale(d), Some(scale(d))),
                        Disposition::Fail { .. } => (Duration::ZERO, None),
                    };
                    let at = shared.clock.now() + ChronoDuration::from_std(after).unwrap_or_default();
                    let mut tx = shared.db.begin().await?;
                    outbox::mark_retry(&mut tx, row.id, at, code, &error.to_string()).await?;
                    tx.commit().await?;
                    tracing::info!(outbox = %row.id, %error, retry_in_ms = after.as_millis() as u64, "send failed; retrying");
                    Ok(Outcome::Retry { after, number_pause })
                }
            }
        }
    }
}

async fn fail(
    shared: &Shared,
    org: OrgId,
    row: &outbox::OutboxRow,
    code: Option<i32>,
    title: &str,
    details: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = shared.db.begin().await?;
    outbox::mark_failed(&mut tx, org, row, code, title, details, shared.clock.now()).await?;
    tx.commit().await?;
    if let (Some(message), Some(conversation)) = (row.message_id, row.conversation_id) {
        shared.registry.publish(EventDraft {
            org,
            event_type: "message.status",
            conversation_id: Some(conversation),
            data: json!({"message_id": message, "conversation_id": conversation, "status": "failed",
                         "error": {"code": code, "title": title, "details": details}}),
        });
    }
    Ok(())
}

/// Records accepted sends in batches (one transaction for whatever arrived meanwhile), answering
/// each sender when its record is committed.
async fn record_sent(db: Db, clock: Arc<dyn Clock>, mut notes: mpsc::UnboundedReceiver<SentNote>) {
    const MAX_BATCH: usize = 512;
    while let Some(first) = notes.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match notes.try_recv() {
                Ok(n) => batch.push(n),
                Err(_) => break,
            }
        }
        let records: Vec<outbox::SentRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
        let result = async {
            let mut tx = db.begin().await?;
            outbox::mark_sent_many(&mut tx, &records, clock.now()).await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => batch.into_iter().for_each(|(_, done)| drop(done.send(Ok(())))),
            Err(e) => {
                let message = e.to_string();
                batch.into_iter().for_each(|(_, done)| drop(done.send(Err(StoreError::Failed(message.clone())))));
            }
        }
    }
}
