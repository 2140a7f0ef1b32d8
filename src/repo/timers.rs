//! Flow timers, stored with their due time so they fire after a passivation or a restart. A due
//! timer becomes an inbox item of its conversation (claimed here, pending -> fired, so it fires once).

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

/// A timer to store.
pub struct NewTimer<'a> {
    pub id: Uuid,
    pub conversation: Uuid,
    pub kind: &'a str,
    pub due_at: DateTime<Utc>,
    pub payload: Value,
}

pub async fn schedule(c: &mut dyn Conn, org: OrgId, t: &NewTimer<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let NewTimer { id, conversation, kind, due_at, payload } = t;
    sql_exec!(
        c,
        "INSERT INTO timers (id, organization_id, conversation_id, kind, due_at, payload, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
        *id,
        org.as_uuid(),
        *conversation,
        *kind,
        *due_at,
        Json(payload),
        now
    )?;
    Ok(())
}

pub async fn cancel_all(
    c: &mut dyn Conn,
    org: OrgId,
    conversation: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE timers SET state = 'cancelled', fired_at = $3 WHERE organization_id = $1 AND conversation_id = $2 AND state = 'pending'",
        org.as_uuid(),
        conversation,
        now
    )?;
    Ok(())
}

/// A due timer with what routing its item needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueTimer {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub conversation_id: Uuid,
    pub number_id: Uuid,
    pub contact_wa_id: String,
    pub kind: String,
    pub payload: Json<Value>,
    pub due_at: DateTime<Utc>,
}

pub async fn due(c: &mut dyn Conn, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueTimer>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        DueTimer,
        "SELECT t.id, t.organization_id, t.conversation_id, v.number_id, k.wa_id AS contact_wa_id, t.kind, t.payload, t.due_at
         FROM timers t JOIN conversations v ON v.id = t.conversation_id JOIN contacts k ON k.id = v.contact_id
         WHERE t.state = 'pending' AND t.due_at <= $1 ORDER BY t.due_at LIMIT $2",
        now,
        i64::from(limit)
    )?)
}

/// Marks a timer fired; false when it was not pending any more (cancelled, or fired elsewhere).
pub async fn mark_fired(c: &mut dyn Conn, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n =
        sql_exec!(c, "UPDATE timers SET state = 'fired', fired_at = $2 WHERE id = $1 AND state = 'pending'", id, now)?;
    Ok(n == 1)
}
