//! Webhook deliveries and inbox items. An item is inserted once per dedup key (a redelivery inserts
//! nothing), starts `pending`, and becomes `done` in the same transaction as its effects, or
//! `failed` (parked) after too many attempts.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    /// `accepted`, `malformed`, `unknown_number`, `ignored`.
    pub outcome: String,
    pub body_sha256: String,
    pub body_size: i32,
    /// Kept only when the delivery needs inspection (malformed, unknown number).
    pub body: Option<String>,
    pub item_count: i32,
    pub duplicate_count: i32,
    pub error: Option<String>,
    pub source_ip: Option<String>,
}

pub async fn insert_delivery(c: &mut dyn Conn, d: &DeliveryRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO webhook_deliveries (id, received_at, outcome, body_sha256, body_size, body, item_count, duplicate_count, error, source_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        d.id,
        d.received_at,
        &d.outcome,
        &d.body_sha256,
        d.body_size,
        &d.body,
        d.item_count,
        d.duplicate_count,
        &d.error,
        &d.source_ip
    )?;
    Ok(())
}

pub async fn set_delivery_counts(c: &mut dyn Conn, id: Uuid, items: i32, duplicates: i32) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE webhook_deliveries SET item_count = $2, duplicate_count = $3 WHERE id = $1",
        id,
        items,
        duplicates
    )?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct NewInboxItem {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub kind: &'static str,
    pub dedup_key: String,
    pub contact_wa_id: String,
    pub payload: Value,
    pub wa_timestamp: Option<DateTime<Utc>>,
}

/// Inserts the item unless its dedup key is known. True when inserted.
pub async fn insert_item(
    c: &mut dyn Conn,
    delivery_id: Uuid,
    i: &NewInboxItem,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "INSERT INTO inbox_items (id, organization_id, delivery_id, number_id, kind, dedup_key, contact_wa_id, payload, wa_timestamp,
             state, attempts, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10)
         ON CONFLICT (dedup_key) DO NOTHING",
        i.id,
        i.organization_id,
        delivery_id,
        i.number_id,
        i.kind,
        &i.dedup_key,
        &i.contact_wa_id,
        Json(&i.payload),
        i.wa_timestamp,
        now
    )?;
    Ok(n == 1)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingRow {
    pub id: Uuid,
    pub payload: Json<Value>,
    pub attempts: i32,
}

/// Pending items of one conversation key, oldest first.
pub async fn pending_for(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    contact_wa_id: &str,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<PendingRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        PendingRow,
        "SELECT id, payload, attempts FROM inbox_items
         WHERE number_id = $2 AND contact_wa_id = $3 AND state = 'pending' AND organization_id = $1 AND ($4 IS NULL OR id > $4)
         ORDER BY id LIMIT $5",
        org.as_uuid(),
        number_id,
        contact_wa_id,
        after,
        i64::from(limit)
    )?)
}

/// Marks a pending item done. False when it was not pending (already processed).
pub async fn mark_done(c: &mut dyn Conn, id: Uuid, note: Option<&str>, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE inbox_items SET state = 'done', processed_at = $2, last_error = COALESCE($3, last_error)
         WHERE id = $1 AND state = 'pending'",
        id,
        now,
        note
    )?;
    Ok(n == 1)
}

/// Counts a failed attempt; with `park`, the item becomes `failed` and is no longer retried.
pub async fn record_failure(
    c: &mut dyn Conn,
    id: Uuid,
    error: &str,
    park: bool,
    now: DateTime<Utc>,
) -> Result<i32, StoreError> {
    let state = if park { "failed" } else { "pending" };
    let attempts = sql_scalar!(
        c,
        fetch_optional,
        i32,
        "UPDATE inbox_items SET attempts = attempts + 1, last_error = $2, state = $3,
             processed_at = CASE WHEN $3 = 'failed' THEN $4 ELSE processed_at END
         WHERE id = $1 AND state = 'pending' RETURNING attempts",
        id,
        error.chars().take(2000).collect::<String>(),
        state,
        now
    )?;
    Ok(attempts.unwrap_or(0))
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingKey {
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub contact_wa_id: String,
}

/// Conversation keys with pending items created before `before` (recovery and the sweeper).
pub async fn pending_keys(c: &mut dyn Conn, before: DateTime<Utc>, limit: u32) -> Result<Vec<PendingKey>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        PendingKey,
        "SELECT organization_id, number_id, contact_wa_id FROM inbox_items
         WHERE state = 'pending' AND created_at <= $1
         GROUP BY organization_id, number_id, contact_wa_id
         ORDER BY MIN(created_at) LIMIT $2",
        before,
        i64::from(limit)
    )?)
}

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub failed: i64,
}

pub async fn backlog(c: &mut dyn Conn) -> Result<Backlog, StoreError> {
    let pending = sql_scalar!(c, fetch_one, i64, "SELECT COUNT(*) FROM inbox_items WHERE state = 'pending'")?;
    let oldest = sql_scalar!(
        c,
        fetch_optional,
        DateTime<Utc>,
        "SELECT created_at FROM inbox_items WHERE state = 'pending' ORDER BY id LIMIT 1"
    )?;
    let failed = sql_scalar!(c, fetch_one, i64, "SELECT COUNT(*) FROM inbox_items WHERE state = 'failed'")?;
    Ok(Backlog { pending, oldest_pending_at: oldest, failed })
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FailedItem {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub kind: String,
    pub contact_wa_id: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The most recently parked items (for ops).
pub async fn failed_items(c: &mut dyn Conn, limit: u32) -> Result<Vec<FailedItem>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        FailedItem,
        "SELECT id, organization_id, kind, contact_wa_id, attempts, last_error, created_at FROM inbox_items
         WHERE state = 'failed' ORDER BY id DESC LIMIT $1",
        i64::from(limit)
    )?)
}
