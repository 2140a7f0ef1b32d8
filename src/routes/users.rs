//! `/api/v1/users`: the organization's users.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, Page};
use crate::routes::docs::ErrorBody;
use crate::services::users::{self as svc, CreateUser, UpdateUser, UserListQuery, UserView};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(get_one).service(update).service(deactivate);
}

/// Users of the organization (filters: role, is_active).
#[utoipa::path(tag = "users", params(UserListQuery), responses(
    (status = 200, body = Page<UserView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/users")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<UserListQuery>,
) -> Result<web::Json<Page<UserView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// Create a user with a role (org_admin: in its own organization, never a super_admin).
#[utoipa::path(tag = "users", request_body = CreateUser, responses(
    (status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
#[post("/users")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, &meta, body.into_inner()).await?))
}

/// One user.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path)), responses(
    (status = 200, body = UserView), (status = 404, body = ErrorBody)))]
#[get("/users/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Update a user (name, email, role, active, password, capacity). Changing the password, role or
/// deactivating signs the user out everywhere.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path)), request_body = UpdateUser, responses(
    (status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/users/{id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateUser>,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(svc::update(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Deactivate a user (kept for history; signed out everywhere).
#[utoipa::path(tag = "users", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[delete("/users/{id}")]
async fn deactivate(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::deactivate(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
