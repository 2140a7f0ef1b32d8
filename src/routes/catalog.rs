//! `/api/v1/tags`, `/api/v1/canned-responses` and `/api/v1/audit`.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::catalog::{
    self as svc, AuditQuery, AuditView, CannedBody, CannedQuery, CannedView, TagSpec, TagView,
};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_tags)
        .service(create_tag)
        .service(update_tag)
        .service(delete_tag)
        .service(list_canned)
        .service(create_canned)
        .service(get_canned)
        .service(update_canned)
        .service(delete_canned)
        .service(list_audit);
}

/// The organization's tags, with how many contacts and conversations carry each.
#[utoipa::path(tag = "contacts", params(ListQuery), responses((status = 200, body = Page<TagView>)))]
#[get("/tags")]
async fn list_tags(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<TagView>>, ApiError> {
    Ok(web::Json(svc::list_tags(&state, &p, q.into_inner()).await?))
}

/// Create a tag (an existing one of that name is returned).
#[utoipa::path(tag = "contacts", request_body = TagSpec, responses((status = 201, body = TagView), (status = 422, body = ErrorBody)))]
#[post("/tags")]
async fn create_tag(state: web::Data<AppState>, p: Principal, body: Json<TagSpec>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create_tag(&state, &p, body.into_inner()).await?))
}

/// Rename or recolor a tag (org_admin; 409 when the name is taken).
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), request_body = TagSpec, responses(
    (status = 200, body = TagView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[put("/tags/{id}")]
async fn update_tag(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<TagSpec>,
) -> Result<web::Json<TagView>, ApiError> {
    Ok(web::Json(svc::update_tag(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete a tag, taking it off every contact and conversation (org_admin).
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/tags/{id}")]
async fn delete_tag(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_tag(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Canned responses (`?prefix=` for the composer's shortcut lookup).
#[utoipa::path(tag = "conversations", params(CannedQuery), responses((status = 200, body = Page<CannedView>)))]
#[get("/canned-responses")]
async fn list_canned(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<CannedQuery>,
) -> Result<web::Json<Page<CannedView>>, ApiError> {
    Ok(web::Json(svc::list_canned(&state, &p, q.into_inner()).await?))
}

/// Create a canned response (org_admin; 409 when the shortcut is taken).
#[utoipa::path(tag = "conversations", request_body = CannedBody, responses(
    (status = 201, body = CannedView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/canned-responses")]
async fn create_canned(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CannedBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create_canned(&state, &p, body.into_inner()).await?))
}

/// One canned response.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses((status = 200, body = CannedView), (status = 404, body = ErrorBody)))]
#[get("/canned-responses/{id}")]
async fn get_canned(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<CannedView>, ApiError> {
    Ok(web::Json(svc::get_canned(&state, &p, id.into_inner()).await?))
}

/// Replace a canned response.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), request_body = CannedBody, responses(
    (status = 200, body = CannedView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[put("/canned-responses/{id}")]
async fn update_canned(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<CannedBody>,
) -> Result<web::Json<CannedView>, ApiError> {
    Ok(web::Json(svc::update_canned(&state, &p, id.into_inner(), body.into_inner()).await?))
}

/// Delete a canned response.
#[utoipa::path(tag = "conversations", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/canned-responses/{id}")]
async fn delete_canned(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_canned(&state, &p, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit log, newest first: who changed what, when, before and after (secrets redacted).
#[utoipa::path(tag = "organizations", params(AuditQuery), responses((status = 200, body = Page<AuditView>), (status = 403, body = ErrorBody)))]
#[get("/audit")]
async fn list_audit(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditView>>, ApiError> {
    Ok(web::Json(svc::list_audit(&state, &p, q.into_inner()).await?))
}
