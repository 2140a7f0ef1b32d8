//! `/api/v1/whatsapp/numbers/{id}/templates`: a number's message templates.

use crate::auth::Principal;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::templates::{self as svc, TemplateBody, TemplateView};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(sync)
        .service(get_one)
        .service(update)
        .service(delete_one)
        .service(submit);
}

/// The number's templates.
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path), ListQuery), responses((status = 200, body = Page<TemplateView>), (status = 404, body = ErrorBody)))]
#[get("/whatsapp/numbers/{id}/templates")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<TemplateView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, id.into_inner(), q.into_inner()).await?))
}

/// Write a template (a local draft until submitted).
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path)), request_body = TemplateBody, responses(
    (status = 201, body = TemplateView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/whatsapp/numbers/{id}/templates")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<TemplateBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, id.into_inner(), body.into_inner()).await?))
}

/// Pull the WABA's templates from Meta (status, quality, and templates made elsewhere).
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Vec<TemplateView>), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/whatsapp/numbers/{id}/templates/sync")]
async fn sync(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<TemplateView>>, ApiError> {
    Ok(web::Json(svc::sync(&state, &p, id.into_inner()).await?))
}

/// One template.
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path), ("template_id" = Uuid, Path)), responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)))]
#[get("/whatsapp/numbers/{id}/templates/{template_id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<web::Json<TemplateView>, ApiError> {
    let (number, id) = path.into_inner();
    Ok(web::Json(svc::get(&state, &p, number, id).await?))
}

/// Edit a draft or rejected template.
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path), ("template_id" = Uuid, Path)), request_body = TemplateBody, responses(
    (status = 200, body = TemplateView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/whatsapp/numbers/{id}/templates/{template_id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<TemplateBody>,
) -> Result<web::Json<TemplateView>, ApiError> {
    let (number, id) = path.into_inner();
    Ok(web::Json(svc::update(&state, &p, number, id, body.into_inner()).await?))
}

/// Delete the local template.
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path), ("template_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/whatsapp/numbers/{id}/templates/{template_id}")]
async fn delete_one(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (number, id) = path.into_inner();
    svc::delete(&state, &p, number, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Submit a draft to Meta for review (422 `meta_rejected` with Meta's code when refused).
#[utoipa::path(tag = "templates", params(("id" = Uuid, Path), ("template_id" = Uuid, Path)), responses(
    (status = 200, body = TemplateView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/whatsapp/numbers/{id}/templates/{template_id}/submit")]
async fn submit(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<web::Json<TemplateView>, ApiError> {
    let (number, id) = path.into_inner();
    Ok(web::Json(svc::submit(&state, &p, number, id).await?))
}
