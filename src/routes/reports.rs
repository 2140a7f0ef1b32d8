//! `/api/v1/analytics/...`: the reports.

use crate::auth::Principal;
use crate::http::ApiError;
use crate::routes::docs::ErrorBody;
use crate::services::reports::{self as svc, AgentReport, Day, FlowReport, Overview, Period, QueueReport};
use crate::state::AppState;
use actix_web::{get, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(overview).service(by_day).service(by_agent).service(by_queue).service(flow);
}

/// Totals of the period, with first response and resolution time percentiles.
#[utoipa::path(tag = "analytics", params(Period), responses((status = 200, body = Overview), (status = 422, body = ErrorBody)))]
#[get("/analytics/overview")]
async fn overview(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<Period>,
) -> Result<web::Json<Overview>, ApiError> {
    Ok(web::Json(svc::overview(&state, &p, q.into_inner()).await?))
}

/// Conversations opened and closed and messages in and out, per UTC day.
#[utoipa::path(tag = "analytics", params(Period), responses((status = 200, body = Vec<Day>), (status = 422, body = ErrorBody)))]
#[get("/analytics/conversations")]
async fn by_day(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<Period>,
) -> Result<web::Json<Vec<Day>>, ApiError> {
    Ok(web::Json(svc::by_day(&state, &p, q.into_inner()).await?))
}

/// Per agent: assigned, closed, held now, first response and resolution times.
#[utoipa::path(tag = "analytics", params(Period), responses((status = 200, body = Vec<AgentReport>), (status = 422, body = ErrorBody)))]
#[get("/analytics/agents")]
async fn by_agent(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<Period>,
) -> Result<web::Json<Vec<AgentReport>>, ApiError> {
    Ok(web::Json(svc::by_agent(&state, &p, q.into_inner()).await?))
}

/// Per queue: waiting now, queued in the period, SLA breaches.
#[utoipa::path(tag = "analytics", params(Period), responses((status = 200, body = Vec<QueueReport>), (status = 422, body = ErrorBody)))]
#[get("/analytics/queues")]
async fn by_queue(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<Period>,
) -> Result<web::Json<Vec<QueueReport>>, ApiError> {
    Ok(web::Json(svc::by_queue(&state, &p, q.into_inner()).await?))
}

/// A flow's funnel: started, completed, handed off, and where unfinished runs wait.
#[utoipa::path(tag = "analytics", params(("id" = Uuid, Path), Period), responses((status = 200, body = FlowReport), (status = 404, body = ErrorBody)))]
#[get("/analytics/flows/{id}")]
async fn flow(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    q: web::Query<Period>,
) -> Result<web::Json<FlowReport>, ApiError> {
    Ok(web::Json(svc::flow(&state, &p, id.into_inner(), q.into_inner()).await?))
}
