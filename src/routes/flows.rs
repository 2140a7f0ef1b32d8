//! `/api/v1/flows`: flow drafts, validation, immutable published versions, export and import.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, Page};
use crate::routes::docs::ErrorBody;
use crate::services::flows::{
    self as svc, CreateFlow, FlowListQuery, FlowSummary, FlowView, UpdateFlow, ValidationReport, VersionView,
};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(import)
        .service(get_one)
        .service(update)
        .service(delete_one)
        .service(validate)
        .service(publish)
        .service(versions)
        .service(export)
        .service(simulate);
}

/// The organization's flows (summaries; filter by chatbot).
#[utoipa::path(tag = "flows", params(FlowListQuery), responses((status = 200, body = Page<FlowSummary>), (status = 403, body = ErrorBody)))]
#[get("/flows")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<FlowListQuery>,
) -> Result<web::Json<Page<FlowSummary>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// Create a draft from React-Flow JSON (the original builder's field names are accepted).
#[utoipa::path(tag = "flows", request_body = CreateFlow, responses(
    (status = 201, body = FlowView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/flows")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateFlow>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, &meta, body.into_inner()).await?))
}

/// Create a draft from an exported document or the original builder's JSON.
#[utoipa::path(tag = "flows", request_body = Object, responses(
    (status = 201, body = FlowView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/flows/import")]
async fn import(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::import(&state, &p, &meta, body.into_inner()).await?))
}

/// One flow's draft.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 200, body = FlowView), (status = 404, body = ErrorBody)))]
#[get("/flows/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<FlowView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Update the draft (published versions never change).
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), request_body = UpdateFlow, responses(
    (status = 200, body = FlowView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/flows/{id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateFlow>,
) -> Result<web::Json<FlowView>, ApiError> {
    Ok(web::Json(svc::update(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete (soft) a flow; conversations running a published version of it finish on that version.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/flows/{id}")]
async fn delete_one(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Check the draft: every problem, each naming the node id and the field.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 200, body = ValidationReport), (status = 404, body = ErrorBody)))]
#[post("/flows/{id}/validate")]
async fn validate(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ValidationReport>, ApiError> {
    Ok(web::Json(svc::validate(&state, &p, id.into_inner()).await?))
}

/// Publish the draft as the next immutable version (422 `flow_invalid` with the same errors as validate).
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses(
    (status = 201, body = VersionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/flows/{id}/publish")]
async fn publish(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::publish(&state, &p, &meta, id.into_inner()).await?))
}

/// The flow's published versions, newest first.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<VersionView>), (status = 404, body = ErrorBody)))]
#[get("/flows/{id}/versions")]
async fn versions(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<VersionView>>, ApiError> {
    Ok(web::Json(svc::versions(&state, &p, id.into_inner()).await?))
}

/// The flow as a portable JSON document (`format: pytake-flow/1`).
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
#[get("/flows/{id}/export")]
async fn export(state: web::Data<AppState>, p: Principal, id: web::Path<Uuid>) -> Result<web::Json<Value>, ApiError> {
    Ok(web::Json(svc::export(&state, &p, id.into_inner()).await?))
}

/// Run the flow's draft in the simulator: an empty body starts a session; then send `input`
/// (`text` or `reply_id`), or `fire_timer`; `api_mocks` answer `api_call` nodes. Nothing is sent or
/// stored.
#[utoipa::path(tag = "flows", params(("id" = Uuid, Path)), request_body = crate::services::simulator::SimulateRequest, responses(
    (status = 200, body = crate::services::simulator::SimulateResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/flows/{id}/simulate")]
async fn simulate(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<crate::services::simulator::SimulateRequest>,
) -> Result<web::Json<crate::services::simulator::SimulateResponse>, ApiError> {
    Ok(web::Json(crate::services::simulator::simulate(&state, &p, id.into_inner(), body.into_inner()).await?))
}
