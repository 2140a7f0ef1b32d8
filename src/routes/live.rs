//! `GET /api/v1/ws`: the agent socket (protocol in docs/CONSOLE.md).

use crate::live::session;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(socket);
}

/// Upgrade to the agent socket. The first frame must be `{"type":"auth","token":"<access JWT>",
/// "last_seq":N?}` within `live.auth_timeout_secs`.
#[utoipa::path(tag = "console", responses((status = 101, description = "switching to the WebSocket protocol")))]
#[get("/ws")]
async fn socket(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, ws_session, stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(session::run(state, ws_session, stream));
    Ok(response)
}
