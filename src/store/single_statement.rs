//! The common change sets committed in one PostgreSQL statement: an item that only updates its
//! conversation and stores its messages (most inbound messages once a conversation exists), or
//! opens a conversation (with a contact first seen) and stores its messages (a new customer), needs
//! no transaction around it. One statement inserts the new contacts and conversations, claims the
//! items, updates the existing conversations (versioned) and inserts the messages of a whole batch,
//! and checks that every row was written; if any was not (an item already processed, a stale
//! version, a duplicate wamid, a contact or an open conversation that exists already),
//! `pytake_commit_check` (migration 0005) raises and the statement writes nothing, and the caller
//! commits those change sets the general way ([`super::steps`]), which tells their outcomes apart.
//! One round trip instead of five to seven (BEGIN, claim, contacts, conversations, messages, COMMIT).

use super::steps::ChangesOutcome;
use crate::db::{StoreError, pg_push};
use crate::repo::{contacts, conversations, messages};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{
    Changes, Committed, ContactRecord, ConversationKey, ConversationRecord, ConversationWrite,
};
use sqlx::postgres::{PgArguments, PgConnection};
use std::sync::LazyLock;
use uuid::Uuid;

/// The SQLSTATE `pytake_commit_check` raises when the statement wrote less than asked.
const INCOMPLETE: &str = "PT409";

/// Whether a change set is one this statement can commit: it claims an item, updates an existing
/// conversation (with the contact as known) or opens one (with a contact first seen, or as known),
/// stores messages that reply to nothing, and writes nothing else.
pub fn fits(changes: &Changes) -> bool {
    let conversation = match &changes.conversation {
        Some(ConversationWrite::Update(_)) => changes.contact.is_none(),
        Some(ConversationWrite::Insert(_)) => true,
        None => false,
    };
    conversation
        && changes.inbox_item.is_some()
        && changes.messages.iter().all(|m| m.reply_to_wamid.is_none())
        && changes.outbox.is_empty()
        && changes.timers.is_empty()
        && changes.contact_fields.is_none()
        && changes.analytics.is_empty()
        && changes.tags.is_empty()
}

/// How the statement ended.
pub enum Attempt {
    /// Every change set committed, outcomes in the order given.
    Committed(Vec<ChangesOutcome>),
    /// Something was not written as asked: nothing was written.
    Incomplete,
}

/// Commits change sets that each [`fits`], all or none.
pub async fn commit(
    conn: &mut PgConnection,
    sets: &[(&ConversationKey, &Changes)],
    now: DateTime<Utc>,
) -> Result<Attempt, StoreError> {
    // $1 now; $2 the items and $3 their organizations (an item is claimed only in its
    // conversation's organization); then the arrays of the new contacts, of the conversation
    // updates, of the new conversations and of the messages, in that order.
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        let contacts = 4;
        let updates = contacts + contacts::PG_INBOUND_ARRAYS;
        let inserts = updates + conversations::PG_VERSIONED_ARRAYS;
        let messages = inserts + conversations::PG_NEW_ARRAYS;
        format!(
            "WITH new_contacts AS ({} ON CONFLICT DO NOTHING RETURNING id),
             claimed AS (
                 UPDATE inbox_items SET state = 'done', processed_at = $1
                 FROM UNNEST($2::uuid[], $3::uuid[]) AS i(id, organization_id)
                 WHERE inbox_items.id = i.id AND inbox_items.organization_id = i.organization_id AND inbox_items.state = 'pending'
                 RETURNING inbox_items.id),
             updated AS ({} RETURNING conversations.id),
             created AS ({} ON CONFLICT DO NOTHING RETURNING id),
             stored AS ({} ON CONFLICT DO NOTHING RETURNING id)
             SELECT pytake_commit_check(
                 (SELECT count(*) FROM new_contacts) = cardinality(${contacts}::uuid[])
                 AND (SELECT count(*) FROM claimed) = cardinality($2)
                 AND (SELECT count(*) FROM updated) = cardinality(${updates}::uuid[])
                 AND (SELECT count(*) FROM created) = cardinality(${inserts}::uuid[])
                 AND (SELECT count(*) FROM stored) = cardinality(${messages}::uuid[]))",
            contacts::pg_insert_inbound_sql(1, contacts),
            conversations::pg_update_versioned_sql(1, updates),
            conversations::pg_insert_new_sql(1, inserts),
            messages::pg_insert_rows_sql(messages),
        )
    });
    let mut items = Vec::with_capacity(sets.len());
    let mut item_orgs = Vec::with_capacity(sets.len());
    let mut new_contacts: Vec<contacts::InboundContact> = Vec::new();
    let mut updates: Vec<(OrgId, &ConversationRecord)> = Vec::new();
    let mut inserts: Vec<(OrgId, Uuid, ConversationRecord)> = Vec::new();
    let mut rows: Vec<messages::OrgMessageRow> = Vec::with_capacity(sets.len());
    let mut outcomes = Vec::with_capacity(sets.len());
    for (key, changes) in sets {
        let Some(item) = changes.inbox_item else { return Err(unfit()) };
        items.push(item);
        item_orgs.push(key.org.as_uuid());
        let contact = changes.contact.as_ref().map(|u| {
            new_contacts.push(contacts::InboundContact {
                org: key.org,
                new_id: u.id,
                wa_id: &u.wa_id,
                profile_name: u.profile_name.as_deref(),
                seen_at: u.last_inbound_at,
            });
            // Committed only if inserted here: exactly what the insert wrote.
            ContactRecord {
                id: u.id,
                wa_id: u.wa_id.clone(),
                name: None,
                profile_name: u.profile_name.clone(),
                is_blocked: false,
                is_vip: false,
                last_inbound_at: Some(u.last_inbound_at),
            }
        });
        let conversation = match &changes.conversation {
            Some(ConversationWrite::Update(record)) => {
                updates.push((key.org, record));
                ConversationRecord { version: record.version + 1, ..record.clone() }
            }
            Some(ConversationWrite::Insert(record)) => {
                let mut record = record.clone();
                if let Some(k) = &contact {
                    record.contact_id = k.id;
                }
                inserts.push((key.org, key.number_id, record.clone()));
                record
            }
            None => return Err(unfit()),
        };
        rows.extend(changes.messages.iter().map(|m| (key.org, conversation.id, key.number_id, m, None)));
        outcomes.push(ChangesOutcome::Committed(Box::new(Committed {
            contact,
            conversation: Some(conversation),
            messages: changes.messages.iter().map(|m| (m.clone(), None)).collect(),
        })));
    }
    let mut args = PgArguments::default();
    pg_push(&mut args, now)?;
    pg_push(&mut args, items)?;
    pg_push(&mut args, item_orgs)?;
    contacts::pg_bind_inbound(&mut args, &new_contacts)?;
    conversations::pg_bind_versioned(&mut args, &updates, now)?;
    let inserts: Vec<(OrgId, Uuid, &ConversationRecord)> = inserts.iter().map(|(o, n, r)| (*o, *n, r)).collect();
    conversations::pg_bind_new(&mut args, &inserts)?;
    messages::pg_bind_rows(&mut args, &rows)?;
    match sqlx::query_with(STATEMENT.as_str(), args).execute(conn).await {
        Ok(_) => Ok(Attempt::Committed(outcomes)),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(INCOMPLETE) => Ok(Attempt::Incomplete),
        Err(e) => Err(e.into()),
    }
}

fn unfit() -> StoreError {
    StoreError::Failed("a change set that needs a transaction reached the single statement".into())
}
