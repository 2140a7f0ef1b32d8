//! The audit log: who changed what, when, with before/after snapshots (secrets redacted by callers).

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub before_state: Option<Json<Value>>,
    pub after_state: Option<Json<Value>>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(c: &mut dyn Conn, a: &AuditRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO audit_log (id, organization_id, actor_user_id, action, entity_type, entity_id, before_state, after_state, ip, request_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        a.id,
        a.organization_id,
        a.actor_user_id,
        &a.action,
        &a.entity_type,
        a.entity_id,
        &a.before_state,
        &a.after_state,
        &a.ip,
        &a.request_id,
        a.created_at
    )?;
    Ok(())
}

pub struct AuditFilter<'a> {
    pub entity_type: Option<&'a str>,
    pub entity_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
}

/// The organization's audit entries, newest first, before the cursor `before`.
pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    filter: &AuditFilter<'_>,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        AuditRow,
        "SELECT id, organization_id, actor_user_id, action, entity_type, entity_id, before_state, after_state, ip, request_id, created_at
         FROM audit_log
         WHERE organization_id = $1 AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR entity_type = $3)
           AND ($4 IS NULL OR entity_id = $4) AND ($5 IS NULL OR actor_user_id = $5)
         ORDER BY id DESC LIMIT $6",
        org.as_uuid(),
        before,
        filter.entity_type,
        filter.entity_id,
        filter.actor_user_id,
        i64::from(limit) + 1
    )?)
}

/// Entries of every organization after `after` (by id, which grows with time), created before
/// `settled` (so a transaction still committing is not skipped), oldest first: what the archive ships.
pub async fn after(
    c: &mut dyn Conn,
    after: Option<Uuid>,
    settled: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        AuditRow,
        "SELECT id, organization_id, actor_user_id, action, entity_type, entity_id, before_state, after_state, ip, request_id, created_at
         FROM audit_log WHERE ($1 IS NULL OR id > $1) AND created_at < $2 ORDER BY id LIMIT $3",
        after,
        settled,
        i64::from(limit)
    )?)
}
