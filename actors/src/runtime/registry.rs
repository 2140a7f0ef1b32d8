//! The registry finds or activates the actor for a conversation key or an organization, hands
//! items to conversation actors without ever blocking (a full actor gets a "reload" flag instead, and
//! picks the items up from the store), and passivates idle actors.
//!
//! Each conversation actor shares a [`Slot`] with the registry: how many items are queued in it,
//! whether it must reload from the store, when it was last active. Dispatch increments `queued`
//! under the map's read lock; passivation removes an entry under the write lock only when nothing is
//! queued, so an item is never sent to an actor that is going away.

use super::conversation::{ConversationActor, Deliver, Passivate, Wake};
use super::handling::Ports;
use super::org::{OrgActor, Publish};
use super::stats::{RuntimeStats, StatsSnapshot};
use crate::domain::conversation::{ConversationKey, Snapshot};
use crate::domain::event::EventDraft;
use crate::domain::ids::OrgId;
use crate::ports::{EventBus, InboxItem};
use actix::{Actor, Addr, ArbiterHandle};
use dashmap::DashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// An actor idle this long is stopped; the next item rehydrates it from the store.
    pub idle_ttl: Duration,
    /// Items a conversation actor holds in memory before further ones wait in the store.
    pub mailbox_capacity: usize,
    /// Attempts at an item before it is parked as failed.
    pub max_attempts: i32,
    /// The first retry delay; doubled per attempt.
    pub retry_base: Duration,
    /// Attempts at a status whose message is unknown before it is dropped as an orphan.
    pub orphan_status_attempts: i32,
    /// Items loaded from the store per page.
    pub load_page: u32,
    /// Events an organization keeps for clients that reconnect.
    pub replay_window: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            idle_ttl: Duration::from_secs(600),
            mailbox_capacity: 256,
            max_attempts: 5,
            retry_base: Duration::from_millis(200),
            orphan_status_attempts: 4,
            load_page: 200,
            replay_window: 10_000,
        }
    }
}

/// State a conversation actor shares with the registry.
#[derive(Debug)]
pub struct Slot {
    pub queued: AtomicUsize,
    pub reload: AtomicBool,
    pub busy: AtomicBool,
    last_active: AtomicU64,
    started: Instant,
    pub generation: u64,
}

impl Slot {
    fn new(generation: u64) -> Self {
        Slot {
            queued: AtomicUsize::new(0),
            reload: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            last_active: AtomicU64::new(0),
            started: Instant::now(),
            generation,
        }
    }

    pub fn touch(&self) {
        self.last_active.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_active.load(Ordering::Relaxed)))
    }

    fn is_idle(&self, ttl: Duration) -> bool {
        self.queued.load(Ordering::Acquire) == 0 && !self.busy.load(Ordering::Acquire) && self.idle_for() >= ttl
    }
}

struct Entry {
    addr: Addr<ConversationActor>,
    slot: Arc<Slot>,
}

/// What actors need besides the store: where to publish, the config, the counters.
pub struct Deps {
    pub ports: Ports,
    pub config: RuntimeConfig,
    pub stats: Arc<RuntimeStats>,
    pub registry: Weak<Registry>,
}

pub struct Registry {
    conversations: DashMap<ConversationKey, Entry>,
    orgs: DashMap<OrgId, Addr<OrgActor>>,
    deps: Arc<Deps>,
    bus: Arc<dyn EventBus>,
    arbiters: Vec<ArbiterHandle>,
    generation: AtomicU64,
    /// Set when several nodes share the database: keys owned elsewhere are forwarded.
    placement: std::sync::OnceLock<Arc<dyn crate::ports::Placement>>,
}

impl Registry {
    /// A registry whose actors run on `arbiters` (chosen by key hash; the current arbiter if empty).
    pub fn new(ports: Ports, config: RuntimeConfig, bus: Arc<dyn EventBus>, arbiters: Vec<ArbiterHandle>) -> Arc<Self> {
        Arc::new_cyclic(|weak| Registry {
            conversations: DashMap::new(),
            orgs: DashMap::new(),
            deps: Arc::new(Deps { ports, config, stats: Arc::new(RuntimeStats::default()), registry: weak.clone() }),
            bus,
            arbiters,
            generation: AtomicU64::new(0),
            placement: std::sync::OnceLock::new(),
        })
    }

    pub fn stats(&self) -> &Arc<RuntimeStats> {
        &self.deps.stats
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.deps.config
    }

    fn arbiter_for(&self, hash_of: &impl Hash) -> Option<&ArbiterHandle> {
        if self.arbiters.is_empty() {
            return None;
        }
        let mut h = DefaultHasher::new();
        hash_of.hash(&mut h);
        self.arbiters.get((h.finish() % self.arbiters.len() as u64) as usize)
    }

    fn activate(&self, key: &ConversationKey) -> Entry {
        self.activate_with(key, None)
    }

    fn activate_with(&self, key: &ConversationKey, warm: Option<(Snapshot, Vec<InboxItem>)>) -> Entry {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new(generation));
        slot.touch();
        let actor = match warm {
            None => ConversationActor::new(key.clone(), self.deps.clone(), slot.clone()),
            Some((snapshot, pending)) => {
                ConversationActor::warm(key.clone(), self.deps.clone(), slot.clone(), snapshot, pending)
            }
        };
        let addr = match self.arbiter_for(key) {
            Some(arbiter) => ConversationActor::start_in_arbiter(arbiter, move |_| actor),
            None => actor.start(),
        };
        RuntimeStats::bump(&self.deps.stats.activations);
        Entry { addr, slot }
    }

    /// Makes this registry one of several nodes: keys another node owns are forwarded to it.
    pub fn set_placement(&self, placement: Arc<dyn crate::ports::Placement>) {
        let _ = self.placement.set(placement);
    }

    /// Hands new items (oldest first) to the conversation's actor, activating it if needed; when
    /// another node owns the conversation, tells that node instead (the items are in the store).
    /// Never blocks: when the actor is full the items stay in the store and the actor reloads them.
    pub fn dispatch(&self, key: &ConversationKey, items: Vec<InboxItem>) {
        if let Some(p) = self.placement.get()
            && p.shared()
        {
            if !p.is_local(key) {
                p.forward(key);
                return;
            }
            // Other nodes may have stored older items of this key: the actor loads them all from
            // the store, in the order they arrived, instead of taking these first.
            self.dispatch_local(key, Vec::new());
            return;
        }
        self.dispatch_local(key, items);
    }

    /// [`Registry::dispatch`] on this node, whoever owns the key (for a forwarded wake).
    pub fn dispatch_local(&self, key: &ConversationKey, items: Vec<InboxItem>) {
        let mut items = Some(items);
        for _ in 0..2 {
            // The entry guard is held across the count and the send, so passivation (which needs
            // the write lock and an empty count) cannot slip in between.
            let dead = {
                let entry = self.conversations.entry(key.clone()).or_insert_with(|| self.activate(key));
                match self.deliver(&entry, &mut items) {
                    Ok(()) => return,
                    Err(()) => entry.slot.generation,
                }
            };
            self.replace_dead(key, dead);
        }
    }

    /// Sends to a live actor; `Err` when the actor is gone (the items are put back).
    fn deliver(&self, entry: &Entry, items: &mut Option<Vec<InboxItem>>) -> Result<(), ()> {
        if !entry.addr.connected() {
            return Err(());
        }
        let n = items.as_ref().map_or(0, Vec::len);
        let slot = &entry.slot;
        if n == 0 || slot.queued.load(Ordering::Acquire) + n > self.deps.config.mailbox_capacity {
            slot.reload.store(true, Ordering::Release);
            if n > 0 {
                RuntimeStats::bump(&self.deps.stats.dropped_deliveries);
            }
            let _ = entry.addr.try_send(Wake);
            return Ok(());
        }
        slot.queued.fetch_add(n, Ordering::AcqRel);
        match entry.addr.try_send(Deliver(items.take().unwrap_or_default())) {
            Ok(()) => Ok(()),
            Err(actix::prelude::SendError::Closed(Deliver(back))) => {
                slot.queued.fetch_sub(n, Ordering::AcqRel);
                *items = Some(back);
                Err(())
            }
            Err(actix::prelude::SendError::Full(_)) => {
                slot.queued.fetch_sub(n, Ordering::AcqRel);
                slot.reload.store(true, Ordering::Release);
                RuntimeStats::bump(&self.deps.stats.dropped_deliveries);
                let _ = entry.addr.try_send(Wake);
                Ok(())
            }
        }
    }

    /// Activates the actor for `key` with its snapshot and pending items already read (waking
    /// recently active conversations after a start). False when it is active already. Placement is
    /// not consulted: just after a restart the dead run's heartbeat still counts as a live node, and
    /// an actor woken for a key another node owns only stays idle (items go to the owner; if the
    /// key moves here, its versioned writes and a reload keep it right) and passivates.
    pub fn prewarm(&self, key: &ConversationKey, snapshot: Snapshot, pending: Vec<InboxItem>) -> bool {
        match self.conversations.entry(key.clone()) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(slot) => {
                slot.insert(self.activate_with(key, Some((snapshot, pending))));
                RuntimeStats::bump(&self.deps.stats.prewarmed);
                true
            }
        }
    }

    /// Wakes (activating if needed) the actor for `key` so it loads its pending items from the store.
    pub fn wake(&self, key: &ConversationKey) {
        self.dispatch(key, Vec::new());
    }

    /// An actor died outside its supervised work: drop the dead entry and count a restart.
    fn replace_dead(&self, key: &ConversationKey, generation: u64) {
        if self.conversations.remove_if(key, |_, e| e.slot.generation == generation).is_some() {
            RuntimeStats::bump(&self.deps.stats.restarts);
            tracing::warn!(conversation = %key, "conversation actor died; restarting it from the store");
        }
    }

    /// Stops actors idle for longer than the TTL. Returns how many were passivated.
    pub fn passivate_idle(&self) -> usize {
        let ttl = self.deps.config.idle_ttl;
        let candidates: Vec<ConversationKey> =
            self.conversations.iter().filter(|e| e.slot.is_idle(ttl)).map(|e| e.key().clone()).collect();
        let mut stopped = 0;
        for key in candidates {
            if let Some((_, entry)) = self.conversations.remove_if(&key, |_, e| e.slot.is_idle(ttl)) {
                entry.addr.do_send(Passivate);
                RuntimeStats::bump(&self.deps.stats.passivations);
                stopped += 1;
            }
        }
        stopped
    }

    /// Runs [`Self::passivate_idle`] periodically on the current arbiter.
    pub fn start_reaper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = (self.deps.config.idle_ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        actix::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match weak.upgrade() {
                    Some(registry) => {
                        registry.passivate_idle();
                    }
                    None => return,
                }
            }
        });
    }

    /// The organization's actor, activated on first use.
    pub fn org(&self, org: OrgId) -> Addr<OrgActor> {
        if let Some(addr) = self.orgs.get(&org).filter(|a| a.connected()) {
            return addr.clone();
        }
        let mut entry = self.orgs.entry(org).or_insert_with(|| self.start_org(org));
        if !entry.connected() {
            RuntimeStats::bump(&self.deps.stats.restarts);
            *entry = self.start_org(org);
        }
        entry.clone()
    }

    fn start_org(&self, org: OrgId) -> Addr<OrgActor> {
        let actor = OrgActor::new(org, self.bus.clone(), self.deps.config.replay_window, self.deps.stats.clone());
        match self.arbiter_for(&org) {
            Some(arbiter) => OrgActor::start_in_arbiter(arbiter, move |_| actor),
            None => actor.start(),
        }
    }

    /// Tells every active organization's subscribers to resync (see [`super::org::Resync`]).
    pub fn resync_orgs(&self, reason: &'static str) {
        for org in self.orgs.iter() {
            org.value().do_send(super::org::Resync(reason));
        }
    }

    /// Publishes an event through its organization's actor.
    pub fn publish(&self, draft: EventDraft) {
        self.org(draft.org).do_send(Publish(draft));
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let s = &self.deps.stats;
        let mut total = 0;
        let mut max = 0;
        for e in self.conversations.iter() {
            let q = e.slot.queued.load(Ordering::Relaxed);
            total += q;
            max = max.max(q);
        }
        StatsSnapshot {
            org_actors: self.orgs.len(),
            conversation_actors: self.conversations.len(),
            activations: s.activations.load(Ordering::Relaxed),
            passivations: s.passivations.load(Ordering::Relaxed),
            prewarmed: s.prewarmed.load(Ordering::Relaxed),
            restarts: s.restarts.load(Ordering::Relaxed),
            processed: s.processed.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            parked: s.parked.load(Ordering::Relaxed),
            dropped_deliveries: s.dropped_deliveries.load(Ordering::Relaxed),
            orphans: s.orphans.load(Ordering::Relaxed),
            events: s.events.load(Ordering::Relaxed),
            item_latency_ms: s.item_latency.summary(),
            mailbox_total: total,
            mailbox_max: max,
        }
    }

    /// Whether an actor is active for `key` (for tests and ops).
    pub fn is_active(&self, key: &ConversationKey) -> bool {
        self.conversations.contains_key(key)
    }
}
