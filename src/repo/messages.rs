//! Messages of conversations, and the status updates Meta reports for ours.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::NewMessage;
use pytake_actors::views::{MessageError, MessageView};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub conversation_id: Uuid,
    pub number_id: Uuid,
    pub direction: String,
    pub sender_type: String,
    pub sender_user_id: Option<Uuid>,
    pub wamid: Option<String>,
    pub message_type: String,
    pub text: Option<String>,
    pub content: Json<Value>,
    pub status: String,
    pub error_code: Option<i32>,
    pub error_title: Option<String>,
    pub error_details: Option<String>,
    pub reply_to_wamid: Option<String>,
    pub reply_to_message_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub is_internal_note: bool,
    pub wa_timestamp: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MessageRow> for MessageView {
    fn from(m: MessageRow) -> Self {
        MessageView {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            sender_type: m.sender_type,
            sender_user_id: m.sender_user_id,
            wamid: m.wamid,
            message_type: m.message_type,
            text: m.text,
            content: m.content.0,
            status: m.status,
            error: m.error_code.map(|code| MessageError {
                code: i64::from(code),
                title: m.error_title,
                details: m.error_details,
            }),
            reply_to_wamid: m.reply_to_wamid,
            reply_to_message_id: m.reply_to_message_id,
            client_id: m.client_id,
            is_internal_note: m.is_internal_note,
            wa_timestamp: m.wa_timestamp,
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            failed_at: m.failed_at,
            created_at: m.created_at,
        }
    }
}

pub async fn insert(
    c: &mut dyn Conn,
    org: OrgId,
    conversation_id: Uuid,
    number_id: Uuid,
    m: &NewMessage,
    reply_to_message_id: Option<Uuid>,
) -> Result<(), StoreError> {
    let (error_code, error_title) = match &m.error {
        Some((code, title)) => (Some(i32::try_from(*code).unwrap_or(i32::MAX)), Some(title.clone())),
        None => (None, None),
    };
    sql_exec!(
        c,
        "INSERT INTO messages (id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid,
             message_type, text, content, status, error_code, error_title, reply_to_wamid, reply_to_message_id, client_id,
             is_internal_note, wa_timestamp, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)",
        m.id,
        org.as_uuid(),
        conversation_id,
        number_id,
        m.direction.as_str(),
        m.sender_type.as_str(),
        m.sender_user_id,
        &m.wamid,
        &m.message_type,
        &m.text,
        Json(&m.content),
        m.status.as_str(),
        error_code,
        error_title,
        &m.reply_to_wamid,
        reply_to_message_id,
        &m.client_id,
        m.is_internal_note,
        m.wa_timestamp,
        m.created_at
    )?;
    Ok(())
}

/// The id of the message `wamid` on `number_id` (to link replies to what they quote).
pub async fn id_by_wamid(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    wamid: &str,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_optional,
        Uuid,
        "SELECT id FROM messages WHERE organization_id = $1 AND number_id = $2 AND wamid = $3",
        org.as_uuid(),
        number_id,
        wamid
    )?)
}

/// What a status update needs to know about the message it names.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StatusTarget {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub status: String,
    pub wamid: Option<String>,
}

/// Our outbound message by its wamid, or by our own id echoed in `biz_opaque_callback_data`.
pub async fn find_status_target(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    wamid: &str,
    our_id: Option<Uuid>,
) -> Result<Option<StatusTarget>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        StatusTarget,
        "SELECT id, conversation_id, status, wamid FROM messages
         WHERE organization_id = $1 AND number_id = $2 AND direction = 'outbound' AND (wamid = $3 OR ($4 IS NOT NULL AND id = $4))
         LIMIT 1",
        org.as_uuid(),
        number_id,
        wamid,
        our_id
    )?)
}

/// Records a status: moves `status` when `new_status` is given, always stamps the status's own
/// time column once, fills the wamid if we did not have it, and stores a failure's error.
#[allow(clippy::too_many_arguments)]
pub async fn apply_status(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    reported: &str,
    new_status: Option<&str>,
    wamid: &str,
    at: DateTime<Utc>,
    error: Option<(i32, Option<String>, Option<String>)>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (code, title, details) = match error {
        Some((c, t, d)) => (Some(c), t, d),
        None => (None, None, None),
    };
    sql_exec!(
        c,
        "UPDATE messages SET status = COALESCE($3, status),
             sent_at = CASE WHEN $4 = 'sent' AND sent_at IS NULL THEN $6 ELSE sent_at END,
             delivered_at = CASE WHEN $4 = 'delivered' AND delivered_at IS NULL THEN $6 ELSE delivered_at END,
             read_at = CASE WHEN $4 IN ('read', 'played') AND read_at IS NULL THEN $6 ELSE read_at END,
             failed_at = CASE WHEN $3 = 'failed' THEN $6 ELSE failed_at END,
             error_code = CASE WHEN $3 = 'failed' THEN $7 ELSE error_code END,
             error_title = CASE WHEN $3 = 'failed' THEN $8 ELSE error_title END,
             error_details = CASE WHEN $3 = 'failed' THEN $9 ELSE error_details END,
             wamid = COALESCE(wamid, $5), updated_at = $10
         WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        new_status,
        reported,
        wamid,
        at,
        code,
        title,
        details,
        now
    )?;
    Ok(())
}

/// Messages of a conversation, oldest first, after the cursor `after`.
pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    conversation_id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        MessageRow,
        "SELECT id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid, message_type, text,
             content, status, error_code, error_title, error_details, reply_to_wamid, reply_to_message_id, client_id,
             is_internal_note, wa_timestamp, sent_at, delivered_at, read_at, failed_at, created_at, updated_at
         FROM messages WHERE organization_id = $1 AND conversation_id = $2 AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
        org.as_uuid(),
        conversation_id,
        after,
        i64::from(limit) + 1
    )?)
}
