//! `/api/v1/conversations`: conversations and their messages.

use crate::auth::Principal;
use crate::http::Json;
use crate::http::{ApiError, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::agent_actions::{self as actions, Transfer};
use crate::services::conversations::{self as svc, ConversationListQuery};
use crate::services::sending::{self, SendMessage};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use pytake_actors::views::{ConversationView, MessageView};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(take_next)
        .service(get_one)
        .service(traces)
        .service(messages)
        .service(send)
        .service(assign)
        .service(transfer)
        .service(close)
        .service(reopen)
        .service(read)
        .service(add_note)
        .service(list_tags)
        .service(add_tag)
        .service(remove_tag);
}

/// Conversations, newest first (filters: status, queue, department, agent or `mine`, contact, tag,
/// text `q`; `sort=oldest`). An agent sees theirs and the queued ones of their departments.
#[utoipa::path(tag = "conversations", params(ConversationListQuery), responses(
    (status = 200, body = Page<ConversationView>), (status = 422, body = ErrorBody)))]
#[get("/conversations")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ConversationListQuery>,
) -> Result<web::Json<Page<ConversationView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// One conversation.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ConversationView), (status = 404, body = ErrorBody)))]
#[get("/conversations/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ConversationView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct TraceQuery {
    /// At most this many (1-500, default 100).
    limit: Option<u32>,
}

/// What the chatbot did in this conversation: one trace per engine run (input, nodes entered,
/// effects, duration), oldest first, from the archive (MongoDB or SQL). org_admins and viewers.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path), TraceQuery), responses(
    (status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[get("/conversations/{id}/traces")]
async fn traces(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    q: web::Query<TraceQuery>,
) -> Result<web::Json<Vec<serde_json::Value>>, ApiError> {
    p.require(crate::auth::Permission::FlowsRead)?;
    let conversation = svc::get(&state, &p, id.into_inner()).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let found = state.archive.traces(p.org, conversation.id, limit).await.map_err(|e| {
        tracing::warn!(error = %e, "reading traces failed");
        ApiError::Unavailable("archive")
    })?;
    Ok(web::Json(found))
}

/// The conversation's messages, oldest first.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path), ListQuery), responses(
    (status = 200, body = Page<MessageView>), (status = 404, body = ErrorBody)))]
#[get("/conversations/{id}/messages")]
async fn messages(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<MessageView>>, ApiError> {
    Ok(web::Json(svc::messages(&state, &p, id.into_inner(), q.into_inner()).await?))
}

/// Send a message (text, template or media) through the outbox, as the calling agent. Free-form
/// messages need the 24-hour window (422 `window_closed`); a repeated `client_id` returns the first
/// message with 200.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), request_body = SendMessage, responses(
    (status = 201, body = MessageView), (status = 200, description = "an earlier send with the same client_id", body = MessageView),
    (status = 404, body = ErrorBody), (status = 409, description = "conversation closed or number unusable", body = ErrorBody),
    (status = 422, description = "invalid, or window_closed", body = ErrorBody)))]
#[post("/conversations/{id}/messages")]
async fn send(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    let sent = sending::send(&state, &p, id.into_inner(), body.into_inner()).await?;
    Ok(if sent.created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(sent.message))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The agent to hold it; absent: the caller.
    pub agent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    pub name: String,
}

/// Take the next queued conversation (priority, then the longest waiting) the caller may take.
#[utoipa::path(tag = "conversations", responses(
    (status = 200, body = ConversationView), (status = 204, description = "nothing is waiting"), (status = 403, body = ErrorBody)))]
#[post("/conversations/take-next")]
async fn take_next(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    Ok(match actions::take_next(&state, &p).await? {
        Some(v) => HttpResponse::Ok().json(v),
        None => HttpResponse::NoContent().finish(),
    })
}

/// Assign the conversation (an agent: to themselves; an org_admin: to anyone).
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), request_body = AssignBody, responses(
    (status = 200, body = ConversationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/conversations/{id}/assign")]
async fn assign(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<AssignBody>,
) -> Result<web::Json<ConversationView>, ApiError> {
    let agent = body.into_inner().agent_id.unwrap_or(p.user_id);
    Ok(web::Json(actions::assign(&state, &p, id.into_inner(), agent).await?))
}

/// Transfer to an agent, a queue or a department, with an optional internal note.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), request_body = Transfer, responses(
    (status = 200, body = ConversationView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/conversations/{id}/transfer")]
async fn transfer(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<Transfer>,
) -> Result<web::Json<ConversationView>, ApiError> {
    Ok(web::Json(actions::transfer(&state, &p, id.into_inner(), body.into_inner()).await?))
}

/// Close the conversation (the contact's next message opens a new one).
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ConversationView), (status = 404, body = ErrorBody)))]
#[post("/conversations/{id}/close")]
async fn close(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ConversationView>, ApiError> {
    Ok(web::Json(actions::close(&state, &p, id.into_inner()).await?))
}

/// Reopen a closed conversation (409 when the contact already has another open one).
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ConversationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/conversations/{id}/reopen")]
async fn reopen(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ConversationView>, ApiError> {
    Ok(web::Json(actions::reopen(&state, &p, id.into_inner()).await?))
}

/// Mark the conversation read (unread count to 0, and read receipts on WhatsApp).
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ConversationView), (status = 404, body = ErrorBody)))]
#[post("/conversations/{id}/read")]
async fn read(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ConversationView>, ApiError> {
    Ok(web::Json(actions::mark_read(&state, &p, id.into_inner()).await?))
}

/// Add an internal note (shown to agents with the messages, never sent to the contact).
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), request_body = NoteBody, responses(
    (status = 201, body = MessageView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/conversations/{id}/notes")]
async fn add_note(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(actions::note(&state, &p, id.into_inner(), &body.text).await?))
}

/// The conversation's tags.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Vec<String>), (status = 404, body = ErrorBody)))]
#[get("/conversations/{id}/tags")]
async fn list_tags(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<String>>, ApiError> {
    Ok(web::Json(svc::tags(&state, &p, id.into_inner()).await?))
}

/// Tag the conversation (the tag is created when new); returns its tags.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), request_body = TagBody, responses(
    (status = 200, body = Vec<String>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/conversations/{id}/tags")]
async fn add_tag(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<TagBody>,
) -> Result<web::Json<Vec<String>>, ApiError> {
    Ok(web::Json(svc::add_tag(&state, &p, id.into_inner(), &body.name).await?))
}

/// Remove a tag from the conversation; returns its tags.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path), ("name" = String, Path)), responses(
    (status = 200, body = Vec<String>), (status = 404, body = ErrorBody)))]
#[delete("/conversations/{id}/tags/{name}")]
async fn remove_tag(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(Uuid, String)>,
) -> Result<web::Json<Vec<String>>, ApiError> {
    let (id, name) = path.into_inner();
    Ok(web::Json(svc::remove_tag(&state, &p, id, &name).await?))
}

impl crate::http::Validate for AssignBody {
    fn validate(&self) -> Result<(), crate::http::FieldErrors> {
        Ok(())
    }
}

impl crate::http::Validate for NoteBody {
    fn validate(&self) -> Result<(), crate::http::FieldErrors> {
        let mut e = crate::http::FieldErrors::default();
        e.text("text", &self.text, 1, 4096);
        e.finish()
    }
}

impl crate::http::Validate for TagBody {
    fn validate(&self) -> Result<(), crate::http::FieldErrors> {
        let mut e = crate::http::FieldErrors::default();
        e.text("name", &self.name, 1, 50);
        e.finish()
    }
}
