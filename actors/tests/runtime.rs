//! The actor runtime through its public surface (the registry and actor messages), on an in-memory
//! store that keeps the `ConversationStore` contract (exactly-once claims, versioned writes) and can
//! inject failures, panics and slowness.

use async_trait::async_trait;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::*;
use pytake_actors::domain::event::OrgEvent;
use pytake_actors::domain::inbound::{InboundMessage, InboxPayload, StatusUpdate};
use pytake_actors::flow::LoadedFlow;
use pytake_actors::ports::*;
use pytake_actors::runtime::handling::Ports;
use pytake_actors::runtime::org::{Subscribe, Unsubscribe};
use pytake_actors::runtime::{Registry, RuntimeConfig};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

#[derive(Default)]
struct State {
    items: BTreeMap<Uuid, (InboxItem, &'static str)>,
    conversation: Option<ConversationRecord>,
    contact: Option<ContactRecord>,
    /// Texts of committed messages, in commit order.
    committed: Vec<String>,
    /// Fail an item's commit this many more times.
    fail: HashMap<Uuid, usize>,
    snapshots: usize,
}

#[derive(Default)]
struct FakeStore {
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Panic when committing a message with this text.
    panic_on: Mutex<Option<String>>,
    delay: Mutex<Duration>,
}

impl FakeStore {
    fn add(&self, item: &InboxItem) {
        self.state.lock().unwrap().items.insert(item.id, (item.clone(), "pending"));
    }
    fn committed(&self) -> Vec<String> {
        self.state.lock().unwrap().committed.clone()
    }
    fn item_state(&self, id: Uuid) -> &'static str {
        self.state.lock().unwrap().items[&id].1
    }
}

#[async_trait]
impl ConversationStore for FakeStore {
    async fn pending_items(
        &self,
        _: &ConversationKey,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboxItem>, StoreFailure> {
        let s = self.state.lock().unwrap();
        Ok(s.items
            .values()
            .filter(|(i, st)| *st == "pending" && after.is_none_or(|a| i.id > a))
            .take(limit as usize)
            .map(|(i, _)| i.clone())
            .collect())
    }

    async fn snapshot(&self, key: &ConversationKey) -> Result<Snapshot, StoreFailure> {
        let mut s = self.state.lock().unwrap();
        s.snapshots += 1;
        Ok(Snapshot {
            timezone: chrono_tz::UTC,
            number: NumberRecord {
                id: key.number_id,
                phone_number_id: "1".into(),
                default_chatbot_id: None,
                default_flow_id: None,
                default_department_id: None,
            },
            contact: s.contact.clone(),
            conversation: s.conversation.clone(),
        })
    }

    async fn commit(&self, _: &ConversationKey, changes: Changes) -> Result<Committed, CommitError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let text = changes.messages.first().and_then(|m| m.text.clone()).unwrap_or_default();
        if self.panic_on.lock().unwrap().as_deref() == Some(text.as_str()) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            panic!("injected panic on {text}");
        }
        let result = (|| {
            let mut s = self.state.lock().unwrap();
            let item = changes.inbox_item.expect("inbound changes claim an item");
            if let Some(n) = s.fail.get_mut(&item)
                && *n > 0
            {
                *n -= 1;
                return Err(CommitError::Store(StoreFailure("injected failure".into())));
            }
            match s.items.get_mut(&item) {
                Some((_, st)) if *st == "pending" => *st = "done",
                _ => return Err(CommitError::AlreadyProcessed),
            }
            let contact = changes.contact.as_ref().map(|c| ContactRecord {
                id: c.id,
                wa_id: c.wa_id.clone(),
                name: None,
                profile_name: c.profile_name.clone(),
                is_blocked: false,
                is_vip: false,
                last_inbound_at: Some(c.last_inbound_at),
            });
            let conversation = match changes.conversation.clone() {
                Some(ConversationWrite::Insert(c)) => {
                    if s.conversation.is_some() {
                        return Err(CommitError::Conflict);
                    }
                    Some(c)
                }
                Some(ConversationWrite::Update(mut c)) => {
                    if s.conversation.as_ref().map(|x| x.version) != Some(c.version) {
                        return Err(CommitError::Conflict);
                    }
                    c.version += 1;
                    Some(c)
                }
                None => None,
            };
            s.conversation = conversation.clone();
            if contact.is_some() {
                s.contact = contact.clone();
            }
            s.committed.push(text.clone());
            Ok(Committed {
                contact,
                conversation,
                messages: changes.messages.iter().map(|m| (m.clone(), None)).collect(),
            })
        })();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn apply_status(
        &self,
        _: &ConversationKey,
        item: Uuid,
        _: &StatusUpdate,
    ) -> Result<Option<StatusApplied>, CommitError> {
        let _ = item;
        Ok(None)
    }

    async fn finish_item(&self, item: Uuid, _: Option<&str>) -> Result<bool, StoreFailure> {
        let mut s = self.state.lock().unwrap();
        Ok(match s.items.get_mut(&item) {
            Some((_, st)) if *st == "pending" => {
                *st = "done";
                true
            }
            _ => false,
        })
    }

    async fn record_failure(&self, item: Uuid, _: &str, park: bool) -> Result<i32, StoreFailure> {
        let mut s = self.state.lock().unwrap();
        let (i, st) = s.items.get_mut(&item).expect("known item");
        i.attempts += 1;
        if park {
            *st = "failed";
        }
        Ok(i.attempts)
    }

    async fn route(&self, _: &ConversationKey, _: Option<&str>) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        Ok(None)
    }

    async fn flow_version(&self, _: &ConversationKey, _: Uuid) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        Ok(None)
    }

    async fn published_flow(&self, _: &ConversationKey, _: Uuid) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        Ok(None)
    }
}

struct NoHttp;

#[async_trait]
impl HttpCaller for NoHttp {
    async fn call(&self, _: OrgId, _: &pytake_actors::flow::engine::HttpRequest) -> pytake_actors::flow::ApiOutcome {
        pytake_actors::flow::ApiOutcome::Err { error: "no network in this test".into() }
    }
}

struct NoOutbox;

impl OutboxSink for NoOutbox {
    fn enqueue(&self, _: OrgId, _: Uuid, _: Vec<NewOutbox>) {}
}

struct Rig {
    store: Arc<FakeStore>,
    registry: Arc<Registry>,
    key: ConversationKey,
}

fn rig(config: RuntimeConfig) -> Rig {
    let store = Arc::new(FakeStore::default());
    let registry = Registry::new(
        Ports {
            store: store.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            http: Arc::new(NoHttp),
            outbox: Arc::new(NoOutbox),
            archive: Arc::new(pytake_actors::ports::NoArchive),
            limits: Default::default(),
        },
        config,
        Arc::new(LocalOnly),
        Vec::new(),
    );
    #[allow(clippy::disallowed_methods)]
    let key = ConversationKey {
        org: OrgId::assume_verified(Uuid::now_v7()),
        number_id: Uuid::now_v7(),
        contact_wa_id: "5511999".into(),
    };
    Rig { store, registry, key }
}

fn fast() -> RuntimeConfig {
    RuntimeConfig { retry_base: Duration::from_millis(5), ..RuntimeConfig::default() }
}

fn message(text: &str) -> InboxItem {
    InboxItem {
        id: Uuid::now_v7(),
        attempts: 0,
        payload: InboxPayload::Message(InboundMessage {
            wamid: format!("wamid.{}", Uuid::now_v7()),
            from: "5511999".into(),
            timestamp: None,
            profile_name: Some("Ana".into()),
            message_type: "text".into(),
            text: Some(text.into()),
            content: json!({"body": text}),
            reply_id: None,
            context_wamid: None,
            forwarded: false,
            referral: None,
            errors: vec![],
        }),
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[actix::test]
async fn items_are_handled_in_order_one_at_a_time_exactly_once() {
    let r = rig(fast());
    *r.store.delay.lock().unwrap() = Duration::from_millis(1);
    let texts: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    for t in &texts {
        let item = message(t);
        r.store.add(&item);
        r.registry.dispatch(&r.key, vec![item]);
    }
    eventually("all committed", || r.store.committed().len() == 60).await;
    assert_eq!(r.store.committed(), texts);
    assert_eq!(r.store.max_in_flight.load(Ordering::SeqCst), 1, "never two commits at once");
    let conv = r.store.state.lock().unwrap().conversation.clone().unwrap();
    assert_eq!(conv.unread_count, 60, "no lost update");
    assert_eq!(r.store.state.lock().unwrap().snapshots, 1, "the snapshot is kept between items");
}

#[actix::test]
async fn a_failing_item_is_retried_and_later_items_wait_for_it() {
    let r = rig(fast());
    let (a, b, c) = (message("a"), message("b"), message("c"));
    for i in [&a, &b, &c] {
        r.store.add(i);
    }
    r.store.state.lock().unwrap().fail.insert(b.id, 2);
    r.registry.dispatch(&r.key, vec![a, b, c]);
    eventually("all committed", || r.store.committed().len() == 3).await;
    assert_eq!(r.store.committed(), ["a", "b", "c"]);
    assert_eq!(r.registry.snapshot().retries, 2);
}

#[actix::test]
async fn a_poison_item_is_parked_and_does_not_block_the_conversation() {
    let r = rig(RuntimeConfig { max_attempts: 3, ..fast() });
    let (a, poison, c) = (message("a"), message("poison"), message("c"));
    for i in [&a, &poison, &c] {
        r.store.add(i);
    }
    r.store.state.lock().unwrap().fail.insert(poison.id, usize::MAX);
    r.registry.dispatch(&r.key, vec![a, poison.clone(), c]);
    eventually("the rest committed", || r.store.committed().len() == 2).await;
    assert_eq!(r.store.committed(), ["a", "c"]);
    assert_eq!(r.store.item_state(poison.id), "failed");
    assert_eq!(r.registry.snapshot().parked, 1);
}

#[actix::test]
async fn a_panicking_handler_counts_a_restart_and_the_item_is_retried() {
    let r = rig(fast());
    *r.store.panic_on.lock().unwrap() = Some("boom".into());
    let (a, boom, c) = (message("a"), message("boom"), message("c"));
    for i in [&a, &boom, &c] {
        r.store.add(i);
    }
    r.registry.dispatch(&r.key, vec![a.clone()]);
    eventually("a committed", || r.store.committed().len() == 1).await;
    r.registry.dispatch(&r.key, vec![boom.clone(), c.clone()]);
    eventually("a restart", || r.registry.snapshot().restarts >= 1).await;
    // The cause goes away (a fixed dependency): the item is retried and the order kept.
    *r.store.panic_on.lock().unwrap() = None;
    eventually("all committed", || r.store.committed().len() == 3).await;
    assert_eq!(r.store.committed(), ["a", "boom", "c"]);
    assert!(r.store.state.lock().unwrap().snapshots >= 2, "state is reloaded after a panic");
}

#[actix::test]
async fn idle_actors_passivate_and_rehydrate_from_the_store() {
    let r = rig(RuntimeConfig { idle_ttl: Duration::from_millis(50), ..fast() });
    let first = message("first");
    r.store.add(&first);
    r.registry.dispatch(&r.key, vec![first]);
    eventually("committed", || r.store.committed().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(r.registry.passivate_idle(), 1);
    assert!(!r.registry.is_active(&r.key));
    let second = message("second");
    r.store.add(&second);
    r.registry.dispatch(&r.key, vec![second]);
    eventually("committed again", || r.store.committed().len() == 2).await;
    let s = r.registry.snapshot();
    assert_eq!((s.activations, s.passivations), (2, 1));
    let conv = r.store.state.lock().unwrap().conversation.clone().unwrap();
    assert_eq!(conv.unread_count, 2, "the rehydrated actor continued the same conversation");
}

#[actix::test]
async fn a_full_actor_leaves_items_in_the_store_and_reloads_them_in_order() {
    let r = rig(RuntimeConfig { mailbox_capacity: 2, ..fast() });
    *r.store.delay.lock().unwrap() = Duration::from_millis(5);
    let items: Vec<InboxItem> = (0..12).map(|i| message(&format!("m{i}"))).collect();
    for i in &items {
        r.store.add(i);
    }
    for i in &items {
        r.registry.dispatch(&r.key, vec![i.clone()]);
    }
    eventually("all committed", || r.store.committed().len() == 12).await;
    assert!(r.registry.snapshot().dropped_deliveries > 0, "the test must overflow the mailbox");
    assert_eq!(r.store.committed(), (0..12).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(r.registry.snapshot().mailbox_total, 0);
}

#[actix::test]
async fn items_waiting_in_the_store_are_picked_up_by_a_wake() {
    let r = rig(fast());
    let items: Vec<InboxItem> = (0..5).map(|i| message(&format!("m{i}"))).collect();
    for i in &items {
        r.store.add(i);
    }
    r.registry.wake(&r.key);
    eventually("all committed", || r.store.committed().len() == 5).await;
    assert_eq!(r.store.committed(), ["m0", "m1", "m2", "m3", "m4"]);
}

#[actix::test]
async fn events_are_sequenced_per_organization_and_replayed_on_resubscribe() {
    let r = rig(fast());
    let seen: Arc<Mutex<Vec<Arc<OrgEvent>>>> = Arc::default();
    let sink = seen.clone();
    let id = Uuid::now_v7();
    let org = r.registry.org(r.key.org);
    let missed = org
        .send(Subscribe {
            id,
            sink: Arc::new(move |e| {
                sink.lock().unwrap().push(e.clone());
                true
            }),
            after_seq: None,
        })
        .await
        .unwrap();
    assert!(missed.unwrap().is_empty());
    for t in ["x", "y"] {
        let item = message(t);
        r.store.add(&item);
        r.registry.dispatch(&r.key, vec![item]);
    }
    eventually("three events", || seen.lock().unwrap().len() == 3).await;
    let got: Vec<(u64, &str)> = seen.lock().unwrap().iter().map(|e| (e.seq, e.event_type)).collect();
    assert_eq!(got, [(1, "conversation.created"), (2, "message.created"), (3, "message.created")]);
    let frame: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[1].frame).unwrap();
    assert_eq!(frame["type"], "message.created");
    assert_eq!(frame["seq"], 2);
    assert_eq!(frame["data"]["text"], "x");
    org.send(Unsubscribe(id)).await.unwrap();

    // A reconnecting subscriber gets exactly what it missed...
    let replay = org
        .send(Subscribe { id: Uuid::now_v7(), sink: Arc::new(|_| true), after_seq: Some(1) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replay.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    // ...and one that claims a future sequence (a previous run) is told to resync.
    let ahead =
        org.send(Subscribe { id: Uuid::now_v7(), sink: Arc::new(|_| true), after_seq: Some(99) }).await.unwrap();
    assert!(matches!(ahead, Err(3)));
}
