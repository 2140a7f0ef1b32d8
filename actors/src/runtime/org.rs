//! The organization actor: assigns each event of its organization the next sequence number, keeps
//! the most recent ones for clients that reconnect, and fans every event out to the subscribers that
//! may see it (each gets the frame serialized once) and to the cross-node bus.

use super::stats::RuntimeStats;
use crate::domain::event::{EventDraft, OrgEvent};
use crate::domain::ids::OrgId;
use crate::ports::EventBus;
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use uuid::Uuid;

/// Receives events; returns false when the subscriber is gone (it is then removed).
pub type EventSink = Arc<dyn Fn(&Arc<OrgEvent>) -> bool + Send + Sync>;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub EventDraft);

/// Sequences and fans out an event that another node published (through the cross-node bus),
/// without publishing it again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishLocal(pub EventDraft);

/// Sequences an event that another node already numbered (cross-node delivery).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relay(pub Arc<OrgEvent>);

/// Subscribes a sink. Replies with the events after `after_seq` when they are all still kept
/// (`Ok`), or `Err(latest_seq)` when some are gone and the subscriber must resync.
#[derive(Message)]
#[rtype(result = "Result<Vec<Arc<OrgEvent>>, u64>")]
pub struct Subscribe {
    pub id: Uuid,
    pub sink: EventSink,
    pub after_seq: Option<u64>,
}

/// [`Subscribe`], also telling the latest sequence number at the moment of subscribing (what a
/// client is caught up to once it has the replayed events).
#[derive(Message)]
#[rtype(result = "Result<Replay, u64>")]
pub struct Attach(pub Subscribe);

pub struct Replay {
    pub events: Vec<Arc<OrgEvent>>,
    pub latest: u64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub Uuid);

/// Events may have been missed (the cross-node bus was away): every subscriber is sent a `resync`
/// frame with the reason, and the replay window is emptied so that a client reconnecting with an
/// older `last_seq` is told to resync too instead of being given a window with a hole in it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync(pub &'static str);

/// The latest sequence number assigned.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct LatestSeq;

pub struct OrgActor {
    org: OrgId,
    next_seq: u64,
    recent: VecDeque<Arc<OrgEvent>>,
    window: usize,
    /// By subscription id: a socket that closes leaves in O(1), whatever the count.
    subscribers: HashMap<Uuid, EventSink>,
    bus: Arc<dyn EventBus>,
    stats: Arc<RuntimeStats>,
}

impl OrgActor {
    pub fn new(org: OrgId, bus: Arc<dyn EventBus>, window: usize, stats: Arc<RuntimeStats>) -> Self {
        OrgActor {
            org,
            next_seq: 1,
            recent: VecDeque::new(),
            window: window.max(1),
            subscribers: HashMap::new(),
            bus,
            stats,
        }
    }

    fn keep_and_fan_out(&mut self, event: Arc<OrgEvent>) {
        RuntimeStats::bump(&self.stats.events);
        if self.recent.len() >= self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(event.clone());
        self.subscribers.retain(|_, sink| sink(&event));
    }
}

impl Actor for OrgActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(100_000);
        tracing::debug!(org = %self.org, "organization actor started");
    }
}

impl Handler<Publish> for OrgActor {
    type Result = ();

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        let event = Arc::new(OrgEvent::new(msg.0, self.next_seq));
        self.next_seq += 1;
        self.bus.publish(&event);
        self.keep_and_fan_out(event);
    }
}

impl Handler<PublishLocal> for OrgActor {
    type Result = ();

    fn handle(&mut self, msg: PublishLocal, _: &mut Context<Self>) {
        let event = Arc::new(OrgEvent::new(msg.0, self.next_seq));
        self.next_seq += 1;
        self.keep_and_fan_out(event);
    }
}

impl Handler<Relay> for OrgActor {
    type Result = ();

    fn handle(&mut self, msg: Relay, _: &mut Context<Self>) {
        self.next_seq = self.next_seq.max(msg.0.seq + 1);
        self.keep_and_fan_out(msg.0);
    }
}

impl Handler<Subscribe> for OrgActor {
    type Result = Result<Vec<Arc<OrgEvent>>, u64>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        self.attach(msg)
    }
}

impl Handler<Attach> for OrgActor {
    type Result = Result<Replay, u64>;

    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) -> Self::Result {
        let latest = self.next_seq - 1;
        self.attach(msg.0).map(|events| Replay { events, latest })
    }
}

impl OrgActor {
    fn attach(&mut self, msg: Subscribe) -> Result<Vec<Arc<OrgEvent>>, u64> {
        let latest = self.next_seq - 1;
        let missed = match msg.after_seq {
            None => Ok(Vec::new()),
            Some(after) if after == latest => Ok(Vec::new()),
            // Ahead of us: the client saw a previous run's numbering.
            Some(after) if after > latest => Err(latest),
            Some(after) => {
                let oldest_kept = self.recent.front().map_or(latest + 1, |e| e.seq);
                if after + 1 < oldest_kept {
                    Err(latest)
                } else {
                    Ok(self.recent.iter().filter(|e| e.seq > after).cloned().collect())
                }
            }
        };
        self.subscribers.insert(msg.id, msg.sink);
        missed
    }
}

impl Handler<Unsubscribe> for OrgActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.subscribers.remove(&msg.0);
    }
}

impl Handler<Resync> for OrgActor {
    type Result = ();

    fn handle(&mut self, msg: Resync, _: &mut Context<Self>) {
        self.recent.clear();
        let draft = EventDraft {
            org: self.org,
            event_type: "resync",
            conversation_id: None,
            data: serde_json::json!({ "reason": msg.0 }),
        };
        // The resync takes a sequence number of its own, so a client that saw everything up to the
        // gap is behind it, and is told to resync when it reconnects.
        let frame = Arc::new(OrgEvent::new(draft, self.next_seq));
        self.next_seq += 1;
        self.subscribers.retain(|_, sink| sink(&frame));
    }
}

impl Handler<LatestSeq> for OrgActor {
    type Result = u64;

    fn handle(&mut self, _: LatestSeq, _: &mut Context<Self>) -> u64 {
        self.next_seq - 1
    }
}
