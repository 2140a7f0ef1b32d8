//! Messages: direction, sender and the monotonic delivery-status machine (a late `delivered` never
//! overwrites `read`; `failed` and `deleted` are terminal).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// An inbound message we stored.
    Received,
    /// Queued in our outbox, not yet accepted by Meta.
    Pending,
    Sent,
    Delivered,
    Read,
    /// A voice note was played.
    Played,
    Failed,
    Deleted,
}

impl MessageStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Pending => "pending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Played => "played",
            MessageStatus::Failed => "failed",
            MessageStatus::Deleted => "deleted",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            MessageStatus::Received | MessageStatus::Pending => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            MessageStatus::Played => 4,
            MessageStatus::Failed | MessageStatus::Deleted => 5,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, MessageStatus::Failed | MessageStatus::Deleted)
    }

    /// The status after `incoming` arrives at a message in `self`, or `None` when it does not move:
    /// statuses only advance; `failed` can only follow `pending` or `sent`; terminal ones never move.
    pub fn advance(self, incoming: MessageStatus) -> Option<MessageStatus> {
        if self.is_terminal() || incoming == self {
            return None;
        }
        match incoming {
            MessageStatus::Failed => (self.rank() <= MessageStatus::Sent.rank()).then_some(incoming),
            MessageStatus::Deleted => Some(incoming),
            MessageStatus::Received | MessageStatus::Pending => None,
            _ => (incoming.rank() > self.rank()).then_some(incoming),
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "received" => MessageStatus::Received,
            "pending" => MessageStatus::Pending,
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "read" => MessageStatus::Read,
            "played" => MessageStatus::Played,
            "failed" => MessageStatus::Failed,
            "deleted" => MessageStatus::Deleted,
            other => return Err(format!("unknown message status `{other}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert_eq!(Pending.advance(Sent), Some(Sent));
        assert_eq!(Sent.advance(Read), Some(Read), "read may arrive without delivered");
        assert_eq!(Read.advance(Delivered), None, "a late delivered never overwrites read");
        assert_eq!(Delivered.advance(Sent), None);
        assert_eq!(Read.advance(Played), Some(Played));
        assert_eq!(Sent.advance(Failed), Some(Failed));
        assert_eq!(Read.advance(Failed), None);
        assert_eq!(Failed.advance(Read), None, "failed is terminal");
        assert_eq!(Delivered.advance(Deleted), Some(Deleted));
        assert_eq!(Deleted.advance(Read), None);
        assert_eq!(Sent.advance(Sent), None);
    }
}
