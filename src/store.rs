//! The conversation actors' store: implements `pytake_actors::ports::ConversationStore` on the SQL
//! repositories. Each commit is one transaction that first claims the inbox item (pending -> done,
//! conditionally), so an item's effects are written exactly once however often it is attempted.

use crate::db::{Db, DbTx, StoreError};
use crate::repo::{contacts, conversations, inbox, messages, numbers};
use async_trait::async_trait;
use pytake_actors::domain::conversation::{
    Changes, Committed, ContactRecord, ConversationKey, ConversationWrite, NumberRecord, Snapshot, StatusApplied,
};
use pytake_actors::domain::inbound::{InboxPayload, StatusUpdate};
use pytake_actors::domain::message::MessageStatus;
use pytake_actors::ports::{Clock, CommitError, ConversationStore, InboxItem, StoreFailure};
use std::sync::Arc;
use uuid::Uuid;

pub struct SqlConversationStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl SqlConversationStore {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        SqlConversationStore { db, clock }
    }
}

fn failure(e: StoreError) -> StoreFailure {
    StoreFailure(e.to_string())
}

fn contact_record(c: &contacts::ContactRow) -> ContactRecord {
    ContactRecord {
        id: c.id,
        wa_id: c.wa_id.clone(),
        name: c.name.clone(),
        profile_name: c.profile_name.clone(),
        is_blocked: c.is_blocked,
        is_vip: c.is_vip,
    }
}

impl SqlConversationStore {
    async fn commit_in(
        &self,
        tx: &mut DbTx,
        key: &ConversationKey,
        changes: &Changes,
    ) -> Result<Committed, CommitError> {
        let now = self.clock.now();
        let org = key.org;
        if let Some(item) = changes.inbox_item
            && !inbox::mark_done(tx, item, None, now).await.map_err(failure)?
        {
            return Err(CommitError::AlreadyProcessed);
        }
        let contact = match &changes.contact {
            Some(u) => Some(contact_record(
                &contacts::upsert_inbound(tx, org, u.id, &u.wa_id, u.profile_name.as_deref(), u.last_inbound_at, now)
                    .await
                    .map_err(failure)?,
            )),
            None => None,
        };
        let conversation = match &changes.conversation {
            Some(ConversationWrite::Insert(record)) => {
                let mut record = record.clone();
                if let Some(c) = &contact {
                    record.contact_id = c.id;
                }
                match conversations::insert(tx, org, key.number_id, &record, now).await {
                    Ok(()) => Some(record),
                    Err(e) if e.is_unique_violation() => return Err(CommitError::Conflict),
                    Err(e) => return Err(failure(e).into()),
                }
            }
            Some(ConversationWrite::Update(record)) => {
                if !conversations::update_versioned(tx, org, record, now).await.map_err(failure)? {
                    return Err(CommitError::Conflict);
                }
                let mut record = record.clone();
                record.version += 1;
                Some(record)
            }
            None => None,
        };
        let mut stored = Vec::with_capacity(changes.messages.len());
        if let Some(conv) = &conversation {
            for m in &changes.messages {
                let reply_to = match &m.reply_to_wamid {
                    Some(w) => messages::id_by_wamid(tx, org, key.number_id, w).await.map_err(failure)?,
                    None => None,
                };
                match messages::insert(tx, org, conv.id, key.number_id, m, reply_to).await {
                    Ok(()) => stored.push((m.clone(), reply_to)),
                    // The same wamid is already stored: this message was processed before.
                    Err(e) if e.is_unique_violation() => return Err(CommitError::AlreadyProcessed),
                    Err(e) => return Err(failure(e).into()),
                }
            }
        }
        Ok(Committed { contact, conversation, messages: stored })
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
        let mut c = self.db.conn().await.map_err(failure)?;
        let rows = inbox::pending_for(&mut c, key.org, key.number_id, &key.contact_wa_id, after, limit)
            .await
            .map_err(failure)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match serde_json::from_value::<InboxPayload>(row.payload.0) {
                Ok(payload) => items.push(InboxItem { id: row.id, payload, attempts: row.attempts }),
                Err(e) => {
                    // Unreadable (written by an incompatible version): park it rather than loop.
                    tracing::error!(item = %row.id, error = %e, "unreadable inbox item parked");
                    inbox::record_failure(&mut c, row.id, &format!("unreadable payload: {e}"), true, self.clock.now())
                        .await
                        .map_err(failure)?;
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
            contact: contact.as_ref().map(contact_record),
            conversation,
        })
    }

    async fn commit(&self, key: &ConversationKey, changes: Changes) -> Result<Committed, CommitError> {
        let mut tx = self.db.begin().await.map_err(failure)?;
        match self.commit_in(&mut tx, key, &changes).await {
            Ok(committed) => {
                tx.commit().await.map_err(failure)?;
                Ok(committed)
            }
            Err(CommitError::AlreadyProcessed) => {
                tx.rollback().await.map_err(failure)?;
                // A duplicate message (same wamid) on a still-pending item: close the item.
                if let Some(item) = changes.inbox_item {
                    let mut c = self.db.conn().await.map_err(failure)?;
                    inbox::mark_done(&mut c, item, Some("duplicate message"), self.clock.now())
                        .await
                        .map_err(failure)?;
                }
                Err(CommitError::AlreadyProcessed)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn apply_status(
        &self,
        key: &ConversationKey,
        item: Uuid,
        status: &StatusUpdate,
    ) -> Result<Option<StatusApplied>, CommitError> {
        let now = self.clock.now();
        let reported: MessageStatus = match status.status.parse() {
            Ok(s) => s,
            Err(e) => {
                let mut c = self.db.conn().await.map_err(failure)?;
                inbox::mark_done(&mut c, item, Some(&e), now).await.map_err(failure)?;
                return Err(CommitError::AlreadyProcessed);
            }
        };
        let our_id = status.biz_opaque_callback_data.as_deref().and_then(|s| s.parse::<Uuid>().ok());
        let mut tx = self.db.begin().await.map_err(failure)?;
        let target = messages::find_status_target(&mut tx, key.org, key.number_id, &status.wamid, our_id)
            .await
            .map_err(failure)?;
        let Some(target) = target else {
            tx.rollback().await.map_err(failure)?;
            return Ok(None);
        };
        if !inbox::mark_done(&mut tx, item, None, now).await.map_err(failure)? {
            tx.rollback().await.map_err(failure)?;
            return Err(CommitError::AlreadyProcessed);
        }
        let current: MessageStatus = target.status.parse().map_err(StoreFailure)?;
        let next = current.advance(reported);
        let at = status
            .timestamp
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(pytake_actors::domain::time::to_store_precision)
            .unwrap_or(now);
        let error = status.errors.first().map(|e| {
            (
                i32::try_from(e.code).unwrap_or(i32::MAX),
                e.title.clone().or_else(|| e.message.clone()),
                e.details.clone(),
            )
        });
        messages::apply_status(
            &mut tx,
            key.org,
            target.id,
            reported.as_str(),
            next.map(|s| s.as_str()),
            &status.wamid,
            at,
            error,
            now,
        )
        .await
        .map_err(failure)?;
        tx.commit().await.map_err(failure)?;
        Ok(Some(StatusApplied {
            message_id: target.id,
            conversation_id: target.conversation_id,
            status: next.unwrap_or(current),
            advanced: next.is_some(),
        }))
    }

    async fn finish_item(&self, item: Uuid, note: Option<&str>) -> Result<bool, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        inbox::mark_done(&mut c, item, note, self.clock.now()).await.map_err(failure)
    }

    async fn record_failure(&self, item: Uuid, error: &str, park: bool) -> Result<i32, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        inbox::record_failure(&mut c, item, error, park, self.clock.now()).await.map_err(failure)
    }
}
