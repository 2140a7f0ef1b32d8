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

/// Writes a batch in one statement on PostgreSQL (row by row, in the caller's transaction, on SQLite).
pub async fn insert_many(c: &mut dyn Conn, rows: &[TraceRow]) -> Result<(), StoreError> {
    use crate::db::ConnRef;
    match c.conn() {
        ConnRef::Postgres(conn) if !rows.is_empty() => {
            sqlx::query(
                "INSERT INTO flow_traces (id, organization_id, conversation_id, flow_id, version_id, input, entered, effects, duration_us, created_at)
                 SELECT u.id, u.organization_id, u.conversation_id, u.flow_id, u.version_id, u.input::jsonb, u.entered::jsonb,
                     u.effects::jsonb, u.duration_us, u.created_at
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[],
                     $9::int8[], $10::timestamptz[])
                     AS u(id, organization_id, conversation_id, flow_id, version_id, input, entered, effects, duration_us, created_at)",
            )
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.organization_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.flow_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.version_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.input.0.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.entered.0.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.effects.0.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.duration_us).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .execute(conn)
            .await?;
        }
        _ => {
            for r in rows {
                insert(c, r).await?;
            }
        }
    }
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
