//! The common change set committed in one PostgreSQL statement: an item that only updates its
//! conversation and stores its messages (most inbound messages once a conversation exists) needs
//! no transaction around it. One statement claims the items, updates the conversations (versioned)
//! and inserts the messages of a whole batch, and checks that every row was written; if any was
//! not (an item already processed, a stale version, a duplicate wamid), `pytake_commit_check`
//! (migration 0005) raises and the statement writes nothing, and the caller commits those change
//! sets the general way ([`super::steps`]), which tells their outcomes apart. One round trip instead
//! of five (BEGIN, claim, update, insert, COMMIT).

use super::steps::ChangesOutcome;
use crate::db::{StoreError, pg_push};
use crate::repo::{conversations, messages};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{Changes, Committed, ConversationKey, ConversationRecord, ConversationWrite};
use sqlx::postgres::{PgArguments, PgConnection};
use std::sync::LazyLock;

/// The SQLSTATE `pytake_commit_check` raises when the statement wrote less than asked.
const INCOMPLETE: &str = "PT409";

/// Whether a change set is one this statement can commit: it claims an item, updates an existing
/// conversation and stores messages that reply to nothing, and writes nothing else.
pub fn fits(changes: &Changes) -> bool {
    changes.inbox_item.is_some()
        && changes.contact.is_none()
        && matches!(changes.conversation, Some(ConversationWrite::Update(_)))
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
    // $1 now, $2 the items, then the conversations' arrays ($3 ids, $4 their organizations: an
    // item is claimed only in its conversation's organization), then the messages'.
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        let message_arrays = 3 + conversations::PG_VERSIONED_ARRAYS;
        format!(
            "WITH claimed AS (
                 UPDATE inbox_items SET state = 'done', processed_at = $1
                 FROM UNNEST($2::uuid[], $4::uuid[]) AS i(id, organization_id)
                 WHERE inbox_items.id = i.id AND inbox_items.organization_id = i.organization_id AND inbox_items.state = 'pending'
                 RETURNING inbox_items.id),
             updated AS ({} RETURNING conversations.id),
             stored AS ({} ON CONFLICT DO NOTHING RETURNING id)
             SELECT pytake_commit_check(
                 (SELECT count(*) FROM claimed) = cardinality($2)
                 AND (SELECT count(*) FROM updated) = cardinality($2)
                 AND (SELECT count(*) FROM stored) = cardinality(${message_arrays}::uuid[]))",
            conversations::pg_update_versioned_sql(1, 3),
            messages::pg_insert_rows_sql(message_arrays),
        )
    });
    let mut records: Vec<(OrgId, &ConversationRecord)> = Vec::with_capacity(sets.len());
    let mut rows: Vec<messages::OrgMessageRow> = Vec::with_capacity(sets.len());
    let mut items = Vec::with_capacity(sets.len());
    for (key, changes) in sets {
        let (Some(item), Some(ConversationWrite::Update(record))) = (changes.inbox_item, &changes.conversation) else {
            return Err(StoreError::Failed(
                "a change set that needs a transaction reached the single statement".into(),
            ));
        };
        items.push(item);
        records.push((key.org, record));
        rows.extend(changes.messages.iter().map(|m| (key.org, record.id, key.number_id, m, None)));
    }
    let mut args = PgArguments::default();
    pg_push(&mut args, now)?;
    pg_push(&mut args, items)?;
    conversations::pg_bind_versioned(&mut args, &records, now)?;
    messages::pg_bind_rows(&mut args, &rows)?;
    match sqlx::query_with(STATEMENT.as_str(), args).execute(conn).await {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(INCOMPLETE) => return Ok(Attempt::Incomplete),
        Err(e) => return Err(e.into()),
    }
    Ok(Attempt::Committed(
        sets.iter()
            .map(|(_, changes)| {
                let conversation = match &changes.conversation {
                    Some(ConversationWrite::Update(record)) => {
                        Some(ConversationRecord { version: record.version + 1, ..record.clone() })
                    }
                    _ => None,
                };
                ChangesOutcome::Committed(Box::new(Committed {
                    contact: None,
                    conversation,
                    messages: changes.messages.iter().map(|m| (m.clone(), None)).collect(),
                }))
            })
            .collect(),
    ))
}
