//! Flows (a draft definition, React-Flow JSON) and their immutable published versions.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FlowRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub chatbot_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub definition: Json<Value>,
    pub settings: Json<Value>,
    pub latest_version: i32,
    pub published_version_id: Option<Uuid>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FlowVersionRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub flow_id: Uuid,
    pub version: i32,
    pub definition: Json<Value>,
    pub settings: Json<Value>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(c: &mut dyn Conn, f: &FlowRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO flows (id, organization_id, chatbot_id, name, description, definition, settings, latest_version,
             published_version_id, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        f.id,
        f.organization_id,
        f.chatbot_id,
        &f.name,
        &f.description,
        &f.definition,
        &f.settings,
        f.latest_version,
        f.published_version_id,
        f.is_active,
        f.created_at,
        f.updated_at
    )?;
    Ok(())
}

pub async fn update(c: &mut dyn Conn, org: OrgId, f: &FlowRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE flows SET chatbot_id = $3, name = $4, description = $5, definition = $6, settings = $7, latest_version = $8,
             published_version_id = $9, is_active = $10, updated_at = $11
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        f.id,
        f.chatbot_id,
        &f.name,
        &f.description,
        &f.definition,
        &f.settings,
        f.latest_version,
        f.published_version_id,
        f.is_active,
        f.updated_at
    )?;
    Ok(n == 1)
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<FlowRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        FlowRow,
        "SELECT id, organization_id, chatbot_id, name, description, definition, settings, latest_version, published_version_id,
             is_active, created_at, updated_at
         FROM flows WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    chatbot: Option<Uuid>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<FlowRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        FlowRow,
        "SELECT id, organization_id, chatbot_id, name, description, definition, settings, latest_version, published_version_id,
             is_active, created_at, updated_at
         FROM flows WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR chatbot_id = $2) AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
        org.as_uuid(),
        chatbot,
        after,
        i64::from(limit) + 1
    )?)
}

pub async fn soft_delete(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE flows SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}

pub async fn insert_version(c: &mut dyn Conn, v: &FlowVersionRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO flow_versions (id, organization_id, flow_id, version, definition, settings, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        v.id,
        v.organization_id,
        v.flow_id,
        v.version,
        &v.definition,
        &v.settings,
        v.created_by,
        v.created_at
    )?;
    Ok(())
}

pub async fn get_version(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<FlowVersionRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        FlowVersionRow,
        "SELECT id, organization_id, flow_id, version, definition, settings, created_by, created_at
         FROM flow_versions WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id
    )?)
}

pub async fn versions(c: &mut dyn Conn, org: OrgId, flow_id: Uuid) -> Result<Vec<FlowVersionRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        FlowVersionRow,
        "SELECT id, organization_id, flow_id, version, definition, settings, created_by, created_at
         FROM flow_versions WHERE organization_id = $1 AND flow_id = $2 ORDER BY version DESC",
        org.as_uuid(),
        flow_id
    )?)
}

/// The published version of a live, active flow.
pub async fn published_version_id(c: &mut dyn Conn, org: OrgId, flow_id: Uuid) -> Result<Option<Uuid>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_optional,
        Option<Uuid>,
        "SELECT published_version_id FROM flows WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL AND is_active = $3",
        org.as_uuid(),
        flow_id,
        true
    )?
    .flatten())
}
