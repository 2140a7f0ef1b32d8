//! The authenticated caller. Extracting a `Principal` verifies the Bearer access token, reloads the
//! user (so a deactivated account or a changed role takes effect at once) and fixes the organization
//! the request acts in: the user's own, or, for a super_admin only, the one named by
//! `X-Organization-Id`. This is the only place a request's `OrgId` is made.

use super::jwt::TokenType;
use super::permissions::Permission;
use crate::http::ApiError;
use crate::repo;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use pytake_actors::{OrgId, Role};
use uuid::Uuid;

pub const ORG_HEADER: &str = "x-organization-id";

#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub email: String,
    pub full_name: String,
    /// The organization the user belongs to.
    pub home_org: OrgId,
    /// The organization this request acts in.
    pub org: OrgId,
}

impl Principal {
    /// 403 unless the caller's role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if permission.granted_to(self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("the {} role may not do this", self.role.as_str())))
        }
    }

    pub fn is_super_admin(&self) -> bool {
        self.role == Role::SuperAdmin
    }

    /// The organization a super_admin names explicitly (body or query `organization_id`), verified
    /// to exist; anyone else always gets their own.
    pub async fn scoped_to(&self, state: &AppState, requested: Option<Uuid>) -> Result<OrgId, ApiError> {
        match requested {
            Some(id) if self.is_super_admin() && id != self.org.as_uuid() => verified_org(state, id).await,
            _ => Ok(self.org),
        }
    }
}

/// Looks an organization up by id and mints its scope; 404 when it is absent or deleted.
async fn verified_org(state: &AppState, id: Uuid) -> Result<OrgId, ApiError> {
    let mut c = state.db.conn().await?;
    match repo::organizations::get_by_id(&mut c, id).await? {
        #[allow(clippy::disallowed_methods)]
        Some(org) => Ok(OrgId::assume_verified(org.id)),
        None => Err(ApiError::NotFound("organization")),
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let header = req.headers().get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing_token", "an Authorization: Bearer <access token> header is required")
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid_token", "the Authorization header is not valid text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_string())
        }
        _ => Err(ApiError::unauthorized("invalid_token", "the Authorization header must be `Bearer <token>`")),
    }
}

/// Verifies an access token and loads its subject; used by the extractor and the WebSocket auth frame.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims =
        state.jwt.verify(token, TokenType::Access).map_err(|e| ApiError::unauthorized(e.code(), e.to_string()))?;
    let mut c = state.db.conn().await?;
    let subject = repo::users::find_subject(&mut c, claims.sub)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the token's user no longer exists"))?;
    if !subject.is_active || !subject.org_is_active {
        return Err(ApiError::unauthorized("account_disabled", "this account or its organization is deactivated"));
    }
    let role: Role =
        subject.role.parse().map_err(|e: pytake_actors::domain::role::UnknownRole| ApiError::internal(e))?;
    #[allow(clippy::disallowed_methods)]
    let home = OrgId::assume_verified(subject.organization_id);
    Ok(Principal {
        user_id: subject.id,
        role,
        email: subject.email,
        full_name: subject.full_name,
        home_org: home,
        org: home,
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("application state missing"))?
                .clone();
            let token = bearer_token(&req)?;
            let mut principal = authenticate(&state, &token).await?;
            if let Some(value) = req.headers().get(ORG_HEADER) {
                let requested: Uuid = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| ApiError::bad_request("invalid_header", "X-Organization-Id must be a UUID"))?;
                if requested != principal.home_org.as_uuid() {
                    if !principal.is_super_admin() {
                        return Err(ApiError::forbidden("only a super_admin may act in another organization"));
                    }
                    principal.org = verified_org(&state, requested).await?;
                }
            }
            Ok(principal)
        })
    }
}

/// Where a request came from, for audit entries and refresh-token records.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings.server.trust_forwarded_for);
        std::future::ready(Ok(RequestMeta {
            ip: crate::http::request::client_ip(req, trust).map(|ip| ip.to_string()),
            request_id: crate::http::request::request_id(req),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
        }))
    }
}
