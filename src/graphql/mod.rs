//! GraphQL at `/graphql` (queries, mutations) and `/graphql/ws` (subscriptions over graphql-ws /
//! graphql-transport-ws), with the REST API's auth, roles and tenancy: every resolver calls the same
//! service as its REST twin with the caller's `Principal`. Objects are returned as JSON scalars
//! shaped like the REST responses (documented there); a conversation has a `messages` field.

pub mod page;

use crate::auth::principal::{Principal, RequestMeta, authenticate};
use crate::http::pagination::ListQuery;
use crate::http::{ApiError, Validate};
use crate::services;
use crate::state::AppState;
use actix_web::web;
use async_graphql::{Context, ErrorExtensions, ID, Json, Object, Result, Schema, Subscription};
use futures_util::Stream;
use pytake_actors::runtime::org::{Attach, Subscribe, Unsubscribe};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

pub type PyTakeSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

pub fn schema() -> PyTakeSchema {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot).limit_depth(12).limit_complexity(2000).finish()
}

/// An [`ApiError`] as a GraphQL error with `extensions.code` and `extensions.status`.
fn gql(e: ApiError) -> async_graphql::Error {
    let status = actix_web::ResponseError::status_code(&e).as_u16();
    let code = e.code();
    let details = match &e {
        ApiError::Validation(f) => serde_json::to_value(f.errors()).ok(),
        _ => None,
    };
    async_graphql::Error::new(e.to_string()).extend_with(|_, x| {
        x.set("code", code);
        x.set("status", status);
        if let Some(d) = &details
            && let Ok(v) = async_graphql::Value::from_json(d.clone())
        {
            x.set("fields", v);
        }
    })
}

fn caller<'a>(ctx: &'a Context<'_>) -> Result<(&'a AppState, &'a Principal)> {
    let state = ctx.data::<web::Data<AppState>>()?;
    let p = ctx
        .data::<Principal>()
        .map_err(|_| gql(ApiError::unauthorized("missing_token", "send Authorization: Bearer <access token>")))?;
    Ok((state.get_ref(), p))
}

fn json<T: Serialize>(v: T) -> Result<Json<Value>> {
    Ok(Json(serde_json::to_value(v).map_err(|e| gql(ApiError::internal(e)))?))
}

/// Reads a JSON input into a REST body type and validates it (422 field errors as REST).
fn input<T: DeserializeOwned + Validate>(v: Json<Value>) -> Result<T> {
    let body: T =
        serde_json::from_value(v.0).map_err(|e| gql(ApiError::bad_request("invalid_input", e.to_string())))?;
    body.validate().map_err(|f| gql(ApiError::Validation(f)))?;
    Ok(body)
}

fn page(limit: Option<u32>, cursor: Option<String>) -> ListQuery {
    ListQuery { limit, cursor }
}

fn uuid(id: &ID) -> Result<Uuid> {
    id.parse::<Uuid>().map_err(|_| gql(ApiError::field("id", "must be a UUID")))
}

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The caller and their permissions.
    async fn me(&self, ctx: &Context<'_>) -> Result<Json<Value>> {
        let (_, p) = caller(ctx)?;
        json(services::auth::me(p))
    }

    /// The caller's organization.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::organizations::get_own(s, p).await.map_err(gql)?)
    }

    async fn users(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let q = services::users::UserListQuery { role: None, is_active: None, organization_id: None, limit, cursor };
        json(services::users::list(s, p, q).await.map_err(gql)?)
    }

    /// Contacts (`query` over name, number, email; `tag`).
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        tag: Option<String>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let q = services::contacts::ContactListQuery { wa_id: None, query, tag, limit, cursor };
        json(services::contacts::list(s, p, q).await.map_err(gql)?)
    }

    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::contacts::get(s, p, uuid(&id)?).await.map_err(gql)?)
    }

    /// Conversations the caller may see (an agent: theirs and their departments' queue).
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        status: Option<String>,
        mine: Option<bool>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<page::ConversationPage> {
        let (s, p) = caller(ctx)?;
        let q = services::conversations::ConversationListQuery { status, mine, limit, cursor, ..Default::default() };
        let found = services::conversations::list(s, p, q).await.map_err(gql)?;
        Ok(page::ConversationPage::from(found))
    }

    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> Result<page::Conversation> {
        let (s, p) = caller(ctx)?;
        let v = services::conversations::get(s, p, uuid(&id)?).await.map_err(gql)?;
        Ok(page::Conversation::from(v))
    }

    async fn departments(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::queues::list_departments(s, p, page(limit, cursor)).await.map_err(gql)?)
    }

    async fn queues(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let q = services::queues::QueueListQuery { department_id: None, limit, cursor };
        json(services::queues::list_queues(s, p, q).await.map_err(gql)?)
    }

    async fn flows(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let q = services::flows::FlowListQuery { chatbot_id: None, limit, cursor };
        json(services::flows::list(s, p, q).await.map_err(gql)?)
    }

    async fn chatbots(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::chatbots::list(s, p, page(limit, cursor)).await.map_err(gql)?)
    }

    async fn campaigns(&self, ctx: &Context<'_>, limit: Option<u32>, cursor: Option<String>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::campaigns::list(s, p, page(limit, cursor)).await.map_err(gql)?)
    }

    async fn campaign_progress(&self, ctx: &Context<'_>, id: ID) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::campaigns::progress(s, p, uuid(&id)?).await.map_err(gql)?)
    }

    /// The reports' overview for a period (RFC 3339; default the last 30 days).
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::reports::overview(s, p, services::reports::Period { from, to }).await.map_err(gql)?)
    }
}

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// As `POST /conversations/{id}/messages`: `message` is its body (`{type, text | template | media, client_id}`).
    async fn send_message(&self, ctx: &Context<'_>, conversation_id: ID, message: Json<Value>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let req: services::sending::SendMessage = input(message)?;
        json(services::sending::send(s, p, uuid(&conversation_id)?, req).await.map_err(gql)?.message)
    }

    async fn assign(&self, ctx: &Context<'_>, conversation_id: ID, agent_id: Option<ID>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let agent = match agent_id {
            Some(a) => uuid(&a)?,
            None => p.user_id,
        };
        json(services::agent_actions::assign(s, p, uuid(&conversation_id)?, agent).await.map_err(gql)?)
    }

    /// `transfer` is `{agent_id | queue_id | department_id, note?}`.
    async fn transfer(&self, ctx: &Context<'_>, conversation_id: ID, transfer: Json<Value>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let t: services::agent_actions::Transfer = input(transfer)?;
        json(services::agent_actions::transfer(s, p, uuid(&conversation_id)?, t).await.map_err(gql)?)
    }

    async fn close(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::agent_actions::close(s, p, uuid(&conversation_id)?).await.map_err(gql)?)
    }

    /// As `POST /contacts`.
    async fn create_contact(&self, ctx: &Context<'_>, contact: Json<Value>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::contacts::create(s, p, input(contact)?).await.map_err(gql)?)
    }

    /// As `PUT /contacts/{id}`.
    async fn update_contact(&self, ctx: &Context<'_>, id: ID, contact: Json<Value>) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        json(services::contacts::update(s, p, uuid(&id)?, input(contact)?).await.map_err(gql)?)
    }

    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let (s, p) = caller(ctx)?;
        services::contacts::delete(s, p, uuid(&id)?).await.map_err(gql)?;
        Ok(true)
    }

    async fn start_campaign(&self, ctx: &Context<'_>, id: ID) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
        json(services::campaigns::start(s, p, &meta, uuid(&id)?).await.map_err(gql)?)
    }

    async fn cancel_campaign(&self, ctx: &Context<'_>, id: ID) -> Result<Json<Value>> {
        let (s, p) = caller(ctx)?;
        let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
        json(services::campaigns::cancel(s, p, &meta, uuid(&id)?).await.map_err(gql)?)
    }
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// The organization's live events the caller may see (as the agent socket's frames:
    /// `{type, seq, data}`).
    async fn events(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Json<Value>>> {
        let (s, p) = caller(ctx)?;
        let visible = std::sync::Mutex::new(crate::live::session::load_visible(s, p).await.map_err(gql)?);
        let (tx, rx) = tokio::sync::mpsc::channel::<Json<Value>>(1024);
        let id = Uuid::now_v7();
        let org = s.registry.org(p.org);
        let sink: pytake_actors::runtime::org::EventSink = Arc::new(move |e| {
            if !visible.lock().map(|mut v| v.admit(e)).unwrap_or(false) {
                return !tx.is_closed();
            }
            let frame = serde_json::json!({"type": e.event_type, "seq": e.seq, "data": e.data});
            // A subscriber that does not keep up loses its subscription (it may subscribe again).
            tx.try_send(Json(frame)).is_ok()
        });
        org.send(Attach(Subscribe { id, sink, after_seq: None }))
            .await
            .map_err(|_| gql(ApiError::Unavailable("events")))?
            .ok();
        Ok(Unsubscribing { rx, org, id })
    }
}

/// The event stream; unsubscribes from the organization actor when dropped.
struct Unsubscribing {
    rx: tokio::sync::mpsc::Receiver<Json<Value>>,
    org: actix::Addr<pytake_actors::runtime::org::OrgActor>,
    id: Uuid,
}

impl Stream for Unsubscribing {
    type Item = Json<Value>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Unsubscribing {
    fn drop(&mut self) {
        self.org.do_send(Unsubscribe(self.id));
    }
}

/// Authenticates a graphql-ws `connection_init` payload: `{"Authorization": "Bearer <token>"}` or
/// `{"token": "<token>"}`.
pub async fn authenticate_init(state: &AppState, payload: &Value) -> std::result::Result<Principal, ApiError> {
    let token = payload
        .get("token")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
                .and_then(Value::as_str)
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(String::from)
        })
        .ok_or_else(|| ApiError::unauthorized("missing_token", "connection_init needs {\"token\": ...}"))?;
    authenticate(state, &token).await
}
