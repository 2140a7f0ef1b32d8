//! WhatsApp message templates of a number, as submitted to and reviewed by Meta.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub name: String,
    pub language: String,
    pub category: String,
    /// `draft` (local only), then Meta's: `PENDING`, `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`.
    pub status: String,
    pub components: Json<Value>,
    /// `positional` or `named`.
    pub parameter_format: String,
    pub meta_template_id: Option<String>,
    pub quality_rating: Option<String>,
    pub rejected_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// False when the number already has a live template of this name and language.
pub async fn insert(c: &mut dyn Conn, t: &TemplateRow) -> Result<bool, StoreError> {
    match sql_exec!(
        c,
        "INSERT INTO whatsapp_templates (id, organization_id, number_id, name, language, category, status, components,
             parameter_format, meta_template_id, quality_rating, rejected_reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        t.id,
        t.organization_id,
        t.number_id,
        &t.name,
        &t.language,
        &t.category,
        &t.status,
        &t.components,
        &t.parameter_format,
        &t.meta_template_id,
        &t.quality_rating,
        &t.rejected_reason,
        t.created_at,
        t.updated_at
    ) {
        Ok(_) => Ok(true),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn update(c: &mut dyn Conn, org: OrgId, t: &TemplateRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE whatsapp_templates SET category = $3, status = $4, components = $5, parameter_format = $6, meta_template_id = $7,
             quality_rating = $8, rejected_reason = $9, updated_at = $10
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        t.id,
        &t.category,
        &t.status,
        &t.components,
        &t.parameter_format,
        &t.meta_template_id,
        &t.quality_rating,
        &t.rejected_reason,
        t.updated_at
    )?;
    Ok(n == 1)
}

pub async fn get(c: &mut dyn Conn, org: OrgId, number: Uuid, id: Uuid) -> Result<Option<TemplateRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        TemplateRow,
        "SELECT id, organization_id, number_id, name, language, category, status, components, parameter_format,
             meta_template_id, quality_rating, rejected_reason, created_at, updated_at
         FROM whatsapp_templates WHERE organization_id = $1 AND number_id = $2 AND id = $3 AND deleted_at IS NULL",
        org.as_uuid(),
        number,
        id
    )?)
}

pub async fn by_name(
    c: &mut dyn Conn,
    org: OrgId,
    number: Uuid,
    name: &str,
    language: &str,
) -> Result<Option<TemplateRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        TemplateRow,
        "SELECT id, organization_id, number_id, name, language, category, status, components, parameter_format,
             meta_template_id, quality_rating, rejected_reason, created_at, updated_at
         FROM whatsapp_templates WHERE organization_id = $1 AND number_id = $2 AND name = $3 AND language = $4 AND deleted_at IS NULL",
        org.as_uuid(),
        number,
        name,
        language
    )?)
}

pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    number: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<TemplateRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        TemplateRow,
        "SELECT id, organization_id, number_id, name, language, category, status, components, parameter_format,
             meta_template_id, quality_rating, rejected_reason, created_at, updated_at
         FROM whatsapp_templates WHERE organization_id = $1 AND number_id = $2 AND deleted_at IS NULL AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
        org.as_uuid(),
        number,
        after,
        i64::from(limit) + 1
    )?)
}

pub async fn soft_delete(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE whatsapp_templates SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}

/// Applies Meta's review (`message_template_status_update`) to the template with that Meta id, in
/// whichever organization holds it; returns how many rows changed.
pub async fn apply_review(
    c: &mut dyn Conn,
    meta_template_id: &str,
    status: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sql_exec!(
        c,
        "UPDATE whatsapp_templates SET status = $2, rejected_reason = $3, updated_at = $4
         WHERE meta_template_id = $1 AND deleted_at IS NULL",
        meta_template_id,
        status,
        reason,
        now
    )?)
}
