//! `GET /api/v1/ws`: the agent socket (protocol in docs/CONSOLE.md). WebSocket handshakes are taken
//! before routing (`http::upgrade`); this route documents the endpoint and answers requests that
//! are not handshakes.

use crate::http::ApiError;
use actix_web::{HttpResponse, get};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(socket);
}

/// Upgrade to the agent socket. The first frame must be `{"type":"auth","token":"<access JWT>",
/// "last_seq":N?}` within `live.auth_timeout_secs`. Without a WebSocket handshake: 400.
#[utoipa::path(tag = "console", responses(
    (status = 101, description = "switching to the WebSocket protocol"),
    (status = 400, description = "not a WebSocket handshake"),
))]
#[get("/ws")]
async fn socket() -> Result<HttpResponse, ApiError> {
    Err(ApiError::bad_request("invalid_handshake", "open /api/v1/ws as a WebSocket (RFC 6455 handshake)"))
}
