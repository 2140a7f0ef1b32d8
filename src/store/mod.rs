//! The conversation actors' store: implements `pytake_actors::ports::ConversationStore`. Reads go
//! straight to the database; writes go through the [`committer::Committer`], which commits the
//! writes of many actors together. Every write first claims its inbox item (pending -> done,
//! conditionally), so an item's effects are written exactly once however often it is attempted.

pub mod committer;
pub mod steps;

use crate::db::{Db, StoreError};
use crate::repo::{contacts, conversations, inbox, numbers};
use async_trait::async_trait;
use committer::{Committer, Op};
use pytake_actors::domain::conversation::{Changes, Committed, ConversationKey, NumberRecord, Snapshot, StatusApplied};
use pytake_actors::domain::inbound::{InboxPayload, StatusUpdate};
use pytake_actors::ports::{CommitError, ConversationStore, InboxItem, StoreFailure};
use steps::{ChangesOutcome, StatusOutcome};
use uuid::Uuid;

pub struct SqlConversationStore {
    db: Db,
    committer: Committer,
}

impl SqlConversationStore {
    pub fn new(db: Db, committer: Committer) -> Self {
        SqlConversationStore { db, committer }
    }
}

fn failure(e: StoreError) -> StoreFailure {
    StoreFailure(e.to_string())
}

#[async_trait]
impl ConversationStore for SqlConversationStore {
    async fn pending_items(
        &self,
        key: &ConversationKey,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboxItem>, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        let rows = inbox::pending_for(&mut c, key.org, key.number_id, &key.contact_wa_id, after, limit)
            .await
            .map_err(failure)?;
        drop(c);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match serde_json::from_value::<InboxPayload>(row.payload.0) {
                Ok(payload) => items.push(InboxItem { id: row.id, payload, attempts: row.attempts }),
                Err(e) => {
                    // Unreadable (written by an incompatible version): park it rather than loop.
                    tracing::error!(item = %row.id, error = %e, "unreadable inbox item parked");
                    self.record_failure(row.id, &format!("unreadable payload: {e}"), true).await?;
                }
            }
        }
        Ok(items)
    }

    async fn snapshot(&self, key: &ConversationKey) -> Result<Snapshot, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        let number = numbers::get_any(&mut c, key.org, key.number_id)
            .await
            .map_err(failure)?
            .ok_or_else(|| StoreFailure(format!("number {} is not in organization {}", key.number_id, key.org)))?;
        let contact = contacts::find_by_wa_id(&mut c, key.org, &key.contact_wa_id).await.map_err(failure)?;
        let conversation = match &contact {
            Some(k) => conversations::find_open(&mut c, key.org, key.number_id, k.id)
                .await
                .map_err(failure)?
                .map(|row| row.record())
                .transpose()
                .map_err(failure)?,
            None => None,
        };
        Ok(Snapshot {
            number: NumberRecord {
                id: number.id,
                phone_number_id: number.phone_number_id,
                default_chatbot_id: number.default_chatbot_id,
                default_flow_id: number.default_flow_id,
                default_department_id: number.default_department_id,
            },
            contact: contact.as_ref().map(steps::contact_record),
            conversation,
        })
    }

    async fn commit(&self, key: &ConversationKey, changes: Changes) -> Result<Committed, CommitError> {
        let key = key.clone();
        match self.committer.submit(|reply| Op::Changes { key, changes, reply }).await.map_err(failure)? {
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
}
