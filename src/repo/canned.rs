//! Canned responses: an organization's saved replies, found by shortcut.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CannedRow {
    pub id: Uuid,
    pub shortcut: String,
    pub title: Option<String>,
    pub text: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// False when a live canned response already has this shortcut.
pub async fn insert(c: &mut dyn Conn, org: OrgId, r: &CannedRow) -> Result<bool, StoreError> {
    match sql_exec!(
        c,
        "INSERT INTO canned_responses (id, organization_id, shortcut, title, text, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        r.id,
        org.as_uuid(),
        &r.shortcut,
        &r.title,
        &r.text,
        r.created_by,
        r.created_at,
        r.updated_at
    ) {
        Ok(_) => Ok(true),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `Some(false)` when the row is gone, `None` when the new shortcut is taken.
pub async fn update(c: &mut dyn Conn, org: OrgId, r: &CannedRow) -> Result<Option<bool>, StoreError> {
    match sql_exec!(
        c,
        "UPDATE canned_responses SET shortcut = $3, title = $4, text = $5, updated_at = $6
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        r.id,
        &r.shortcut,
        &r.title,
        &r.text,
        r.updated_at
    ) {
        Ok(n) => Ok(Some(n == 1)),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<CannedRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        CannedRow,
        "SELECT id, shortcut, title, text, created_by, created_at, updated_at FROM canned_responses
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

/// Oldest first; `prefix` (a `LIKE` pattern) filters shortcuts that start with it (the composer's
/// `/` lookup).
pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    prefix: Option<&str>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<CannedRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        CannedRow,
        "SELECT id, shortcut, title, text, created_by, created_at, updated_at FROM canned_responses
         WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR shortcut LIKE $2 ESCAPE '\\')
           AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
        org.as_uuid(),
        prefix,
        after,
        i64::from(limit) + 1
    )?)
}

pub async fn soft_delete(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE canned_responses SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}
