//! Health probes: `/health/live` (the process answers) and `/health/ready` (the database, and Redis
//! when configured, answer; 503 naming what is down).

use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(live).service(ready);
}

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    status: &'static str,
    version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `unavailable` when a required dependency is down.
    status: &'static str,
    /// Each dependency: `ok`, `down`, or `not_configured`.
    checks: serde_json::Map<String, serde_json::Value>,
}

/// The process is up.
#[utoipa::path(tag = "health", security(()), responses((status = 200, body = Liveness)))]
#[get("/health/live")]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// The database answers (503 otherwise); Redis, when configured, is reported: `degraded` while it
/// is away (each node then serves its own sockets).
#[utoipa::path(tag = "health", security(()), responses(
    (status = 200, body = Readiness), (status = 503, description = "A dependency is down", body = Readiness)))]
#[get("/health/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = serde_json::Map::new();
    let timeout = std::time::Duration::from_secs(2);
    let db_ok = matches!(tokio::time::timeout(timeout, state.db.ping()).await, Ok(Ok(())));
    checks.insert("database".into(), (if db_ok { "ok" } else { "down" }).into());
    let redis_ok = match &state.redis {
        None => {
            checks.insert("redis".into(), "not_configured".into());
            true
        }
        Some(manager) => {
            let mut conn = manager.clone();
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut conn);
            let ok = matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_)));
            checks.insert("redis".into(), (if ok { "ok" } else { "down" }).into());
            ok
        }
    };
    // Without Redis a node still serves its own sockets and webhooks: degraded, not down.
    let status = match (db_ok, redis_ok) {
        (false, _) => "unavailable",
        (true, false) => "degraded",
        (true, true) => "ready",
    };
    let body = Readiness { status, checks };
    if db_ok { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
