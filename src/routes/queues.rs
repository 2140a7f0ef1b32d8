//! `/api/v1/departments` and `/api/v1/queues`.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::queues::{
    self as svc, CreateDepartment, CreateQueue, DepartmentView, QueueListQuery, QueueView, UpdateDepartment,
    UpdateQueue,
};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_departments)
        .service(create_department)
        .service(get_department)
        .service(update_department)
        .service(delete_department)
        .service(list_queues)
        .service(create_queue)
        .service(get_queue)
        .service(update_queue)
        .service(delete_queue);
}

/// The organization's departments, with their agents.
#[utoipa::path(tag = "queues", params(ListQuery), responses((status = 200, body = Page<DepartmentView>), (status = 403, body = ErrorBody)))]
#[get("/departments")]
async fn list_departments(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<DepartmentView>>, ApiError> {
    Ok(web::Json(svc::list_departments(&state, &p, q.into_inner()).await?))
}

/// Create a department (org_admin).
#[utoipa::path(tag = "queues", request_body = CreateDepartment, responses(
    (status = 201, body = DepartmentView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/departments")]
async fn create_department(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateDepartment>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create_department(&state, &p, &meta, body.into_inner()).await?))
}

/// One department.
#[utoipa::path(tag = "queues", params(("id" = Uuid, Path)), responses((status = 200, body = DepartmentView), (status = 404, body = ErrorBody)))]
#[get("/departments/{id}")]
async fn get_department(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<DepartmentView>, ApiError> {
    Ok(web::Json(svc::get_department(&state, &p, id.into_inner()).await?))
}

/// Update a department; `agent_ids` replaces its members.
#[utoipa::path(tag = "queues", params(("id" = Uuid, Path)), request_body = UpdateDepartment, responses(
    (status = 200, body = DepartmentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/departments/{id}")]
async fn update_department(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateDepartment>,
) -> Result<web::Json<DepartmentView>, ApiError> {
    Ok(web::Json(svc::update_department(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete a department (its queues keep working without it).
#[utoipa::path(tag = "queues", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/departments/{id}")]
async fn delete_department(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_department(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organization's queues, with how many conversations wait in each.
#[utoipa::path(tag = "queues", params(QueueListQuery), responses((status = 200, body = Page<QueueView>), (status = 403, body = ErrorBody)))]
#[get("/queues")]
async fn list_queues(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<QueueListQuery>,
) -> Result<web::Json<Page<QueueView>>, ApiError> {
    Ok(web::Json(svc::list_queues(&state, &p, q.into_inner()).await?))
}

/// Create a queue (org_admin).
#[utoipa::path(tag = "queues", request_body = CreateQueue, responses(
    (status = 201, body = QueueView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/queues")]
async fn create_queue(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateQueue>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create_queue(&state, &p, &meta, body.into_inner()).await?))
}

/// One queue.
#[utoipa::path(tag = "queues", params(("id" = Uuid, Path)), responses((status = 200, body = QueueView), (status = 404, body = ErrorBody)))]
#[get("/queues/{id}")]
async fn get_queue(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<QueueView>, ApiError> {
    Ok(web::Json(svc::get_queue(&state, &p, id.into_inner()).await?))
}

/// Update a queue: an absent field is kept, `null` clears it.
#[utoipa::path(tag = "queues", params(("id" = Uuid, Path)), request_body = UpdateQueue, responses(
    (status = 200, body = QueueView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/queues/{id}")]
async fn update_queue(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateQueue>,
) -> Result<web::Json<QueueView>, ApiError> {
    Ok(web::Json(svc::update_queue(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete a queue (409 while conversations wait in it).
#[utoipa::path(tag = "queues", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/queues/{id}")]
async fn delete_queue(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_queue(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
