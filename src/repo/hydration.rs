//! Reads that wake many conversation actors at once: the pending items and the snapshot rows (the
//! contact, its open conversation) of a batch of conversation keys. On PostgreSQL one statement per
//! kind for the whole batch (arrays joined to the table, each key still using its index); on SQLite,
//! whose one connection has no round trip to save, the per-key queries in a loop.

use super::contacts::{self, ContactRow};
use super::conversations::{self, ConversationRow};
use super::inbox;
use crate::db::{Conn, ConnRef, StoreError};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

/// One conversation key, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct KeyRef<'a> {
    pub org: OrgId,
    pub number_id: Uuid,
    pub wa_id: &'a str,
}

/// A pending inbox item with the key it belongs to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyedPending {
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub contact_wa_id: String,
    pub id: Uuid,
    pub payload: Json<Value>,
    pub attempts: i32,
}

/// The oldest `limit` pending items of each key (distinct keys), oldest first overall.
pub async fn pending(c: &mut dyn Conn, keys: &[KeyRef<'_>], limit: u32) -> Result<Vec<KeyedPending>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if let ConnRef::Postgres(conn) = c.conn() {
        let orgs: Vec<Uuid> = keys.iter().map(|k| k.org.as_uuid()).collect();
        let numbers: Vec<Uuid> = keys.iter().map(|k| k.number_id).collect();
        let wa_ids: Vec<&str> = keys.iter().map(|k| k.wa_id).collect();
        return Ok(sqlx::query_as(
            "SELECT k.organization_id, k.number_id, k.contact_wa_id, p.id, p.payload, p.attempts
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS k(organization_id, number_id, contact_wa_id)
             CROSS JOIN LATERAL (
                 SELECT i.id, i.payload, i.attempts FROM inbox_items i
                 WHERE i.number_id = k.number_id AND i.contact_wa_id = k.contact_wa_id AND i.state = 'pending'
                   AND i.organization_id = k.organization_id
                 ORDER BY i.id LIMIT $4) p
             ORDER BY p.id",
        )
        .bind(orgs)
        .bind(numbers)
        .bind(wa_ids)
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?);
    }
    let mut found = Vec::new();
    for k in keys {
        for row in inbox::pending_for(c, k.org, k.number_id, k.wa_id, None, limit).await? {
            found.push(KeyedPending {
                organization_id: k.org.as_uuid(),
                number_id: k.number_id,
                contact_wa_id: k.wa_id.to_string(),
                id: row.id,
                payload: row.payload,
                attempts: row.attempts,
            });
        }
    }
    found.sort_by_key(|p| p.id);
    Ok(found)
}

/// The contacts (not deleted) with these (organization, wa_id) pairs.
pub async fn contacts(c: &mut dyn Conn, keys: &[(OrgId, &str)]) -> Result<Vec<ContactRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if let ConnRef::Postgres(conn) = c.conn() {
        let orgs: Vec<Uuid> = keys.iter().map(|k| k.0.as_uuid()).collect();
        let wa_ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
        return Ok(sqlx::query_as(
            // One index lookup per key (LATERAL): `(a, b) IN (SELECT * FROM UNNEST(..))` was
            // planned as a scan comparing every contact with every key (1.6 s for 400 keys).
            "SELECT c.* FROM UNNEST($1::uuid[], $2::text[]) AS k(key_org, key_wa_id)
             CROSS JOIN LATERAL (
                 SELECT id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
                     is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, last_inbound_at, created_at, updated_at
                 FROM contacts WHERE organization_id = k.key_org AND wa_id = k.key_wa_id AND deleted_at IS NULL) c",
        )
        .bind(orgs)
        .bind(wa_ids)
        .fetch_all(conn)
        .await?);
    }
    let mut found = Vec::new();
    for (org, wa_id) in keys {
        found.extend(contacts::find_by_wa_id(c, *org, wa_id).await?);
    }
    Ok(found)
}

/// The conversations that are not closed for these (organization, number, contact) triples.
pub async fn open_conversations(
    c: &mut dyn Conn,
    keys: &[(OrgId, Uuid, Uuid)],
) -> Result<Vec<ConversationRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if let ConnRef::Postgres(conn) = c.conn() {
        let orgs: Vec<Uuid> = keys.iter().map(|k| k.0.as_uuid()).collect();
        let numbers: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
        let contact_ids: Vec<Uuid> = keys.iter().map(|k| k.2).collect();
        return Ok(sqlx::query_as(
            "SELECT v.* FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[]) AS k(key_org, key_number, key_contact)
             CROSS JOIN LATERAL (
                 SELECT id, organization_id, contact_id, number_id, status, is_bot_active, assigned_agent_id, department_id,
                     queue_id, priority, handoff_note, queued_at, assigned_at, first_response_at, closed_at, last_message_at,
                     last_inbound_at, window_expires_at, unread_count, flow_id, flow_version_id, flow_state, sla_breached_at,
                     version, created_at, updated_at
                 FROM conversations
                 WHERE organization_id = k.key_org AND number_id = k.key_number AND contact_id = k.key_contact
                   AND status <> 'closed') v",
        )
        .bind(orgs)
        .bind(numbers)
        .bind(contact_ids)
        .fetch_all(conn)
        .await?);
    }
    let mut found = Vec::new();
    for (org, number_id, contact_id) in keys {
        found.extend(conversations::find_open(c, *org, *number_id, *contact_id).await?);
    }
    Ok(found)
}

#[derive(sqlx::FromRow)]
struct RecentKey {
    organization_id: Uuid,
    number_id: Uuid,
    contact_wa_id: String,
}

/// The keys of open conversations with a message after `since`, most recent first (at most `max`;
/// every organization: this is the node's own start-up work, not a tenant's request).
pub async fn recently_active(
    c: &mut dyn Conn,
    since: chrono::DateTime<chrono::Utc>,
    max: usize,
) -> Result<Vec<pytake_actors::domain::conversation::ConversationKey>, StoreError> {
    let rows = crate::sql_as!(
        c,
        fetch_all,
        RecentKey,
        "SELECT v.organization_id, v.number_id, k.wa_id AS contact_wa_id
         FROM conversations v JOIN contacts k ON k.id = v.contact_id AND k.organization_id = v.organization_id
         WHERE v.status <> 'closed' AND v.last_message_at > $1 AND k.deleted_at IS NULL
         ORDER BY v.last_message_at DESC LIMIT $2",
        since,
        i64::try_from(max).unwrap_or(i64::MAX)
    )?;
    Ok(rows
        .into_iter()
        .map(|r| pytake_actors::domain::conversation::ConversationKey {
            // Read from the conversation's own row: the organization it belongs to.
            #[allow(clippy::disallowed_methods)]
            org: OrgId::assume_verified(r.organization_id),
            number_id: r.number_id,
            contact_wa_id: r.contact_wa_id,
        })
        .collect())
}
