//! The conversation actors' store: implements `pytake_actors::ports::ConversationStore`. A waking
//! actor's reads (pending items, snapshot) go through the [`hydrate::Hydrator`], which answers many
//! actors with one query; writes go through the [`committer::Committer`], which commits the
//! writes of many actors together. Every write first claims its inbox item (pending -> done,
//! conditionally), so an item's effects are written exactly once however often it is attempted.

pub mod committer;
pub mod hydrate;
pub mod routing;
pub mod single_statement;
pub mod steps;
pub mod warm_up;

use crate::db::Backend;
use crate::db::{Db, StoreError};
use crate::repo::flows;
use crate::repo::inbox::PendingRow;
use async_trait::async_trait;
use committer::{Committer, Op};
use dashmap::DashMap;
use hydrate::{Hydrator, SnapshotRows};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{Changes, Committed, ConversationKey, Snapshot, StatusApplied};
use pytake_actors::domain::inbound::{InboxPayload, StatusUpdate};
use pytake_actors::flow::{Flow, FlowJson, FlowSettings, LoadedFlow};
use pytake_actors::ports::{CommitError, ConversationStore, InboxItem, StoreFailure};
use routing::RoutingCache;
use std::sync::Arc;
use steps::{ChangesOutcome, StatusOutcome};
use uuid::Uuid;

pub struct SqlConversationStore {
    db: Db,
    committer: Committer,
    /// Parsed flow versions by id (versions never change).
    versions: DashMap<Uuid, Arc<LoadedFlow>>,
    routing: Arc<RoutingCache>,
    hydrator: Hydrator,
}

const VERSION_CACHE: usize = 2_000;

impl SqlConversationStore {
    pub fn new(db: Db, committer: Committer, routing: Arc<RoutingCache>) -> Self {
        // Two readers on PostgreSQL (one batch in flight while the next gathers); SQLite has one
        // connection for reads anyway.
        let readers = if db.backend() == Backend::Postgres { 2 } else { 1 };
        let hydrator = Hydrator::start(db.clone(), readers);
        SqlConversationStore { db, committer, versions: DashMap::new(), routing, hydrator }
    }

    async fn load_version(&self, org: OrgId, version_id: Uuid) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        if let Some(hit) = self.versions.get(&version_id) {
            return Ok(Some(hit.clone()));
        }
        let mut c = self.db.conn().await.map_err(failure)?;
        let Some(row) = flows::get_version(&mut c, org, version_id).await.map_err(failure)? else { return Ok(None) };
        let json: FlowJson = serde_json::from_value(row.definition.0).unwrap_or_default();
        let loaded = Arc::new(LoadedFlow {
            flow_id: row.flow_id,
            version_id: row.id,
            flow: Flow::from_json(&json),
            settings: serde_json::from_value::<FlowSettings>(row.settings.0).unwrap_or_default(),
        });
        if self.versions.len() >= VERSION_CACHE {
            self.versions.clear();
        }
        self.versions.insert(version_id, loaded.clone());
        Ok(Some(loaded))
    }

    async fn published(&self, org: OrgId, flow_id: Uuid) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        match self.routing.published_version(&self.db, org, flow_id).await.map_err(failure)? {
            Some(v) => self.load_version(org, v).await,
            None => Ok(None),
        }
    }
}

fn failure(e: StoreError) -> StoreFailure {
    StoreFailure(e.to_string())
}

/// Inbox rows as items, and the ids (with the error) of those that cannot be read.
fn parse_pending(rows: Vec<PendingRow>) -> (Vec<InboxItem>, Vec<(Uuid, String)>) {
    let mut items = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        match serde_json::from_value::<InboxPayload>(row.payload.0) {
            Ok(payload) => items.push(InboxItem { id: row.id, payload, attempts: row.attempts }),
            Err(e) => unreadable.push((row.id, e.to_string())),
        }
    }
    (items, unreadable)
}

impl SqlConversationStore {
    async fn build_snapshot(&self, key: &ConversationKey, rows: SnapshotRows) -> Result<Snapshot, StoreFailure> {
        let context = self
            .routing
            .number(&self.db, key.org, key.number_id)
            .await
            .map_err(failure)?
            .ok_or_else(|| StoreFailure(format!("number {} is not in organization {}", key.number_id, key.org)))?;
        let conversation = rows.conversation.map(|row| row.record()).transpose().map_err(failure)?;
        Ok(Snapshot {
            timezone: context.timezone,
            number: context.number,
            contact: rows.contact.as_ref().map(steps::contact_record),
            conversation,
        })
    }

    /// The snapshots and pending items (at most `limit` each) of many conversations, read together
    /// (for [`crate::prewarm`]). A key whose state cannot be read whole is left out: it wakes the
    /// ordinary way on its next item.
    pub async fn warm_batch(
        &self,
        keys: &[ConversationKey],
        limit: u32,
    ) -> Result<Vec<(ConversationKey, Snapshot, Vec<InboxItem>)>, StoreError> {
        let (pending, rows) = {
            let mut c = self.db.conn().await?;
            let refs: Vec<_> = keys.iter().map(hydrate::key_ref).collect();
            let pending = crate::repo::hydration::pending(&mut c, &refs, limit).await?;
            (pending, hydrate::snapshot_rows(&mut c, keys.iter()).await?)
        };
        let mut by_key = hydrate::group_pending(pending);
        let mut warm = Vec::with_capacity(keys.len());
        for key in keys {
            let own = by_key.remove(&hydrate::pending_key(key)).unwrap_or_default();
            let (items, unreadable) = parse_pending(own);
            let Ok(snapshot) = self.build_snapshot(key, rows.take(key)).await else { continue };
            if unreadable.is_empty() {
                warm.push((key.clone(), snapshot, items));
            }
        }
        Ok(warm)
    }
}

#[async_trait]
impl ConversationStore for SqlConversationStore {
    async fn pending_items(
        &self,
        key: &ConversationKey,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboxItem>, StoreFailure> {
        let rows = match after {
            None => self.hydrator.pending(key, limit).await?,
            Some(_) => {
                let mut c = self.db.conn().await.map_err(failure)?;
                crate::repo::inbox::pending_for(&mut c, key.org, key.number_id, &key.contact_wa_id, after, limit)
                    .await
                    .map_err(failure)?
            }
        };
        let (items, unreadable) = parse_pending(rows);
        for (id, error) in unreadable {
            // Unreadable (written by an incompatible version): park it rather than loop.
            tracing::error!(item = %id, %error, "unreadable inbox item parked");
            self.record_failure(id, &format!("unreadable payload: {error}"), true).await?;
        }
        Ok(items)
    }

    async fn snapshot(&self, key: &ConversationKey) -> Result<Snapshot, StoreFailure> {
        let rows = self.hydrator.snapshot(key).await?;
        self.build_snapshot(key, rows).await
    }

    async fn commit(&self, key: &ConversationKey, changes: Changes) -> Result<Committed, CommitError> {
        let key = key.clone();
        match self
            .committer
            .submit(|reply| Op::Changes { key, changes: Box::new(changes), reply })
            .await
            .map_err(failure)?
        {
            ChangesOutcome::Committed(c) => Ok(*c),
            ChangesOutcome::AlreadyProcessed => Err(CommitError::AlreadyProcessed),
            ChangesOutcome::Conflict => Err(CommitError::Conflict),
        }
    }

    async fn apply_status(
        &self,
        key: &ConversationKey,
        item: Uuid,
        status: &StatusUpdate,
    ) -> Result<Option<StatusApplied>, CommitError> {
        let (key, status) = (key.clone(), status.clone());
        match self.committer.submit(|reply| Op::Status { key, item, status, reply }).await.map_err(failure)? {
            StatusOutcome::Applied(a) => Ok(Some(a)),
            StatusOutcome::Orphan => Ok(None),
            StatusOutcome::AlreadyProcessed => Err(CommitError::AlreadyProcessed),
        }
    }

    async fn finish_item(&self, item: Uuid, note: Option<&str>) -> Result<bool, StoreFailure> {
        let note = note.map(str::to_string);
        self.committer.submit(|reply| Op::Finish { item, note, reply }).await.map_err(failure)
    }

    async fn record_failure(&self, item: Uuid, error: &str, park: bool) -> Result<i32, StoreFailure> {
        let error = error.to_string();
        self.committer.submit(|reply| Op::Failure { item, error, park, reply }).await.map_err(failure)
    }

    async fn route(
        &self,
        key: &ConversationKey,
        first_text: Option<&str>,
    ) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        let Some(table) = self.routing.table(&self.db, key.org, key.number_id).await.map_err(failure)? else {
            return Ok(None);
        };
        for candidate in table.candidates(first_text) {
            if let Some(flow) = self.published(key.org, candidate).await? {
                return Ok(Some(flow));
            }
        }
        Ok(None)
    }

    async fn flow_version(
        &self,
        key: &ConversationKey,
        version_id: Uuid,
    ) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        self.load_version(key.org, version_id).await
    }

    async fn published_flow(
        &self,
        key: &ConversationKey,
        flow_id: Uuid,
    ) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        self.published(key.org, flow_id).await
    }

    async fn queue_department(&self, key: &ConversationKey, queue: Uuid) -> Result<Option<Uuid>, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        Ok(crate::repo::queues::get_queue(&mut c, key.org, queue).await.map_err(failure)?.and_then(|q| q.department_id))
    }
}
