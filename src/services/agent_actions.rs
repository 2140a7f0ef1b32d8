//! What agents do to conversations, from REST and from the socket alike: assign, take the next
//! queued one, transfer, close, reopen, mark read, write internal notes. Every change is a versioned
//! update (the conversation's actor and other agents may write at the same time), is scoped to what
//! the caller may see, and is published as a `conversation.updated` event.

use crate::auth::{Permission, Principal};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::live::visibility::{Audience, Placement};
use crate::repo::conversations::{self, ConversationWithContact};
use crate::repo::{messages, queues, users};
use crate::services::conversations::view;
use crate::state::AppState;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{ConversationRecord, ConversationStatus, Direction, NewMessage, SenderType};
use pytake_actors::domain::event::EventDraft;
use pytake_actors::domain::message::MessageStatus;
use pytake_actors::domain::role::Role;
use pytake_actors::views::{ConversationView, MessageView};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

/// Versioned-update attempts before reporting contention.
const ATTEMPTS: usize = 5;

/// What the caller may see, with an agent's departments loaded.
pub async fn audience(state: &AppState, p: &Principal) -> Result<Audience, ApiError> {
    if p.role != Role::Agent {
        return Ok(Audience::Organization);
    }
    let mut c = state.db.conn().await?;
    Ok(Audience::for_role(p.role, p.user_id, queues::departments_of(&mut c, p.org, p.user_id).await?))
}

pub fn placement(row: &ConversationWithContact) -> Placement<'_> {
    Placement {
        status: &row.conversation.status,
        assigned_agent_id: row.conversation.assigned_agent_id,
        department_id: row.conversation.department_id,
    }
}

/// Loads a conversation the caller may see; another's (or another organization's) is a 404.
pub async fn load_visible(
    state: &AppState,
    p: &Principal,
    audience: &Audience,
    id: Uuid,
) -> Result<ConversationWithContact, ApiError> {
    let mut c = state.db.conn().await?;
    let row = conversations::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("conversation"))?;
    if !audience.sees(placement(&row)) {
        return Err(ApiError::NotFound("conversation"));
    }
    Ok(row)
}

/// Applies `change` to a conversation the caller may see (see [`apply`]).
async fn update(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    change: impl Fn(&mut ConversationRecord, &ConversationWithContact) -> Result<(), ApiError>,
) -> Result<ConversationView, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    let audience = audience(state, p).await?;
    apply(state, p.org, &audience, id, change).await
}

/// Applies `change` to the conversation with optimistic concurrency, then publishes it. `change`
/// may refuse (its error is returned and nothing is written).
pub async fn apply(
    state: &AppState,
    org: OrgId,
    audience: &Audience,
    id: Uuid,
    change: impl Fn(&mut ConversationRecord, &ConversationWithContact) -> Result<(), ApiError>,
) -> Result<ConversationView, ApiError> {
    for _ in 0..ATTEMPTS {
        let row = {
            let mut c = state.db.conn().await?;
            conversations::get(&mut c, org, id).await?.ok_or(ApiError::NotFound("conversation"))?
        };
        if !audience.sees(placement(&row)) {
            return Err(ApiError::NotFound("conversation"));
        }
        let before = row.conversation.record()?;
        let mut record = before.clone();
        change(&mut record, &row)?;
        if record == before {
            return view(row);
        }
        let now = state.now();
        let mut tx = state.db.begin().await?;
        let written = match conversations::update_versioned(&mut tx, org, &record, now).await {
            Ok(w) => w,
            Err(e) if e.is_unique_violation() => {
                return Err(ApiError::conflict(
                    "conversation_open_elsewhere",
                    "the contact already has an open conversation on this number",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if !written {
            tx.rollback().await?;
            continue;
        }
        if record.status == ConversationStatus::Assigned && before.assigned_agent_id != record.assigned_agent_id {
            conversations::set_assigned_at(&mut tx, org, id, now).await?;
        }
        tx.commit().await?;
        record.version += 1;
        let updated = view(row_with(row, &record))?;
        publish_updated(state, org, &updated);
        if before.status == ConversationStatus::Assigned || record.status == ConversationStatus::Queued {
            // Capacity was freed or work was added.
            state.live.assignment.kick(org);
        }
        return Ok(updated);
    }
    Err(ApiError::conflict("conversation_busy", "the conversation kept changing; try again"))
}

fn row_with(mut row: ConversationWithContact, r: &ConversationRecord) -> ConversationWithContact {
    let c = &mut row.conversation;
    c.status = r.status.as_str().to_string();
    c.is_bot_active = r.is_bot_active;
    c.assigned_agent_id = r.assigned_agent_id;
    c.department_id = r.department_id;
    c.queue_id = r.queue_id;
    c.priority = r.priority;
    c.queued_at = r.queued_at;
    c.unread_count = r.unread_count;
    c.handoff_note = r.handoff_note.clone();
    c.version = r.version;
    row
}

pub fn publish_updated(state: &AppState, org: OrgId, v: &ConversationView) {
    state.registry.publish(EventDraft {
        org,
        event_type: "conversation.updated",
        conversation_id: Some(v.id),
        data: serde_json::to_value(v).unwrap_or_default(),
    });
}

fn refuse_closed(r: &ConversationRecord) -> Result<(), ApiError> {
    if r.status == ConversationStatus::Closed {
        return Err(ApiError::conflict("conversation_closed", "the conversation is closed; reopen it first"));
    }
    Ok(())
}

fn assign_to(r: &mut ConversationRecord, agent: Uuid) {
    r.status = ConversationStatus::Assigned;
    r.assigned_agent_id = Some(agent);
    r.is_bot_active = false;
}

/// An active user of the organization who can hold conversations (agent or org_admin).
async fn check_agent(state: &AppState, org: OrgId, agent: Uuid, field: &str) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    match users::get(&mut c, org, agent).await? {
        Some(u) if u.is_active && (u.role == "agent" || u.role == "org_admin") => Ok(()),
        Some(_) => Err(ApiError::field(field, "this user cannot take conversations (inactive, or not an agent)")),
        None => Err(ApiError::field(field, "does not exist in this organization")),
    }
}

/// Assigns a conversation: an agent may take a queued one for themselves; an org_admin may give
/// any open conversation to any agent.
pub async fn assign(state: &AppState, p: &Principal, id: Uuid, agent: Uuid) -> Result<ConversationView, ApiError> {
    let is_agent = p.role == Role::Agent;
    if is_agent && agent != p.user_id {
        return Err(ApiError::forbidden("an agent may only assign conversations to themselves"));
    }
    check_agent(state, p.org, agent, "agent_id").await?;
    update(state, p, id, |r, _| {
        refuse_closed(r)?;
        if is_agent && r.assigned_agent_id.is_some_and(|a| a != agent) {
            return Err(ApiError::conflict("already_assigned", "another agent holds this conversation"));
        }
        assign_to(r, agent);
        Ok(())
    })
    .await
}

/// Where a transfer goes: exactly one of an agent, a queue or a department.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub agent_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    /// An internal note for whoever takes it next (never sent to the contact).
    pub note: Option<String>,
}

impl Validate for Transfer {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        let targets = [self.agent_id.is_some(), self.queue_id.is_some(), self.department_id.is_some()];
        e.check(
            targets.iter().filter(|t| **t).count() == 1,
            "agent_id",
            "give exactly one of agent_id, queue_id and department_id",
        );
        e.opt_text("note", self.note.as_deref(), 1, 4096);
        e.finish()
    }
}

pub async fn transfer(state: &AppState, p: &Principal, id: Uuid, t: Transfer) -> Result<ConversationView, ApiError> {
    t.validate().map_err(ApiError::Validation)?;
    let (queue, department) = {
        let mut c = state.db.conn().await?;
        match (t.queue_id, t.department_id) {
            (Some(q), _) => {
                let row = queues::get_queue(&mut c, p.org, q)
                    .await?
                    .ok_or_else(|| ApiError::field("queue_id", "does not exist in this organization"))?;
                let department = row.department_id;
                (Some(row), department)
            }
            (None, Some(d)) => {
                queues::get_department(&mut c, p.org, d)
                    .await?
                    .ok_or_else(|| ApiError::field("department_id", "does not exist in this organization"))?;
                (None, Some(d))
            }
            (None, None) => (None, None),
        }
    };
    if let Some(agent) = t.agent_id {
        check_agent(state, p.org, agent, "agent_id").await?;
    }
    let now = state.now();
    let v = update(state, p, id, |r, _| {
        refuse_closed(r)?;
        match t.agent_id {
            Some(agent) => assign_to(r, agent),
            None => {
                r.status = ConversationStatus::Queued;
                r.assigned_agent_id = None;
                r.is_bot_active = false;
                r.department_id = department;
                r.queue_id = queue.as_ref().map(|q| q.id);
                if let Some(q) = &queue {
                    r.priority = r.priority.max(q.priority);
                }
                r.queued_at = Some(now);
            }
        }
        Ok(())
    })
    .await?;
    if let Some(note_text) = t.note {
        // The caller may no longer see it (transferred away): the transfer itself authorized this.
        note_as(state, p, &Audience::Organization, id, &note_text).await?;
    }
    Ok(v)
}

pub async fn close(state: &AppState, p: &Principal, id: Uuid) -> Result<ConversationView, ApiError> {
    update(state, p, id, |r, _| {
        r.status = ConversationStatus::Closed;
        r.is_bot_active = false;
        Ok(())
    })
    .await
}

/// Reopens a closed conversation, assigned to the caller (an org_admin's reopen goes back to the
/// agent who held it, if any).
pub async fn reopen(state: &AppState, p: &Principal, id: Uuid) -> Result<ConversationView, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    let me = p.user_id;
    let is_agent = p.role == Role::Agent;
    // An agent may reopen what they held: closed conversations are outside an agent's live view.
    let mut c = state.db.conn().await?;
    let row = conversations::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("conversation"))?;
    drop(c);
    if is_agent && row.conversation.assigned_agent_id != Some(me) {
        return Err(ApiError::NotFound("conversation"));
    }
    let agent = if is_agent { me } else { row.conversation.assigned_agent_id.unwrap_or(me) };
    // The scope check is above (an agent reopens what they held): closed conversations are outside
    // an agent's live audience.
    apply(state, p.org, &Audience::Organization, id, move |r, _| {
        if r.status != ConversationStatus::Closed {
            return Err(ApiError::conflict("conversation_not_closed", "only a closed conversation can be reopened"));
        }
        assign_to(r, agent);
        Ok(())
    })
    .await
}

/// Clears the unread count and marks the contact's messages read on WhatsApp (blue ticks). The
/// WhatsApp call is best effort: a failure is logged, the local read stands.
pub async fn mark_read(state: &AppState, p: &Principal, id: Uuid) -> Result<ConversationView, ApiError> {
    let v = update(state, p, id, |r, _| {
        r.unread_count = 0;
        Ok(())
    })
    .await?;
    let mut c = state.db.conn().await?;
    if let Some(wamid) = messages::latest_inbound_wamid(&mut c, p.org, id).await?
        && let Some(info) = state.numbers.sending(p.org, v.number_id).await?
        && let Some(token) = info.access_token.clone()
        && !info.token_invalid
    {
        let graph = state.graph.clone();
        let phone_number_id = info.phone_number_id.clone();
        tokio::spawn(async move {
            if let Err(e) = graph.mark_read(&phone_number_id, &token, &wamid).await {
                tracing::warn!(error = %e, "marking read on WhatsApp failed");
            }
        });
    }
    Ok(v)
}

/// An internal note: stored with the conversation's messages, shown to agents, never sent.
pub async fn note(state: &AppState, p: &Principal, id: Uuid, text: &str) -> Result<MessageView, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    let audience = audience(state, p).await?;
    note_as(state, p, &audience, id, text).await
}

async fn note_as(
    state: &AppState,
    p: &Principal,
    audience: &Audience,
    id: Uuid,
    text: &str,
) -> Result<MessageView, ApiError> {
    let mut e = FieldErrors::default();
    e.text("text", text, 1, 4096);
    e.into_result()?;
    let row = load_visible(state, p, audience, id).await?;
    let now = state.now();
    let new = NewMessage {
        id: Uuid::now_v7(),
        direction: Direction::Outbound,
        sender_type: SenderType::Agent,
        sender_user_id: Some(p.user_id),
        wamid: None,
        message_type: "note".into(),
        text: Some(text.to_string()),
        content: json!({"note": text}),
        status: MessageStatus::Delivered,
        reply_to_wamid: None,
        client_id: None,
        is_internal_note: true,
        wa_timestamp: None,
        error: None,
        created_at: now,
    };
    let mut c = state.db.conn().await?;
    messages::insert(&mut c, p.org, id, row.conversation.number_id, &new, None).await?;
    let v = MessageView::of_new(&new, id, None);
    state.registry.publish(EventDraft {
        org: p.org,
        event_type: "message.created",
        conversation_id: Some(id),
        data: serde_json::to_value(&v).unwrap_or_default(),
    });
    Ok(v)
}

/// Takes the best queued conversation the agent may see (priority, then the longest waiting).
/// `None` when the queue is empty.
pub async fn take_next(state: &AppState, p: &Principal) -> Result<Option<ConversationView>, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    let agent = (p.role == Role::Agent).then_some(p.user_id);
    let me = p.user_id;
    for _ in 0..ATTEMPTS {
        let candidates = {
            let mut c = state.db.conn().await?;
            conversations::queued(&mut c, p.org, agent, 10).await?
        };
        if candidates.is_empty() {
            return Ok(None);
        }
        for candidate in candidates {
            let taken = update(state, p, candidate.id, |r, _| {
                if r.status != ConversationStatus::Queued || r.assigned_agent_id.is_some() {
                    return Err(ApiError::conflict("already_taken", "someone else took it"));
                }
                assign_to(r, me);
                Ok(())
            })
            .await;
            match taken {
                Ok(v) => return Ok(Some(v)),
                Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}
