//! `/api/v1/chatbots`: which flow answers on which numbers, and when.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::chatbots::{self as svc, ChatbotView, CreateChatbot, UpdateChatbot};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(get_one).service(update).service(delete_one);
}

/// The organization's chatbots.
#[utoipa::path(tag = "flows", params(ListQuery), responses((status = 200, body = Page<ChatbotView>), (status = 403, body = ErrorBody)))]
#[get("/chatbots")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<ChatbotView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// Create a chatbot bound to numbers, with its triggers and flows.
#[utoipa::path(tag = "flows", request_body = CreateChatbot, responses(
    (status = 201, body = ChatbotView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/chatbots")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateChatbot>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, &meta, body.into_inner()).await?))
}

/// One chatbot.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 200, body = ChatbotView), (status = 404, body = ErrorBody)))]
#[get("/chatbots/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ChatbotView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Update a chatbot: an absent field is kept, `null` clears it.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), request_body = UpdateChatbot, responses(
    (status = 200, body = ChatbotView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/chatbots/{id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateChatbot>,
) -> Result<web::Json<ChatbotView>, ApiError> {
    Ok(web::Json(svc::update(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete (soft) a chatbot; conversations it started keep their flow.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/chatbots/{id}")]
async fn delete_one(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
