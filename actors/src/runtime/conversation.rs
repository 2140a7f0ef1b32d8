//! The conversation actor: one per active conversation key. It handles its items strictly in order,
//! one fully committed before the next starts (even though handling awaits IO), keeps the
//! conversation's snapshot between items, retries a failing item with backoff and parks it after the
//! configured attempts so a poison item never blocks the conversation forever, and treats a panic
//! like a crash: the snapshot is dropped, the restart counted, the item retried from the store.

use super::handling::{Handled, handle_item};
use super::registry::{Deps, Slot};
use super::stats::RuntimeStats;
use crate::domain::conversation::{ConversationKey, Snapshot};
use crate::ports::InboxItem;
use actix::prelude::*;
use futures_util::FutureExt;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// New items for this conversation (they are also in the store, pending).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Vec<InboxItem>);

/// Look in the store for pending items (some could not be delivered in memory).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Stop: the registry has forgotten this actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivate;

pub struct ConversationActor {
    key: ConversationKey,
    deps: Arc<Deps>,
    slot: Arc<Slot>,
    /// Items to handle, by id (ids are time-ordered, so this is arrival order).
    queue: BTreeMap<Uuid, InboxItem>,
    /// Items delivered in memory and counted in `slot.queued` (the rest came from the store).
    counted: std::collections::HashSet<Uuid>,
    /// Load pending items from the store before handling more.
    must_load: bool,
    /// After a full page from the store: items after this id wait until the next page is loaded.
    load_barrier: Option<Uuid>,
    busy: bool,
    waiting_retry: bool,
    snapshot: Option<Snapshot>,
}

impl ConversationActor {
    pub fn new(key: ConversationKey, deps: Arc<Deps>, slot: Arc<Slot>) -> Self {
        ConversationActor {
            key,
            deps,
            slot,
            queue: BTreeMap::new(),
            counted: Default::default(),
            must_load: true,
            load_barrier: None,
            busy: false,
            waiting_retry: false,
            snapshot: None,
        }
    }

    /// An actor woken ahead of its next item (after a restart) with what it would otherwise load:
    /// its snapshot and pending items, read together for many conversations.
    pub fn warm(
        key: ConversationKey,
        deps: Arc<Deps>,
        slot: Arc<Slot>,
        snapshot: Snapshot,
        pending: Vec<InboxItem>,
    ) -> Self {
        let full_page = pending.len() as u32 >= deps.config.load_page;
        let mut actor = ConversationActor::new(key, deps, slot);
        actor.must_load = false;
        // A full page may have more behind it: those load before anything after the page's end.
        actor.load_barrier = if full_page { pending.last().map(|i| i.id) } else { None };
        actor.snapshot = Some(snapshot);
        actor.queue = pending.into_iter().map(|item| (item.id, item)).collect();
        actor
    }

    fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
        self.slot.busy.store(busy, Ordering::Release);
        self.slot.touch();
    }

    /// Takes the next step if none is running: load from the store, or handle the oldest item.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.waiting_retry {
            return;
        }
        let barrier_reached =
            self.load_barrier.is_some_and(|b| self.queue.keys().next().is_none_or(|first| *first > b));
        if self.must_load
            || barrier_reached
            || (self.queue.is_empty() && self.slot.reload.swap(false, Ordering::AcqRel))
        {
            self.load(ctx);
            return;
        }
        let Some((&id, _)) = self.queue.iter().next() else {
            self.slot.touch();
            return;
        };
        self.handle(ctx, id);
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        self.must_load = false;
        self.set_busy(true);
        let after = self.load_barrier.take();
        let store = self.deps.ports.store.clone();
        let key = self.key.clone();
        let page = self.deps.config.load_page;
        // A cold actor reads its snapshot together with its pending items (two batched reads at once
        // instead of one after the other); a failed snapshot read is left to the item's handling.
        let cold = self.snapshot.is_none();
        let fut = async move {
            let snapshot = async { if cold { store.snapshot(&key).await.ok() } else { None } };
            futures_util::join!(store.pending_items(&key, after, page), snapshot)
        };
        ctx.spawn(fut.into_actor(self).map(move |(result, snapshot), act, ctx| {
            act.set_busy(false);
            if act.snapshot.is_none() {
                act.snapshot = snapshot;
            }
            match result {
                Ok(items) => {
                    if items.len() as u32 >= page {
                        act.load_barrier = items.last().map(|i| i.id);
                    }
                    for item in items {
                        act.queue.entry(item.id).or_insert(item);
                    }
                    act.drive(ctx);
                }
                Err(e) => {
                    tracing::warn!(conversation = %act.key, error = %e, "cannot load pending items; retrying");
                    act.must_load = true;
                    act.load_barrier = after;
                    act.retry_later(ctx, 1);
                }
            }
        }));
    }

    fn handle(&mut self, ctx: &mut Context<Self>, id: Uuid) {
        let Some(item) = self.queue.get(&id).cloned() else {
            return;
        };
        self.set_busy(true);
        let deps = self.deps.clone();
        let key = self.key.clone();
        let snapshot = self.snapshot.take();
        let fut = async move {
            AssertUnwindSafe(async { handle_item(&deps.ports, &key, snapshot, &item).await })
                .catch_unwind()
                .await
                .map_err(|panic| {
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".to_string())
                })
                .map(|(result, snapshot)| (result, snapshot, item))
        };
        ctx.spawn(fut.into_actor(self).map(move |outcome, act, ctx| {
            act.set_busy(false);
            match outcome {
                Err(panic) => {
                    RuntimeStats::bump(&act.deps.stats.restarts);
                    tracing::error!(conversation = %act.key, item = %id, panic, "handler panicked; restarting from the store");
                    act.fail(ctx, id, format!("handler panicked: {panic}"));
                }
                Ok((result, snapshot, item)) => {
                    act.snapshot = snapshot;
                    match result {
                        Ok(Handled::Done(events)) => {
                            RuntimeStats::bump(&act.deps.stats.processed);
                            act.deps.stats.item_latency.record_since_id(id, act.deps.ports.clock.now());
                            if let Some(registry) = act.deps.registry.upgrade() {
                                for event in events {
                                    registry.publish(event);
                                }
                            }
                            act.finish(id);
                        }
                        Ok(Handled::AlreadyDone) => act.finish(id),
                        Ok(Handled::OrphanStatus) => act.orphan(ctx, item),
                        Err(e) => act.fail(ctx, id, e.to_string()),
                    }
                }
            }
            act.drive(ctx);
        }));
    }

    fn finish(&mut self, id: Uuid) {
        self.queue.remove(&id);
        if self.counted.remove(&id) {
            self.slot.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A status for a message we do not know yet (its send response may still be on its way). It
    /// is set aside and retried after a delay while the conversation goes on (statuses need no
    /// ordering: the status machine only moves forward), then dropped as an orphan.
    fn orphan(&mut self, ctx: &mut Context<Self>, item: InboxItem) {
        let attempts = item.attempts + 1;
        let give_up = attempts >= self.deps.config.orphan_status_attempts;
        let store = self.deps.ports.store.clone();
        let id = item.id;
        self.queue.remove(&id);
        self.set_busy(true);
        // The count of attempts is kept in memory only: an orphan is not a failure worth a write, and
        // after a restart it simply gets its attempts again.
        let fut = async move {
            if give_up {
                store.finish_item(id, Some("no message with this wamid")).await.map(|_| attempts)
            } else {
                Ok(attempts)
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.set_busy(false);
            match result {
                Ok(_) if give_up => {
                    RuntimeStats::bump(&act.deps.stats.orphans);
                    act.finish(id);
                }
                outcome => {
                    let mut item = item;
                    item.attempts = outcome.unwrap_or(attempts);
                    let delay = act.backoff(item.attempts);
                    ctx.run_later(delay, move |act, ctx| {
                        act.queue.entry(item.id).or_insert(item);
                        act.drive(ctx);
                    });
                }
            }
            act.drive(ctx);
        }));
    }

    /// Records a failed attempt; parks the item after the last one, else retries with backoff.
    fn fail(&mut self, ctx: &mut Context<Self>, id: Uuid, error: String) {
        self.snapshot = None;
        let attempts = self.queue.get(&id).map_or(1, |i| i.attempts + 1);
        let park = attempts >= self.deps.config.max_attempts;
        let store = self.deps.ports.store.clone();
        self.set_busy(true);
        let error_text = error.clone();
        let fut = async move { store.record_failure(id, &error_text, park).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.set_busy(false);
            match result {
                Ok(_) if park => {
                    RuntimeStats::bump(&act.deps.stats.parked);
                    tracing::error!(conversation = %act.key, item = %id, error, "item parked as failed after {attempts} attempts");
                    act.finish(id);
                }
                Ok(n) => {
                    RuntimeStats::bump(&act.deps.stats.retries);
                    tracing::warn!(conversation = %act.key, item = %id, error, attempt = n, "item failed; will retry");
                    if let Some(i) = act.queue.get_mut(&id) {
                        i.attempts = n;
                    }
                    act.retry_later(ctx, n);
                }
                Err(e) => {
                    // Not even the failure could be recorded (the store is down): keep the count
                    // in memory and try again later.
                    tracing::warn!(conversation = %act.key, item = %id, error = %e, "cannot record a failure");
                    if let Some(i) = act.queue.get_mut(&id) {
                        i.attempts = attempts.min(act.deps.config.max_attempts - 1);
                    }
                    act.retry_later(ctx, attempts);
                }
            }
            act.drive(ctx);
        }));
    }

    fn backoff(&self, attempts: i32) -> std::time::Duration {
        let exp = attempts.clamp(1, 10) as u32 - 1;
        self.deps.config.retry_base.saturating_mul(1 << exp).min(std::time::Duration::from_secs(60))
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>, attempts: i32) {
        let delay = self.backoff(attempts);
        self.waiting_retry = true;
        ctx.run_later(delay, |act, ctx| {
            act.waiting_retry = false;
            act.drive(ctx);
        });
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(64);
        self.drive(ctx);
    }
}

impl Handler<Deliver> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        for item in msg.0 {
            match self.queue.entry(item.id) {
                // Already queued from the store: do not count it twice.
                std::collections::btree_map::Entry::Occupied(_) => {
                    self.slot.queued.fetch_sub(1, Ordering::AcqRel);
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    self.counted.insert(item.id);
                    slot.insert(item);
                }
            }
        }
        self.drive(ctx);
    }
}

impl Handler<Wake> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.drive(ctx);
    }
}

impl Handler<Passivate> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Passivate, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
