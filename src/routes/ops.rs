//! Ops endpoints: `/health/actors` (JSON) and `/metrics` (Prometheus text). They require
//! `Authorization: Bearer <ops.token>`; without a configured token they answer loopback clients only.

use crate::crypto::constant_time_eq;
use crate::http::ApiError;
use crate::repo::inbox;
use crate::routes::docs::ErrorBody;
use crate::state::AppState;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, get, web};
use pytake_actors::runtime::StatsSnapshot;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(actors).service(metrics);
}

fn authorize(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    match &state.settings.ops.token {
        Some(token) => {
            let given = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .unwrap_or("");
            if constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes()) {
                Ok(())
            } else {
                Err(ApiError::unauthorized("invalid_token", "ops endpoints need Authorization: Bearer <ops.token>"))
            }
        }
        // No token configured: only this machine may look (the peer address, never a forwarded one).
        None if req.peer_addr().is_some_and(|a| a.ip().is_loopback()) => Ok(()),
        None => Err(ApiError::unauthorized("invalid_token", "set ops.token to read ops endpoints from another host")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActorHealth {
    #[schema(value_type = Object)]
    actors: StatsSnapshot,
    /// Agent sockets open on this node (one `AgentSession` task each), authenticated or not.
    agent_sessions: usize,
    /// Inbox items not processed yet.
    inbox_backlog: i64,
    /// Age of the oldest unprocessed item, seconds.
    inbox_oldest_age_secs: Option<f64>,
    /// Items parked as failed after their last attempt.
    failed_items: i64,
    #[schema(value_type = Vec<Object>)]
    recent_failures: Vec<serde_json::Value>,
}

async fn actor_health(state: &AppState) -> Result<ActorHealth, ApiError> {
    let mut c = state.db.conn().await?;
    let backlog = inbox::backlog(&mut c).await?;
    let failures = inbox::failed_items(&mut c, 20).await?;
    let now = state.now();
    Ok(ActorHealth {
        actors: state.registry.snapshot(),
        agent_sessions: state.live.sessions.load(std::sync::atomic::Ordering::Relaxed),
        inbox_backlog: backlog.pending,
        inbox_oldest_age_secs: backlog.oldest_pending_at.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
        failed_items: backlog.failed,
        recent_failures: failures
            .into_iter()
            .map(|f| {
                serde_json::json!({"id": f.id, "organization_id": f.organization_id, "kind": f.kind,
                    "contact_wa_id": f.contact_wa_id, "attempts": f.attempts, "error": f.last_error, "created_at": f.created_at})
            })
            .collect(),
    })
}

/// Actor runtime health: active actors, activations, passivations, restarts, mailbox depth, inbox
/// backlog and its age, parked items.
#[utoipa::path(tag = "ops", security(("ops" = [])), responses((status = 200, body = ActorHealth), (status = 401, body = ErrorBody)))]
#[get("/health/actors")]
async fn actors(state: web::Data<AppState>, req: HttpRequest) -> Result<web::Json<ActorHealth>, ApiError> {
    authorize(&state, &req)?;
    Ok(web::Json(actor_health(&state).await?))
}

/// Prometheus metrics.
#[utoipa::path(tag = "ops", security(("ops" = [])), responses((status = 200, description = "text/plain; version=0.0.4"), (status = 401, body = ErrorBody)))]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let h = actor_health(&state).await?;
    let a = &h.actors;
    let gauges: Vec<(&str, &str, f64)> = vec![
        ("pytake_actors_org_active", "Active organization actors.", a.org_actors as f64),
        ("pytake_actors_conversation_active", "Active conversation actors.", a.conversation_actors as f64),
        ("pytake_actors_activations_total", "Actor activations since start.", a.activations as f64),
        ("pytake_actors_passivations_total", "Idle actors stopped since start.", a.passivations as f64),
        (
            "pytake_actors_prewarmed_total",
            "Actors woken at start with their state read in batches.",
            a.prewarmed as f64,
        ),
        ("pytake_actors_restarts_total", "Actors restarted after a crash since start.", a.restarts as f64),
        ("pytake_actors_items_processed_total", "Inbox items processed since start.", a.processed as f64),
        ("pytake_actors_items_retried_total", "Failed attempts retried since start.", a.retries as f64),
        ("pytake_actors_items_parked_total", "Items parked as failed since start.", a.parked as f64),
        ("pytake_actors_mailbox_total", "Items queued in conversation actors.", a.mailbox_total as f64),
        ("pytake_actors_mailbox_max", "Items queued in the fullest conversation actor.", a.mailbox_max as f64),
        ("pytake_events_total", "Organization events published since start.", a.events as f64),
        ("pytake_actors_orphan_statuses_total", "Statuses dropped for want of a matching message.", a.orphans as f64),
        ("pytake_item_latency_p50_ms", "Arrival to committed, median (ms).", a.item_latency_ms.p50),
        ("pytake_item_latency_p99_ms", "Arrival to committed, 99th percentile (ms).", a.item_latency_ms.p99),
        ("pytake_agent_sessions_active", "Connected agent sockets.", h.agent_sessions as f64),
        ("pytake_inbox_backlog", "Inbox items not processed yet.", h.inbox_backlog as f64),
        (
            "pytake_inbox_oldest_age_seconds",
            "Age of the oldest unprocessed inbox item.",
            h.inbox_oldest_age_secs.unwrap_or(0.0),
        ),
        ("pytake_inbox_failed", "Inbox items parked as failed.", h.failed_items as f64),
    ];
    let mut body = state.metrics.render(&gauges);
    body.push_str(&state.archive.stats.render(state.archive.sink_name()));
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body))
}
