//! Organizations, the tenant root. Reads for a tenant take its `OrgId`; listing and managing every
//! organization is for super_admin services only.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub timezone: String,
    pub settings: Json<Value>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, slug, timezone, settings, is_active, created_at, updated_at";

pub async fn insert(c: &mut dyn Conn, row: &OrganizationRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO organizations (id, name, slug, timezone, settings, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        row.id,
        &row.name,
        &row.slug,
        &row.timezone,
        &row.settings,
        row.is_active,
        row.created_at,
        row.updated_at
    )?;
    Ok(())
}

/// The caller's own organization.
pub async fn get_own(c: &mut dyn Conn, org: OrgId) -> Result<Option<OrganizationRow>, StoreError> {
    get_by_id(c, org.as_uuid()).await
}

/// Any organization by id (super_admin services and the auth layer).
pub async fn get_by_id(c: &mut dyn Conn, id: Uuid) -> Result<Option<OrganizationRow>, StoreError> {
    let _ = COLUMNS;
    Ok(sql_as!(
        c,
        fetch_optional,
        OrganizationRow,
        "SELECT id, name, slug, timezone, settings, is_active, created_at, updated_at
         FROM organizations WHERE id = $1 AND deleted_at IS NULL",
        id
    )?)
}

pub async fn get_by_slug(c: &mut dyn Conn, slug: &str) -> Result<Option<OrganizationRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        OrganizationRow,
        "SELECT id, name, slug, timezone, settings, is_active, created_at, updated_at
         FROM organizations WHERE slug = $1 AND deleted_at IS NULL",
        slug
    )?)
}

/// Every organization, in creation order, after the cursor `after` (super_admin).
pub async fn list(c: &mut dyn Conn, after: Option<Uuid>, limit: u32) -> Result<Vec<OrganizationRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        OrganizationRow,
        "SELECT id, name, slug, timezone, settings, is_active, created_at, updated_at
         FROM organizations WHERE deleted_at IS NULL AND ($1 IS NULL OR id > $1)
         ORDER BY id LIMIT $2",
        after,
        i64::from(limit) + 1
    )?)
}

pub async fn update(c: &mut dyn Conn, row: &OrganizationRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE organizations SET name = $2, slug = $3, timezone = $4, settings = $5, is_active = $6, updated_at = $7
         WHERE id = $1 AND deleted_at IS NULL",
        row.id,
        &row.name,
        &row.slug,
        &row.timezone,
        &row.settings,
        row.is_active,
        row.updated_at
    )?;
    Ok(n == 1)
}

pub async fn soft_delete(c: &mut dyn Conn, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE organizations SET deleted_at = $2, is_active = $3, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        id,
        now,
        false
    )?;
    Ok(n == 1)
}

pub async fn count_all(c: &mut dyn Conn) -> Result<i64, StoreError> {
    Ok(sql_scalar!(c, fetch_one, i64, "SELECT COUNT(*) FROM organizations")?)
}
