//! The typed part of the GraphQL schema: conversations with their messages.

use super::{caller, gql, json};
use crate::http::pagination::{ListQuery, Page};
use crate::services;
use async_graphql::{Context, ID, Json, Object, Result};
use pytake_actors::views::ConversationView;
use serde_json::Value;

pub struct Conversation(pub ConversationView);

impl From<ConversationView> for Conversation {
    fn from(v: ConversationView) -> Self {
        Conversation(v)
    }
}

#[Object]
impl Conversation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// `open`, `queued`, `assigned` or `closed`.
    async fn status(&self) -> &str {
        &self.0.status
    }

    async fn assigned_agent_id(&self) -> Option<ID> {
        self.0.assigned_agent_id.map(|a| ID(a.to_string()))
    }

    /// The whole conversation, as `GET /conversations/{id}`.
    async fn data(&self) -> Result<Json<Value>> {
        json(&self.0)
    }

    /// Its messages, oldest first (`cursor` from the previous page's `next_cursor`).
    async fn messages(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::conversations::messages(s, p, self.0.id, ListQuery { limit, cursor }).await.map_err(gql)?)
    }
}

pub struct ConversationPage(pub Page<ConversationView>);

impl From<Page<ConversationView>> for ConversationPage {
    fn from(p: Page<ConversationView>) -> Self {
        ConversationPage(p)
    }
}

#[Object]
impl ConversationPage {
    async fn items(&self) -> Vec<Conversation> {
        self.0.items.iter().cloned().map(Conversation).collect()
    }

    async fn next_cursor(&self) -> Option<&str> {
        self.0.next_cursor.as_deref()
    }
}
