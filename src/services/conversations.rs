//! Reading conversations and their messages (the agent console adds the actions).

use crate::auth::{Permission, Principal};
use crate::http::ApiError;
use crate::http::pagination::{ListQuery, Page};
use crate::repo::conversations::{self, ConversationFilter, ConversationWithContact};
use crate::repo::{messages, tags};
use crate::services::agent_actions;
use crate::state::AppState;
use pytake_actors::domain::conversation::ConversationStatus;
use pytake_actors::domain::role::Role;
use pytake_actors::views::{ContactSummary, ConversationView, MessageView};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ConversationListQuery {
    /// `open`, `queued`, `assigned` or `closed`.
    pub status: Option<String>,
    pub contact_wa_id: Option<String>,
    pub contact_id: Option<Uuid>,
    pub number_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    /// Held by this agent.
    pub assigned_agent_id: Option<Uuid>,
    /// `true`: only the caller's own.
    pub mine: Option<bool>,
    /// Conversations with this tag.
    pub tag: Option<String>,
    /// Text in the contact's name or number.
    pub q: Option<String>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
    /// Items per page (1-200, default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub fn view(row: ConversationWithContact) -> Result<ConversationView, ApiError> {
    let record = row.conversation.record()?;
    Ok(ConversationView::of(
        &record,
        row.conversation.number_id,
        ContactSummary { id: row.conversation.contact_id, wa_id: row.contact_wa_id, name: row.contact_name },
    ))
}

pub async fn list(
    state: &AppState,
    p: &Principal,
    q: ConversationListQuery,
) -> Result<Page<ConversationView>, ApiError> {
    p.require(Permission::ConversationsRead)?;
    if let Some(s) = &q.status
        && ConversationStatus::parse(s).is_none()
    {
        return Err(ApiError::field("status", "must be open, queued, assigned or closed"));
    }
    let page = ListQuery { limit: q.limit, cursor: q.cursor.clone() };
    let limit = page.limit()?;
    let oldest_first = match q.sort.as_deref() {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(_) => return Err(ApiError::field("sort", "must be newest or oldest")),
    };
    if let Some(text) = &q.q
        && (text.trim().is_empty() || text.len() > 100)
    {
        return Err(ApiError::field("q", "must be 1-100 characters"));
    }
    let search = q.q.as_deref().map(|t| crate::db::like_contains(t.trim()));
    let filter = ConversationFilter {
        status: q.status.as_deref(),
        contact_wa_id: q.contact_wa_id.as_deref(),
        number_id: q.number_id,
        queue_id: q.queue_id,
        department_id: q.department_id,
        assigned_agent_id: if q.mine == Some(true) { Some(p.user_id) } else { q.assigned_agent_id },
        visible_to_agent: (p.role == Role::Agent).then_some(p.user_id),
        contact_id: q.contact_id,
        tag: q.tag.as_deref(),
        search: search.as_deref(),
        oldest_first,
    };
    let mut c = state.db.conn().await?;
    let rows = conversations::list(&mut c, p.org, &filter, page.after()?, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.conversation.id);
    let items = page.items.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<ConversationView, ApiError> {
    p.require(Permission::ConversationsRead)?;
    view(readable(state, p, id).await?)
}

/// A conversation the caller may read: an agent reads what they may see live, and the closed
/// conversations they held.
async fn readable(state: &AppState, p: &Principal, id: Uuid) -> Result<ConversationWithContact, ApiError> {
    let audience = agent_actions::audience(state, p).await?;
    let mut c = state.db.conn().await?;
    let row = conversations::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("conversation"))?;
    let held = row.conversation.assigned_agent_id == Some(p.user_id);
    if !held && !audience.sees(agent_actions::placement(&row)) {
        return Err(ApiError::NotFound("conversation"));
    }
    Ok(row)
}

pub async fn messages(state: &AppState, p: &Principal, id: Uuid, q: ListQuery) -> Result<Page<MessageView>, ApiError> {
    p.require(Permission::ConversationsRead)?;
    let limit = q.limit()?;
    readable(state, p, id).await?;
    let mut c = state.db.conn().await?;
    let rows = messages::list(&mut c, p.org, id, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |m| m.id).map(MessageView::from))
}

/// The conversation's tags.
pub async fn tags(state: &AppState, p: &Principal, id: Uuid) -> Result<Vec<String>, ApiError> {
    p.require(Permission::ConversationsRead)?;
    readable(state, p, id).await?;
    let mut c = state.db.conn().await?;
    Ok(tags::of_conversation(&mut c, p.org, id).await?)
}

/// Tags a conversation (the tag is created when new); returns its tags.
pub async fn add_tag(state: &AppState, p: &Principal, id: Uuid, name: &str) -> Result<Vec<String>, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        return Err(ApiError::field("name", "must be 1-50 characters"));
    }
    readable(state, p, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let tag = tags::ensure(&mut tx, p.org, name, now).await?;
    tags::tag_conversation(&mut tx, p.org, id, tag, now).await?;
    let list = tags::of_conversation(&mut tx, p.org, id).await?;
    tx.commit().await?;
    Ok(list)
}

pub async fn remove_tag(state: &AppState, p: &Principal, id: Uuid, name: &str) -> Result<Vec<String>, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    readable(state, p, id).await?;
    let mut c = state.db.conn().await?;
    if !tags::untag_conversation(&mut c, p.org, id, name).await? {
        return Err(ApiError::NotFound("tag"));
    }
    Ok(tags::of_conversation(&mut c, p.org, id).await?)
}
