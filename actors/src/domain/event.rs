//! Organization events: what agents' consoles and other nodes learn about, each with a per-org
//! sequence number assigned by the organization's actor.

use super::ids::OrgId;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

/// An event before its sequence number is assigned.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    pub org: OrgId,
    /// `message.created`, `message.status`, `conversation.created`, `conversation.updated`, ...
    pub event_type: &'static str,
    pub conversation_id: Option<Uuid>,
    pub data: Value,
}

/// A sequenced event, serialized once and shared by every recipient.
#[derive(Clone, Debug)]
pub struct OrgEvent {
    pub org: OrgId,
    pub seq: u64,
    pub event_type: &'static str,
    pub conversation_id: Option<Uuid>,
    pub data: Value,
    /// The socket frame `{"type", "seq", "data"}`, serialized once.
    pub frame: Arc<str>,
    /// When this node sequenced it (sockets report how long it took to reach them).
    pub sequenced_at: std::time::Instant,
}

#[derive(Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    seq: u64,
    data: &'a Value,
}

impl OrgEvent {
    pub fn new(draft: EventDraft, seq: u64) -> Self {
        let frame = serde_json::to_string(&Frame { event_type: draft.event_type, seq, data: &draft.data })
            .unwrap_or_else(|_| String::from("{}"));
        OrgEvent {
            org: draft.org,
            seq,
            event_type: draft.event_type,
            conversation_id: draft.conversation_id,
            data: draft.data,
            frame: frame.into(),
            sequenced_at: std::time::Instant::now(),
        }
    }
}
