//! The JSON shapes of messages and conversations, shared by REST responses and socket events so a
//! console handles both the same way.

use crate::domain::conversation::{ConversationRecord, NewMessage};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageError {
    pub code: i64,
    pub title: Option<String>,
    pub details: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageView {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `contact`, `bot`, `agent`, `system`, `api` or `campaign`.
    pub sender_type: String,
    pub sender_user_id: Option<Uuid>,
    pub wamid: Option<String>,
    /// `text`, `image`, `interactive`, `template`, `note`, ...
    #[serde(rename = "type")]
    pub message_type: String,
    pub text: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: Value,
    /// `received`, `pending`, `sent`, `delivered`, `read`, `played`, `failed` or `deleted`.
    pub status: String,
    pub error: Option<MessageError>,
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
}

impl MessageView {
    /// The view of a message just stored.
    pub fn of_new(m: &NewMessage, conversation_id: Uuid, reply_to_message_id: Option<Uuid>) -> Self {
        MessageView {
            id: m.id,
            conversation_id,
            direction: m.direction.as_str().into(),
            sender_type: m.sender_type.as_str().into(),
            sender_user_id: m.sender_user_id,
            wamid: m.wamid.clone(),
            message_type: m.message_type.clone(),
            text: m.text.clone(),
            content: m.content.clone(),
            status: m.status.as_str().into(),
            error: m.error.as_ref().map(|(code, title)| MessageError {
                code: *code,
                title: Some(title.clone()),
                details: None,
            }),
            reply_to_wamid: m.reply_to_wamid.clone(),
            reply_to_message_id,
            client_id: m.client_id.clone(),
            is_internal_note: m.is_internal_note,
            wa_timestamp: m.wa_timestamp,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            failed_at: None,
            created_at: m.created_at,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactSummary {
    pub id: Uuid,
    pub wa_id: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationView {
    pub id: Uuid,
    pub number_id: Uuid,
    pub contact: ContactSummary,
    /// `open`, `queued`, `assigned` or `closed`.
    pub status: String,
    pub is_bot_active: bool,
    pub assigned_agent_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub priority: i32,
    pub queued_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// When the 24-hour customer-service window closes (free-form messages allowed until then).
    pub window_expires_at: Option<DateTime<Utc>>,
    pub unread_count: i32,
    pub flow_id: Option<Uuid>,
    /// The published flow version the bot runs (a running conversation keeps its version).
    pub flow_version_id: Option<Uuid>,
    /// Why the bot handed the conversation over (the flow's context note or a guard's reason).
    pub handoff_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl ConversationView {
    pub fn of(c: &ConversationRecord, number_id: Uuid, contact: ContactSummary) -> Self {
        ConversationView {
            id: c.id,
            number_id,
            contact,
            status: c.status.as_str().into(),
            is_bot_active: c.is_bot_active,
            assigned_agent_id: c.assigned_agent_id,
            department_id: c.department_id,
            queue_id: c.queue_id,
            priority: c.priority,
            queued_at: c.queued_at,
            last_message_at: c.last_message_at,
            last_inbound_at: c.last_inbound_at,
            window_expires_at: c.window_expires_at,
            unread_count: c.unread_count,
            flow_id: c.flow_id,
            flow_version_id: c.flow_version_id,
            handoff_note: c.handoff_note.clone(),
            created_at: c.created_at,
        }
    }
}
