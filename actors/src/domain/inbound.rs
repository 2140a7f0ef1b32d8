//! What a webhook delivery carries, normalized: the edge parses Meta's envelope into these items and
//! stores one per inbox row; the conversation actor reads them back. Unknown message types are kept
//! as `unsupported` with their raw object, never dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One unit of work from a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboxPayload {
    Message(InboundMessage),
    Status(StatusUpdate),
    /// A value-level `errors[]` entry, not tied to one message.
    Error(WaError),
    /// A flow timer that came due (question timeout, delay, inactivity, API retry).
    Timer(TimerFired),
}

/// A stored timer that came due, routed to its conversation like any other item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerFired {
    pub timer_id: uuid::Uuid,
    pub conversation_id: uuid::Uuid,
    /// question_timeout, delay, api_retry, inactivity_warning, inactivity (stored as `timer_kind`:
    /// `kind` is the payload's own tag).
    #[serde(rename = "timer_kind")]
    pub kind: String,
    pub node: String,
    pub token: u64,
}

impl InboxPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            InboxPayload::Message(_) => "message",
            InboxPayload::Status(_) => "status",
            InboxPayload::Error(_) => "error",
            InboxPayload::Timer(_) => "timer",
        }
    }
}

/// A customer's message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub wamid: String,
    /// The sender's wa_id (the contact).
    pub from: String,
    /// Meta's Unix timestamp, seconds.
    pub timestamp: Option<i64>,
    /// The sender's WhatsApp profile name, from `contacts[]`.
    pub profile_name: Option<String>,
    /// `text`, `image`, `audio`, `video`, `document`, `sticker`, `location`, `contacts`,
    /// `interactive`, `button`, `reaction`, `order`, `system`, `request_welcome` or `unsupported`.
    pub message_type: String,
    /// A text view of the message: the body, a caption, a reply's title, a reaction's emoji.
    pub text: Option<String>,
    /// The type's object as Meta sent it (for `unsupported`, the whole raw message).
    pub content: Value,
    /// The id a button or list reply chose (`button_reply.id`, `list_reply.id`, `button.payload`).
    pub reply_id: Option<String>,
    /// The message this one quotes or replies to (one of ours, usually).
    pub context_wamid: Option<String>,
    pub forwarded: bool,
    pub referral: Option<Value>,
    pub errors: Vec<WaError>,
}

/// A delivery status for one of our messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub wamid: String,
    /// `sent`, `delivered`, `read`, `played`, `failed` or `deleted`.
    pub status: String,
    pub timestamp: Option<i64>,
    pub recipient_id: String,
    /// Our message id, echoed back when we set it on send.
    pub biz_opaque_callback_data: Option<String>,
    pub errors: Vec<WaError>,
    pub pricing: Option<Value>,
}

/// An error object as Meta reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaError {
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
}

impl WaError {
    /// The most specific text available.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("({})", self.code)];
        for p in [&self.title, &self.message, &self.details].into_iter().flatten() {
            if !parts.iter().any(|x| x.contains(p.as_str())) {
                parts.push(p.clone());
            }
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_timer_payload_reads_back() {
        let fired = InboxPayload::Timer(TimerFired {
            timer_id: uuid::Uuid::nil(),
            conversation_id: uuid::Uuid::nil(),
            kind: "question_timeout".into(),
            node: "q".into(),
            token: 7,
        });
        let stored = serde_json::to_value(&fired).unwrap();
        assert_eq!(stored["kind"], "timer");
        assert_eq!(serde_json::from_value::<InboxPayload>(stored).unwrap(), fired);
    }
}
