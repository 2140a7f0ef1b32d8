//! `/api/v1/organizations`: super_admin CRUD, and `/me` for the caller's own organization.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::organizations::{self as svc, CreateOrganization, OrganizationView, UpdateOrganization};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    // `/me` first: it must win over `/{id}`.
    cfg.service(get_own)
        .service(update_own)
        .service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(delete_one);
}

/// The caller's organization.
#[utoipa::path(tag = "organizations", responses(
    (status = 200, body = OrganizationView), (status = 401, body = ErrorBody)))]
#[get("/organizations/me")]
async fn get_own(state: web::Data<AppState>, p: Principal) -> Result<web::Json<OrganizationView>, ApiError> {
    Ok(web::Json(svc::get_own(&state, &p).await?))
}

/// Update the caller's organization (org_admin).
#[utoipa::path(tag = "organizations", request_body = UpdateOrganization, responses(
    (status = 200, body = OrganizationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
#[put("/organizations/me")]
async fn update_own(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<UpdateOrganization>,
) -> Result<web::Json<OrganizationView>, ApiError> {
    Ok(web::Json(svc::update_own(&state, &p, &meta, body.into_inner()).await?))
}

/// Every organization (super_admin).
#[utoipa::path(tag = "organizations", params(ListQuery), responses(
    (status = 200, body = Page<OrganizationView>), (status = 403, body = ErrorBody)))]
#[get("/organizations")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<OrganizationView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// Create an organization (super_admin).
#[utoipa::path(tag = "organizations", request_body = CreateOrganization, responses(
    (status = 201, body = OrganizationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
#[post("/organizations")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateOrganization>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, &meta, body.into_inner()).await?))
}

/// One organization (super_admin).
#[utoipa::path(tag = "organizations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = OrganizationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/organizations/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<OrganizationView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Update an organization (super_admin).
#[utoipa::path(tag = "organizations", params(("id" = Uuid, Path)), request_body = UpdateOrganization, responses(
    (status = 200, body = OrganizationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[put("/organizations/{id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateOrganization>,
) -> Result<web::Json<OrganizationView>, ApiError> {
    Ok(web::Json(svc::update(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete (soft) an organization (super_admin); its users can no longer sign in.
#[utoipa::path(tag = "organizations", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/organizations/{id}")]
async fn delete_one(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
