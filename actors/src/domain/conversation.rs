//! Conversations as the actors see them: the key that names a conversation actor, the records an
//! actor holds between messages, and the changes it asks the store to commit in one transaction.

use super::ids::OrgId;
use super::message::MessageStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use uuid::Uuid;

/// Which conversation actor handles an item: one per organization, number and contact.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationKey {
    pub org: OrgId,
    pub number_id: Uuid,
    pub contact_wa_id: String,
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.org, self.number_id, self.contact_wa_id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// With the bot, or waiting for no one in particular.
    Open,
    /// Waiting in a queue for an agent.
    Queued,
    /// An agent holds it.
    Assigned,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Queued => "queued",
            ConversationStatus::Assigned => "assigned",
            ConversationStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => ConversationStatus::Open,
            "queued" => ConversationStatus::Queued,
            "assigned" => ConversationStatus::Assigned,
            "closed" => ConversationStatus::Closed,
            _ => return None,
        })
    }
}

/// The WhatsApp number a conversation runs on, with its routing defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberRecord {
    pub id: Uuid,
    pub phone_number_id: String,
    pub default_chatbot_id: Option<Uuid>,
    pub default_flow_id: Option<Uuid>,
    pub default_department_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContactRecord {
    pub id: Uuid,
    pub wa_id: String,
    pub name: Option<String>,
    pub profile_name: Option<String>,
    pub is_blocked: bool,
    pub is_vip: bool,
    pub last_inbound_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConversationRecord {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub status: ConversationStatus,
    pub is_bot_active: bool,
    pub assigned_agent_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub priority: i32,
    pub queued_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub window_expires_at: Option<DateTime<Utc>>,
    pub unread_count: i32,
    pub flow_id: Option<Uuid>,
    pub flow_version_id: Option<Uuid>,
    pub flow_state: Value,
    /// Why the bot handed the conversation over (the flow's context note or the guard's reason).
    pub handoff_note: Option<String>,
    /// Optimistic-concurrency version: every write checks and bumps it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

/// What an actor holds between messages; reloaded from the store after any failure.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub number: NumberRecord,
    /// The organization's time zone (flows' dates and business hours).
    pub timezone: chrono_tz::Tz,
    pub contact: Option<ContactRecord>,
    /// The conversation that is not closed, if any.
    pub conversation: Option<ConversationRecord>,
}

/// A message to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    pub id: Uuid,
    pub direction: Direction,
    pub sender_type: SenderType,
    pub sender_user_id: Option<Uuid>,
    pub wamid: Option<String>,
    pub message_type: String,
    pub text: Option<String>,
    pub content: Value,
    pub status: MessageStatus,
    pub reply_to_wamid: Option<String>,
    pub client_id: Option<String>,
    pub is_internal_note: bool,
    pub wa_timestamp: Option<DateTime<Utc>>,
    pub error: Option<(i64, String)>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderType {
    Contact,
    Bot,
    Agent,
    System,
    Api,
    Campaign,
}

impl SenderType {
    pub fn as_str(&self) -> &'static str {
        match self {
            SenderType::Contact => "contact",
            SenderType::Bot => "bot",
            SenderType::Agent => "agent",
            SenderType::System => "system",
            SenderType::Api => "api",
            SenderType::Campaign => "campaign",
        }
    }
}

/// The contact fields an inbound message refreshes.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactUpsert {
    pub id: Uuid,
    pub wa_id: String,
    pub profile_name: Option<String>,
    pub last_inbound_at: DateTime<Utc>,
}

/// A conversation to create, or to update when its stored version still equals `version`.
#[derive(Clone, Debug, PartialEq)]
pub enum ConversationWrite {
    Insert(ConversationRecord),
    Update(ConversationRecord),
}

/// Everything one handled item changes, committed in one transaction. `inbox_item` is marked done
/// in that transaction only if it is still pending: a second attempt at the same item commits
/// nothing (exactly-once processing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub inbox_item: Option<Uuid>,
    pub contact: Option<ContactUpsert>,
    pub conversation: Option<ConversationWrite>,
    pub messages: Vec<NewMessage>,
    /// Outgoing messages to hand to the sender after the commit (each also in `messages`).
    pub outbox: Vec<NewOutbox>,
    /// Timer changes, in order.
    pub timers: Vec<TimerChange>,
    /// Contact fields a flow saved (name, email, phone, company, job_title; others become attributes).
    pub contact_fields: Option<serde_json::Map<String, Value>>,
    pub analytics: Vec<AnalyticsRecord>,
    /// Tags to put on the conversation (created in the organization when new).
    pub tags: Vec<String>,
    /// What the flow engine did, for the archive once the changes are committed (not stored with them).
    pub traces: Vec<crate::ports::FlowTrace>,
}

/// A message waiting to be sent through the Graph API.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutbox {
    pub id: Uuid,
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    /// The recipient's wa_id.
    pub recipient: String,
    /// text, media, interactive, template
    pub kind: String,
    /// The message as the flow engine describes it (`OutMessage`).
    pub payload: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TimerChange {
    Schedule {
        id: Uuid,
        kind: String,
        node: String,
        due_at: DateTime<Utc>,
        token: u64,
    },
    /// Every pending timer of the conversation is obsolete.
    CancelAll,
}

/// A named event for reports (flow analytics nodes, flow starts and ends, handoffs).
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyticsRecord {
    pub id: Uuid,
    pub flow_id: Option<Uuid>,
    pub node_id: Option<String>,
    pub event: String,
    pub properties: Value,
}

/// What the store wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    pub contact: Option<ContactRecord>,
    /// The conversation as stored (with its new version).
    pub conversation: Option<ConversationRecord>,
    /// Stored messages, with the id of the message each replies to when we know it.
    pub messages: Vec<(NewMessage, Option<Uuid>)>,
}

/// A delivery status applied to one of our messages.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusApplied {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    /// The message's status after the update (unchanged when the update was stale).
    pub status: MessageStatus,
    /// Whether the status moved.
    pub advanced: bool,
}
