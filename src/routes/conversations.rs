//! `/api/v1/conversations`: conversations and their messages.

use crate::auth::Principal;
use crate::http::{ApiError, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::conversations::{self as svc, ConversationListQuery};
use crate::state::AppState;
use actix_web::{get, web};
use pytake_actors::views::{ConversationView, MessageView};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(get_one).service(messages);
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
