//! WhatsApp numbers. Secrets are stored Fernet-encrypted (`*_enc`); the verify token also as a
//! SHA-256 hash so the webhook handshake can look it up. Lookups by `phone_number_id` and by verify
//! token hash are unscoped: they are how the webhook finds the tenant.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct NumberRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub phone_number_id: String,
    pub waba_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub display_name: Option<String>,
    pub access_token_enc: Option<String>,
    pub app_secret_enc: Option<String>,
    pub verify_token_enc: Option<String>,
    pub verify_token_hash: Option<String>,
    pub default_chatbot_id: Option<Uuid>,
    pub default_flow_id: Option<Uuid>,
    pub default_department_id: Option<Uuid>,
    pub messages_per_second: i32,
    pub status: String,
    pub quality_rating: Option<String>,
    pub token_invalid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub async fn insert(c: &mut dyn Conn, n: &NumberRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO whatsapp_numbers (id, organization_id, phone_number_id, waba_id, display_phone_number, display_name,
             access_token_enc, app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id,
             default_department_id, messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        n.id,
        n.organization_id,
        &n.phone_number_id,
        &n.waba_id,
        &n.display_phone_number,
        &n.display_name,
        &n.access_token_enc,
        &n.app_secret_enc,
        &n.verify_token_enc,
        &n.verify_token_hash,
        n.default_chatbot_id,
        n.default_flow_id,
        n.default_department_id,
        n.messages_per_second,
        &n.status,
        &n.quality_rating,
        n.token_invalid_at,
        n.created_at,
        n.updated_at,
        n.deleted_at
    )?;
    Ok(())
}

/// Writes every column of a number of `org` (also used to restore a deleted one).
pub async fn update(c: &mut dyn Conn, org: OrgId, n: &NumberRow) -> Result<bool, StoreError> {
    let rows = sql_exec!(
        c,
        "UPDATE whatsapp_numbers SET waba_id = $3, display_phone_number = $4, display_name = $5, access_token_enc = $6,
             app_secret_enc = $7, verify_token_enc = $8, verify_token_hash = $9, default_chatbot_id = $10, default_flow_id = $11,
             default_department_id = $12, messages_per_second = $13, status = $14, quality_rating = $15, token_invalid_at = $16,
             updated_at = $17, deleted_at = $18
         WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        n.id,
        &n.waba_id,
        &n.display_phone_number,
        &n.display_name,
        &n.access_token_enc,
        &n.app_secret_enc,
        &n.verify_token_enc,
        &n.verify_token_hash,
        n.default_chatbot_id,
        n.default_flow_id,
        n.default_department_id,
        n.messages_per_second,
        &n.status,
        &n.quality_rating,
        n.token_invalid_at,
        n.updated_at,
        n.deleted_at
    )?;
    Ok(rows == 1)
}

const SELECT: &str = "SELECT id, organization_id, phone_number_id, waba_id, display_phone_number, display_name, access_token_enc,
    app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id, default_department_id,
    messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at FROM whatsapp_numbers";

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<NumberRow>, StoreError> {
    let _ = SELECT;
    Ok(sql_as!(
        c,
        fetch_optional,
        NumberRow,
        "SELECT id, organization_id, phone_number_id, waba_id, display_phone_number, display_name, access_token_enc,
            app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id, default_department_id,
            messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at
         FROM whatsapp_numbers WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list(c: &mut dyn Conn, org: OrgId, after: Option<Uuid>, limit: u32) -> Result<Vec<NumberRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        NumberRow,
        "SELECT id, organization_id, phone_number_id, waba_id, display_phone_number, display_name, access_token_enc,
            app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id, default_department_id,
            messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at
         FROM whatsapp_numbers WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
        org.as_uuid(),
        after,
        i64::from(limit) + 1
    )?)
}

/// Webhook routing only: the number Meta names, deleted or not (the caller decides).
pub async fn find_by_phone_number_id(c: &mut dyn Conn, phone_number_id: &str) -> Result<Option<NumberRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        NumberRow,
        "SELECT id, organization_id, phone_number_id, waba_id, display_phone_number, display_name, access_token_enc,
            app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id, default_department_id,
            messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at
         FROM whatsapp_numbers WHERE phone_number_id = $1",
        phone_number_id
    )?)
}

/// Webhook routing only: a live number of a WhatsApp Business Account (oldest first).
pub async fn find_by_waba_id(c: &mut dyn Conn, waba_id: &str) -> Result<Option<NumberRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        NumberRow,
        "SELECT id, organization_id, phone_number_id, waba_id, display_phone_number, display_name, access_token_enc,
            app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id, default_department_id,
            messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at
         FROM whatsapp_numbers WHERE waba_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1",
        waba_id
    )?)
}

/// Webhook handshake only: whether any live number has this verify token (by hash).
pub async fn verify_token_exists(c: &mut dyn Conn, hash: &str) -> Result<bool, StoreError> {
    let n = sql_scalar!(
        c,
        fetch_one,
        i64,
        "SELECT COUNT(*) FROM whatsapp_numbers WHERE verify_token_hash = $1 AND deleted_at IS NULL",
        hash
    )?;
    Ok(n > 0)
}

/// A number of `org` by id, deleted or not (conversation actors keep running on deleted numbers).
pub async fn get_any(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<NumberRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        NumberRow,
        "SELECT id, organization_id, phone_number_id, waba_id, display_phone_number, display_name, access_token_enc,
            app_secret_enc, verify_token_enc, verify_token_hash, default_chatbot_id, default_flow_id, default_department_id,
            messages_per_second, status, quality_rating, token_invalid_at, created_at, updated_at, deleted_at
         FROM whatsapp_numbers WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id
    )?)
}

/// Whether `table` has a live row `id` in `org` (for validating references such as default_flow_id).
pub async fn reference_exists(c: &mut dyn Conn, org: OrgId, table: Reference, id: Uuid) -> Result<bool, StoreError> {
    let n = match table {
        Reference::Chatbot => sql_scalar!(
            c,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM chatbots WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
            org.as_uuid(),
            id
        )?,
        Reference::Flow => sql_scalar!(
            c,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM flows WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
            org.as_uuid(),
            id
        )?,
        Reference::Department => sql_scalar!(
            c,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM departments WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
            org.as_uuid(),
            id
        )?,
        Reference::Queue => sql_scalar!(
            c,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM queues WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
            org.as_uuid(),
            id
        )?,
        Reference::Number => sql_scalar!(
            c,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM whatsapp_numbers WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
            org.as_uuid(),
            id
        )?,
        Reference::User => sql_scalar!(
            c,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM users WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL AND is_active = $3",
            org.as_uuid(),
            id,
            true
        )?,
    };
    Ok(n > 0)
}

#[derive(Clone, Copy, Debug)]
pub enum Reference {
    Chatbot,
    Flow,
    Department,
    Queue,
    User,
    Number,
}

/// Flags a number whose access token Meta rejected (cleared when a new token is saved).
pub async fn flag_token_invalid(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE whatsapp_numbers SET token_invalid_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(())
}
