//! The SQL archive's flow traces: batch insert, the prune by age, and a conversation's traces.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TraceRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub conversation_id: Uuid,
    pub flow_id: Uuid,
    pub version_id: Option<Uuid>,
    pub input: Json<Value>,
    pub entered: Json<Value>,
    pub effects: Json<Value>,
    pub duration_us: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(c: &mut dyn Conn, t: &TraceRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO flow_traces (id, organization_id, conversation_id, flow_id, version_id, input, entered, effects, duration_us, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        t.id,
        t.organization_id,
        t.conversation_id,
        t.flow_id,
        t.version_id,
        &t.input,
        &t.entered,
        &t.effects,
        t.duration_us,
        t.created_at
    )?;
    Ok(())
}

/// Deletes traces older than `before`; returns how many.
pub async fn prune(c: &mut dyn Conn, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(sql_exec!(c, "DELETE FROM flow_traces WHERE created_at < $1", before)?)
}

/// A conversation's traces, oldest first.
pub async fn for_conversation(
    c: &mut dyn Conn,
    org: OrgId,
    conversation: Uuid,
    limit: u32,
) -> Result<Vec<TraceRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        TraceRow,
        "SELECT id, organization_id, conversation_id, flow_id, version_id, input, entered, effects, duration_us, created_at
         FROM flow_traces WHERE organization_id = $1 AND conversation_id = $2 ORDER BY created_at, id LIMIT $3",
        org.as_uuid(),
        conversation,
        i64::from(limit)
    )?)
}
