//! `/api/v1/webhooks/meta`: Meta's verification handshake and event deliveries.

use crate::http::ApiError;
use crate::http::json::read_body_limited;
use crate::http::request::client_ip;
use crate::routes::docs::ErrorBody;
use crate::state::AppState;
use crate::webhook::{self, VerifyQuery};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(verify).service(receive);
}

/// Meta's handshake: answers `hub.challenge` as plain text when `hub.mode=subscribe` and
/// `hub.verify_token` is the global token or a number's; otherwise 403.
#[utoipa::path(tag = "webhooks", security(()), params(VerifyQuery), responses(
    (status = 200, description = "The challenge, as text/plain"), (status = 403, description = "Wrong mode or token")))]
#[get("/webhooks/meta")]
async fn verify(state: web::Data<AppState>, q: web::Query<VerifyQuery>) -> Result<HttpResponse, ApiError> {
    Ok(match webhook::verify(&state, &q).await? {
        Some(challenge) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(challenge),
        None => HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body("verification failed"),
    })
}

/// An event delivery. Signed with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the app
/// secret). 200 once every item is durably stored (redeliveries are acknowledged and ignored);
/// 401 unsigned or wrongly signed (nothing stored); 400 malformed (the raw body is kept);
/// 413 over the size limit; 503 when the database is down (Meta retries).
#[utoipa::path(tag = "webhooks", security(()), request_body(content = Object, description = "Meta's notification envelope"),
    responses(
        (status = 200, description = "Stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/webhooks/meta")]
async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body_limited(&req, payload.into_inner(), state.settings.webhook.body_limit_bytes).await?;
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for).map(|ip| ip.to_string());
    let receipt = webhook::receive(&state, &body, signature, ip).await?;
    Ok(HttpResponse::Ok().json(receipt))
}
