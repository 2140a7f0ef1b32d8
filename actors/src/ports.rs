//! Ports: what the actors need from the outside world. `src/` implements them; tests fake them.

use crate::domain::conversation::{Changes, Committed, ConversationKey, Snapshot, StatusApplied};
use crate::domain::event::OrgEvent;
use crate::domain::inbound::{InboxPayload, StatusUpdate};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Reads the current time. The flow engine never reads a clock; actors ask this port.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, at store precision.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::domain::time::to_store_precision(Utc::now())
    }
}

/// Makes new ids.
pub trait IdGen: Send + Sync + 'static {
    fn new_id(&self) -> Uuid;
}

/// UUIDv7 ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl IdGen for UuidV7 {
    fn new_id(&self) -> Uuid {
        crate::domain::ids::new_id()
    }
}

/// A stored inbox item, as the conversation actor receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxItem {
    pub id: Uuid,
    pub payload: InboxPayload,
    pub attempts: i32,
}

/// The store could not do what was asked (it is down, or the data is not what it should be).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreFailure(pub String);

#[derive(Clone, Debug, thiserror::Error)]
pub enum CommitError {
    /// The inbox item was already processed (by an earlier attempt or another node): nothing done.
    #[error("the item was already processed")]
    AlreadyProcessed,
    /// The conversation changed since the snapshot (another writer): reload and try again.
    #[error("the conversation changed since it was read")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// Conversation persistence, as the conversation actor needs it.
#[async_trait::async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Pending inbox items for `key` with ids after `after`, oldest first, at most `limit`.
    async fn pending_items(
        &self,
        key: &ConversationKey,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboxItem>, StoreFailure>;

    /// The number, contact and open conversation for `key`.
    async fn snapshot(&self, key: &ConversationKey) -> Result<Snapshot, StoreFailure>;

    /// Commits `changes` in one transaction (see [`Changes`]).
    async fn commit(&self, key: &ConversationKey, changes: Changes) -> Result<Committed, CommitError>;

    /// Applies a status to the message it names and marks `item` done, in one transaction.
    /// `Ok(None)`: no message matches (yet); nothing was changed.
    async fn apply_status(
        &self,
        key: &ConversationKey,
        item: Uuid,
        status: &StatusUpdate,
    ) -> Result<Option<StatusApplied>, CommitError>;

    /// Marks an item done without other changes, noting why. False if it was not pending.
    async fn finish_item(&self, item: Uuid, note: Option<&str>) -> Result<bool, StoreFailure>;

    /// Records a failed attempt (and parks the item as failed when `park`). Returns the attempts.
    async fn record_failure(&self, item: Uuid, error: &str, park: bool) -> Result<i32, StoreFailure>;

    /// The flow a new conversation starts, given the customer's first text: a bound chatbot whose
    /// keyword matches, else the number's default flow, else its default chatbot's main flow, else
    /// a bound chatbot marked default. Only published versions run.
    async fn route(
        &self,
        key: &ConversationKey,
        first_text: Option<&str>,
    ) -> Result<Option<std::sync::Arc<crate::flow::LoadedFlow>>, StoreFailure>;

    /// A flow version a conversation runs (versions are immutable).
    async fn flow_version(
        &self,
        key: &ConversationKey,
        version_id: Uuid,
    ) -> Result<Option<std::sync::Arc<crate::flow::LoadedFlow>>, StoreFailure>;

    /// A flow's current published version (for jumps between flows).
    async fn published_flow(
        &self,
        key: &ConversationKey,
        flow_id: Uuid,
    ) -> Result<Option<std::sync::Arc<crate::flow::LoadedFlow>>, StoreFailure>;

    /// The department a queue belongs to (a handoff to a queue puts the conversation there, so the
    /// department's agents see it at once).
    async fn queue_department(&self, _key: &ConversationKey, _queue: Uuid) -> Result<Option<Uuid>, StoreFailure> {
        Ok(None)
    }
}

/// Calls HTTP APIs for flows (`api_call` nodes and webhook actions), with the server's safety rules
/// (allowed hosts, no private addresses, timeouts, a response size cap).
#[async_trait::async_trait]
pub trait HttpCaller: Send + Sync + 'static {
    async fn call(&self, org: crate::OrgId, request: &crate::flow::engine::HttpRequest) -> crate::flow::ApiOutcome;
}

/// Takes committed outgoing messages for sending.
pub trait OutboxSink: Send + Sync + 'static {
    fn enqueue(&self, org: crate::OrgId, number_id: Uuid, items: Vec<crate::domain::conversation::NewOutbox>);
}

/// Carries sequenced events to other nodes. The in-process default does nothing.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: &OrgEvent);
}

/// No other nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalOnly;

impl EventBus for LocalOnly {
    fn publish(&self, _: &OrgEvent) {}
}

/// Where a conversation's actor runs when several nodes share one database: exactly one node (its
/// owner) processes a conversation's items, so they stay in order across nodes.
pub trait Placement: Send + Sync + 'static {
    /// Whether this node owns `key`.
    fn is_local(&self, key: &crate::domain::conversation::ConversationKey) -> bool;
    /// Tells the owner of `key` that it has pending items in the store.
    fn forward(&self, key: &crate::domain::conversation::ConversationKey);
    /// Whether other nodes are live (then a key's items may have arrived anywhere).
    fn shared(&self) -> bool;
}

/// One run of the flow engine on one input, as the archive keeps it: which nodes it entered, what
/// came in, what it did and how long it took.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FlowTrace {
    pub org_id: Uuid,
    pub conversation_id: Uuid,
    pub flow_id: Uuid,
    pub version_id: Option<Uuid>,
    pub input: serde_json::Value,
    pub entered: Vec<String>,
    pub effects: serde_json::Value,
    pub duration_us: u64,
    pub at: DateTime<Utc>,
}

/// Where flow traces go (MongoDB or the SQL archive). Must never block: a full queue drops and
/// counts. Traces are handed over only after the step's changes are committed.
pub trait Archive: Send + Sync + 'static {
    /// Whether traces are kept at all (when not, the actors do not build them).
    fn traces_enabled(&self) -> bool;
    fn trace(&self, trace: FlowTrace);
}

/// Keeps nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoArchive;

impl Archive for NoArchive {
    fn traces_enabled(&self) -> bool {
        false
    }
    fn trace(&self, _: FlowTrace) {}
}
