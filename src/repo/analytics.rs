//! Analytics events: flow starts, completions, handoffs, analytics nodes (reports read these).

use crate::db::{Conn, StoreError};
use crate::sql_exec;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::AnalyticsRecord;
use sqlx::types::Json;
use uuid::Uuid;

pub async fn insert(
    c: &mut dyn Conn,
    org: OrgId,
    conversation: Option<Uuid>,
    r: &AnalyticsRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO analytics_events (id, organization_id, conversation_id, flow_id, node_id, event_name, properties, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        r.id,
        org.as_uuid(),
        conversation,
        r.flow_id,
        &r.node_id,
        &r.event,
        Json(&r.properties),
        now
    )?;
    Ok(())
}

/// Many events in one statement on PostgreSQL (one by one on SQLite, where statements are cheap):
/// (organization, conversation, event).
pub async fn insert_many(
    c: &mut dyn Conn,
    events: &[(OrgId, Option<Uuid>, &AnalyticsRecord)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use crate::db::ConnRef;
    if events.is_empty() {
        return Ok(());
    }
    match c.conn() {
        ConnRef::Postgres(conn) => {
            sqlx::query(
                "INSERT INTO analytics_events (id, organization_id, conversation_id, flow_id, node_id, event_name, properties, created_at)
                 SELECT u.id, u.organization_id, u.conversation_id, u.flow_id, u.node_id, u.event_name, u.properties::jsonb, $1
                 FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[])
                     AS u(id, organization_id, conversation_id, flow_id, node_id, event_name, properties)",
            )
            .bind(now)
            .bind(events.iter().map(|e| e.2.id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.0.as_uuid()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.1).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2.flow_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2.node_id.clone()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2.event.clone()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2.properties.to_string()).collect::<Vec<_>>())
            .execute(conn)
            .await?;
        }
        ConnRef::Sqlite(_) => {
            for (org, conversation, e) in events {
                insert(c, *org, *conversation, e, now).await?;
            }
        }
    }
    Ok(())
}
