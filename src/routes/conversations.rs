//! `/api/v1/conversations`: conversations and their messages.

use crate::auth::Principal;
use crate::http::Json;
use crate::http::{ApiError, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::conversations::{self as svc, ConversationListQuery};
use crate::services::sending::{self, SendMessage};
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, web};
use pytake_actors::views::{ConversationView, MessageView};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(get_one).service(messages).service(send);
}

/// Conversations, newest first (filters: status, contact_wa_id, number_id).
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
