//! `/api/v1/auth`: login, refresh, logout, me.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::request::client_ip;
use crate::http::{ApiError, Json};
use crate::routes::docs::ErrorBody;
use crate::services::auth::{self as svc, LoginRequest, Me, RefreshRequest, TokenPair};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(login).service(refresh).service(logout).service(me);
}

/// Admits a login attempt under the per-IP limit (checked before the body is even read).
pub struct LoginThrottle;

impl FromRequest for LoginThrottle {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<AppState>>() {
            None => Err(ApiError::internal("application state missing")),
            Some(state) => match client_ip(req, state.settings.server.trust_forwarded_for) {
                Some(ip) => state.login_limiter.check(&ip).map(|_| LoginThrottle),
                None => Ok(LoginThrottle),
            },
        };
        std::future::ready(result)
    }
}

/// Exchange email and password for an access token (15 min) and a refresh token (7 days).
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong credentials, locked or disabled account", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Too many attempts from this IP", body = ErrorBody),
    )
)]
#[post("/auth/login")]
async fn login(
    _throttle: LoginThrottle,
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Json<LoginRequest>,
) -> Result<web::Json<TokenPair>, ApiError> {
    Ok(web::Json(svc::login(&state, &meta, body.into_inner()).await?))
}

/// Rotate a refresh token: the old one is spent; replaying it revokes its whole family.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = ErrorBody),
    )
)]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Json<RefreshRequest>,
) -> Result<web::Json<TokenPair>, ApiError> {
    Ok(web::Json(svc::refresh(&state, &meta, body.into_inner()).await?))
}

/// Sign out: revokes the refresh token's family.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Invalid refresh token", body = ErrorBody),
    )
)]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, body: Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    svc::logout(&state, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's identity, role and permissions.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
#[get("/auth/me")]
async fn me(principal: Principal) -> web::Json<Me> {
    web::Json(svc::me(&principal))
}
