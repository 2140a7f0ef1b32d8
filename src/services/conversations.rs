//! Reading conversations and their messages (the agent console adds the actions).

use crate::auth::{Permission, Principal};
use crate::http::ApiError;
use crate::http::pagination::{ListQuery, Page};
use crate::repo::conversations::{self, ConversationFilter, ConversationWithContact};
use crate::repo::messages;
use crate::state::AppState;
use pytake_actors::domain::conversation::ConversationStatus;
use pytake_actors::views::{ContactSummary, ConversationView, MessageView};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConversationListQuery {
    /// `open`, `queued`, `assigned` or `closed`.
    pub status: Option<String>,
    pub contact_wa_id: Option<String>,
    pub number_id: Option<Uuid>,
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
    let filter = ConversationFilter {
        status: q.status.as_deref(),
        contact_wa_id: q.contact_wa_id.as_deref(),
        number_id: q.number_id,
    };
    let mut c = state.db.conn().await?;
    let rows = conversations::list(&mut c, p.org, &filter, page.after()?, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.conversation.id);
    let items = page.items.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<ConversationView, ApiError> {
    p.require(Permission::ConversationsRead)?;
    let mut c = state.db.conn().await?;
    view(conversations::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("conversation"))?)
}

pub async fn messages(state: &AppState, p: &Principal, id: Uuid, q: ListQuery) -> Result<Page<MessageView>, ApiError> {
    p.require(Permission::ConversationsRead)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    conversations::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("conversation"))?;
    let rows = messages::list(&mut c, p.org, id, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |m| m.id).map(MessageView::from))
}
