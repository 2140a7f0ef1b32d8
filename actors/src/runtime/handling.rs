//! What a conversation actor does with one item, as plain async code over the ports: turn an
//! inbound message into the changes to commit (and let the bot answer), run a flow timer, apply a
//! status, record an error. No actor plumbing here, so it reads top to bottom.

use super::bot::{self, FlowLimits};
use crate::domain::conversation::{
    Changes, Committed, ContactUpsert, ConversationKey, ConversationRecord, ConversationStatus, ConversationWrite,
    Direction, NewMessage, SenderType, Snapshot,
};
use crate::domain::event::EventDraft;
use crate::domain::inbound::{InboundMessage, InboxPayload, TimerFired};
use crate::domain::message::MessageStatus;
use crate::ports::{
    Archive, Clock, CommitError, ConversationStore, HttpCaller, IdGen, InboxItem, OutboxSink, StoreFailure,
};
use crate::views::{ContactSummary, ConversationView, MessageView};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use std::sync::Arc;

/// The customer-service window a user message opens.
pub const WINDOW: Duration = Duration::hours(24);
/// A contact's last-seen time is refreshed at most this often (it costs a write per message otherwise).
const CONTACT_REFRESH: Duration = Duration::seconds(60);
/// How often a conflicting write is retried at once before the item counts as failed.
const CONFLICT_RETRIES: usize = 3;

pub struct Ports {
    pub store: Arc<dyn ConversationStore>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    pub http: Arc<dyn HttpCaller>,
    pub outbox: Arc<dyn OutboxSink>,
    pub archive: Arc<dyn Archive>,
    pub limits: FlowLimits,
}

/// How handling an item ended.
#[derive(Debug)]
pub enum Handled {
    /// Committed; publish these events.
    Done(Vec<EventDraft>),
    /// Someone already processed it.
    AlreadyDone,
    /// A status for a message we do not know (yet).
    OrphanStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Store(#[from] StoreFailure),
    #[error("the conversation kept changing under us")]
    Contended,
    #[error("the stored item is unreadable: {0}")]
    Corrupt(String),
}

/// Handles one item with the snapshot the actor holds (loaded if absent). Returns the outcome and
/// the snapshot to keep (None after any doubt, so the next item reloads).
pub async fn handle_item(
    ports: &Ports,
    key: &ConversationKey,
    mut snapshot: Option<Snapshot>,
    item: &InboxItem,
) -> (Result<Handled, HandleError>, Option<Snapshot>) {
    match &item.payload {
        InboxPayload::Message(_) | InboxPayload::Timer(_) => {
            for _ in 0..CONFLICT_RETRIES {
                let snap = match snapshot.take() {
                    Some(s) => s,
                    None => match ports.store.snapshot(key).await {
                        Ok(s) => s,
                        Err(e) => return (Err(e.into()), None),
                    },
                };
                let before = snap.conversation.clone();
                let built = match &item.payload {
                    InboxPayload::Message(m) => message_changes(ports, key, &snap, item, m).await,
                    InboxPayload::Timer(t) => timer_changes(ports, key, &snap, item, t).await,
                    _ => unreachable_payload(),
                };
                let (changes, created) = match built {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        // A timer that no longer applies: close it without other changes.
                        return match ports.store.finish_item(item.id, Some("obsolete timer")).await {
                            Ok(_) => (Ok(Handled::Done(Vec::new())), Some(snap)),
                            Err(e) => (Err(e.into()), None),
                        };
                    }
                    Err(e) => return (Err(e), None),
                };
                let outbox = changes.outbox.clone();
                let mut changes = changes;
                let traces = std::mem::take(&mut changes.traces);
                match ports.store.commit(key, changes).await {
                    Ok(committed) => {
                        if !outbox.is_empty() {
                            ports.outbox.enqueue(key.org, key.number_id, outbox);
                        }
                        for trace in traces {
                            ports.archive.trace(trace);
                        }
                        let events = events_of(key, &snap, before.as_ref(), &committed, created);
                        let next = Snapshot {
                            number: snap.number,
                            timezone: snap.timezone,
                            contact: committed.contact.or(snap.contact),
                            conversation: committed.conversation.filter(|c| c.status != ConversationStatus::Closed),
                        };
                        return (Ok(Handled::Done(events)), Some(next));
                    }
                    Err(CommitError::AlreadyProcessed) => return (Ok(Handled::AlreadyDone), None),
                    Err(CommitError::Conflict) => continue,
                    Err(CommitError::Store(e)) => return (Err(e.into()), None),
                }
            }
            (Err(HandleError::Contended), None)
        }
        InboxPayload::Status(s) => match ports.store.apply_status(key, item.id, s).await {
            Ok(Some(applied)) => {
                let mut events = Vec::new();
                if applied.advanced {
                    events.push(EventDraft {
                        org: key.org,
                        event_type: "message.status",
                        conversation_id: Some(applied.conversation_id),
                        data: json!({
                            "message_id": applied.message_id,
                            "conversation_id": applied.conversation_id,
                            "wamid": s.wamid,
                            "status": applied.status,
                            "error": s.errors.first().map(|e| json!({"code": e.code, "title": e.title, "details": e.details})),
                        }),
                    });
                }
                (Ok(Handled::Done(events)), snapshot)
            }
            Ok(None) => (Ok(Handled::OrphanStatus), snapshot),
            Err(CommitError::AlreadyProcessed) => (Ok(Handled::AlreadyDone), snapshot),
            Err(CommitError::Conflict) => (Err(HandleError::Contended), None),
            Err(CommitError::Store(e)) => (Err(e.into()), None),
        },
        InboxPayload::Error(e) => {
            tracing::warn!(conversation = %key, code = e.code, error = %e.describe(), "webhook reported an error");
            match ports.store.finish_item(item.id, Some(&e.describe())).await {
                Ok(_) => (Ok(Handled::Done(Vec::new())), snapshot),
                Err(e) => (Err(e.into()), None),
            }
        }
    }
}

fn unreachable_payload() -> Result<Option<(Changes, bool)>, HandleError> {
    Err(HandleError::Corrupt("an item reached the wrong handler".into()))
}

fn wa_time(ts: Option<i64>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| Utc.timestamp_opt(t, 0).single()).map(|t| t.min(now))
}

/// The changes an inbound message makes: contact refreshed, the open conversation joined (or a new
/// one opened, queued for agents unless a flow takes it), the message stored, the window renewed,
/// then whatever the bot does with it.
async fn message_changes(
    ports: &Ports,
    key: &ConversationKey,
    snap: &Snapshot,
    item: &InboxItem,
    m: &InboundMessage,
) -> Result<Option<(Changes, bool)>, HandleError> {
    let now = ports.clock.now();
    let sent_at = wa_time(m.timestamp, now).unwrap_or(now);
    let contact_id = snap.contact.as_ref().map(|c| c.id).unwrap_or_else(|| ports.ids.new_id());
    let (mut conv, created) = match &snap.conversation {
        Some(c) => {
            let mut c = c.clone();
            c.last_message_at = Some(now);
            c.last_inbound_at = Some(sent_at.max(c.last_inbound_at.unwrap_or(sent_at)));
            c.window_expires_at = c.last_inbound_at.map(|t| t + WINDOW);
            c.unread_count += 1;
            (c, false)
        }
        None => {
            let vip = snap.contact.as_ref().is_some_and(|c| c.is_vip);
            let c = ConversationRecord {
                id: ports.ids.new_id(),
                contact_id,
                status: ConversationStatus::Queued,
                is_bot_active: false,
                assigned_agent_id: None,
                department_id: snap.number.default_department_id,
                queue_id: None,
                priority: if vip { 80 } else { 50 },
                queued_at: Some(now),
                last_message_at: Some(now),
                last_inbound_at: Some(sent_at),
                window_expires_at: Some(sent_at + WINDOW),
                unread_count: 1,
                flow_id: None,
                flow_version_id: None,
                flow_state: json!({}),
                handoff_note: None,
                version: 0,
                created_at: now,
            };
            (c, true)
        }
    };
    let contact_is_current = snap.contact.as_ref().is_some_and(|c| {
        (m.profile_name.is_none() || m.profile_name == c.profile_name)
            && c.last_inbound_at.is_some_and(|t| sent_at - t < CONTACT_REFRESH)
    });
    let mut changes = Changes {
        inbox_item: Some(item.id),
        contact: (!contact_is_current).then(|| ContactUpsert {
            id: contact_id,
            wa_id: m.from.clone(),
            profile_name: m.profile_name.clone(),
            last_inbound_at: sent_at,
        }),
        messages: vec![NewMessage {
            id: ports.ids.new_id(),
            direction: Direction::Inbound,
            sender_type: SenderType::Contact,
            sender_user_id: None,
            wamid: Some(m.wamid.clone()),
            message_type: m.message_type.clone(),
            text: m.text.clone(),
            content: m.content.clone(),
            status: MessageStatus::Received,
            reply_to_wamid: m.context_wamid.clone(),
            client_id: None,
            is_internal_note: false,
            wa_timestamp: wa_time(m.timestamp, now),
            error: m.errors.first().map(|e| (e.code, e.describe())),
            created_at: now,
        }],
        ..Changes::default()
    };
    bot::on_message(ports, key, snap, &mut changes, &mut conv, m, created).await?;
    changes.conversation =
        Some(if created { ConversationWrite::Insert(conv) } else { ConversationWrite::Update(conv) });
    Ok(Some((changes, created)))
}

/// The changes a flow timer makes, or None when it no longer applies.
async fn timer_changes(
    ports: &Ports,
    key: &ConversationKey,
    snap: &Snapshot,
    item: &InboxItem,
    t: &TimerFired,
) -> Result<Option<(Changes, bool)>, HandleError> {
    let Some(mut conv) = snap.conversation.clone() else { return Ok(None) };
    let mut changes = Changes { inbox_item: Some(item.id), ..Changes::default() };
    if !bot::on_timer(ports, key, snap, &mut changes, &mut conv, t).await? {
        return Ok(None);
    }
    changes.conversation = Some(ConversationWrite::Update(conv));
    Ok(Some((changes, false)))
}

fn events_of(
    key: &ConversationKey,
    snap: &Snapshot,
    before: Option<&ConversationRecord>,
    committed: &Committed,
    created: bool,
) -> Vec<EventDraft> {
    let Some(conversation) = &committed.conversation else {
        return Vec::new();
    };
    let contact = committed.contact.as_ref().or(snap.contact.as_ref());
    if contact.is_some_and(|c| c.is_blocked) {
        // A blocked contact's messages are kept, and nobody is notified.
        return Vec::new();
    }
    let summary = ContactSummary {
        id: conversation.contact_id,
        wa_id: key.contact_wa_id.clone(),
        name: contact.and_then(|c| c.name.clone().or_else(|| c.profile_name.clone())),
    };
    let view =
        || serde_json::to_value(ConversationView::of(conversation, key.number_id, summary.clone())).unwrap_or_default();
    let mut events = Vec::new();
    if created {
        events.push(EventDraft {
            org: key.org,
            event_type: "conversation.created",
            conversation_id: Some(conversation.id),
            data: view(),
        });
    }
    for (message, reply_to) in &committed.messages {
        events.push(EventDraft {
            org: key.org,
            event_type: "message.created",
            conversation_id: Some(conversation.id),
            data: serde_json::to_value(MessageView::of_new(message, conversation.id, *reply_to)).unwrap_or_default(),
        });
    }
    let changed = |b: &ConversationRecord| {
        b.status != conversation.status
            || b.is_bot_active != conversation.is_bot_active
            || b.assigned_agent_id != conversation.assigned_agent_id
            || b.queue_id != conversation.queue_id
    };
    let status_changed = match before {
        Some(b) => changed(b),
        None => !created || conversation.status != ConversationStatus::Queued,
    };
    if status_changed && !created {
        events.push(EventDraft {
            org: key.org,
            event_type: "conversation.updated",
            conversation_id: Some(conversation.id),
            data: view(),
        });
    }
    events
}
