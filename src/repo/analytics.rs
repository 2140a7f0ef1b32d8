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
