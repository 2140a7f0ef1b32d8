//! Login, refresh-token rotation with reuse detection, logout, and the caller's profile.

use crate::auth::Principal;
use crate::auth::jwt::{Subject, TokenType};
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::refresh_tokens::{self, RefreshTokenRow};
use crate::repo::users::{self, UserRow};
use crate::state::AppState;
use chrono::Duration;
use pytake_actors::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin@pytake.local")]
    pub email: String,
    pub password: String,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("email", &self.email, 1, 254);
        e.text("password", &self.password, 1, crate::auth::password::MAX_PASSWORD_LEN);
        e.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("refresh_token", &self.refresh_token, 1, 4096);
        e.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    #[schema(value_type = String, example = "org_admin")]
    pub role: Role,
    pub organization_id: Uuid,
    /// The organization this request acted in (differs for a super_admin using X-Organization-Id).
    pub acting_organization_id: Uuid,
    pub permissions: Vec<String>,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or password is incorrect")
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn login(state: &AppState, meta: &RequestMeta, req: LoginRequest) -> Result<TokenPair, ApiError> {
    let now = state.now();
    let email = normalize_email(&req.email);
    let mut c = state.db.conn().await?;
    let found = users::find_for_login(&mut c, &email).await?;
    // Holding a pooled connection across the password hash would starve the pool under a login storm.
    drop(c);
    if let Some((user, _)) = &found
        && let Some(until) = user.locked_until
        && until > now
    {
        let minutes = ((until - now).num_seconds().max(1) + 59) / 60;
        return Err(ApiError::unauthorized(
            "account_locked",
            format!("too many failed logins; this account is locked for {minutes} more minute(s)"),
        ));
    }
    let stored_hash = found.as_ref().map(|(u, _)| u.password_hash.clone());
    let ok = state.passwords.verify(stored_hash, req.password).await.map_err(ApiError::internal)?;
    let Some((user, org_active)) = found else {
        return Err(invalid_credentials());
    };
    if !ok {
        let a = &state.settings.auth;
        let mut tx = state.db.begin().await?;
        let locked = users::record_failed_login(
            &mut tx,
            user.id,
            a.max_failed_logins,
            now + Duration::minutes(a.lockout_minutes),
            now,
        )
        .await?;
        tx.commit().await?;
        if locked.is_some() {
            tracing::warn!(user_id = %user.id, "account locked after repeated failed logins");
        }
        return Err(invalid_credentials());
    }
    if !user.is_active || !org_active {
        return Err(ApiError::unauthorized("account_disabled", "this account or its organization is deactivated"));
    }
    let mut tx = state.db.begin().await?;
    users::record_login(&mut tx, user.id, now).await?;
    let pair = issue_pair(state, &mut tx, &user, Uuid::now_v7(), meta).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Issues an access token and a refresh token in `family`, recording the refresh token.
async fn issue_pair(
    state: &AppState,
    c: &mut dyn crate::db::Conn,
    user: &UserRow,
    family: Uuid,
    meta: &RequestMeta,
) -> Result<TokenPair, ApiError> {
    let now = state.now();
    let role: Role = user.role.parse().map_err(ApiError::internal)?;
    let a = &state.settings.auth;
    let subject = Subject { user_id: user.id, org: user.organization_id, role };
    let (access, _) = state
        .jwt
        .issue(subject, TokenType::Access, Uuid::now_v7(), now, a.access_token_ttl_secs)
        .map_err(ApiError::internal)?;
    let jti = Uuid::now_v7();
    let (refresh, claims) =
        state.jwt.issue(subject, TokenType::Refresh, jti, now, a.refresh_token_ttl_secs).map_err(ApiError::internal)?;
    refresh_tokens::insert(
        c,
        &RefreshTokenRow {
            id: jti,
            organization_id: user.organization_id,
            user_id: user.id,
            family_id: family,
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
            created_at: now,
            used_at: None,
            revoked_at: None,
            user_agent: meta.user_agent.clone(),
            ip: meta.ip.clone(),
        },
    )
    .await?;
    Ok(TokenPair {
        access_token: access,
        refresh_token: refresh,
        token_type: "bearer",
        expires_in: a.access_token_ttl_secs,
    })
}

fn refresh_rejected(message: &str) -> ApiError {
    ApiError::unauthorized("invalid_refresh_token", message.to_string())
}

/// Rotates a refresh token. A token that was already used (or revoked) revokes its whole family.
pub async fn refresh(state: &AppState, meta: &RequestMeta, req: RefreshRequest) -> Result<TokenPair, ApiError> {
    let claims = state
        .jwt
        .verify(&req.refresh_token, TokenType::Refresh)
        .map_err(|e| ApiError::unauthorized(e.code(), e.to_string()))?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(row) = refresh_tokens::find(&mut tx, claims.jti).await? else {
        return Err(refresh_rejected("this refresh token is not known"));
    };
    if row.revoked_at.is_some() {
        return Err(refresh_rejected("this refresh token has been revoked"));
    }
    if row.used_at.is_some() || !refresh_tokens::mark_used(&mut tx, row.id, now).await? {
        refresh_tokens::revoke_family(&mut tx, row.family_id, "reuse_detected", now).await?;
        tx.commit().await?;
        tracing::warn!(user_id = %row.user_id, family = %row.family_id, "refresh token reuse: family revoked");
        return Err(ApiError::unauthorized(
            "refresh_token_reused",
            "this refresh token was already used; every session of its family has been signed out",
        ));
    }
    let subject = users::find_subject(&mut tx, row.user_id).await?;
    let active = subject.as_ref().is_some_and(|s| s.is_active && s.org_is_active);
    if !active {
        refresh_tokens::revoke_family(&mut tx, row.family_id, "account_disabled", now).await?;
        tx.commit().await?;
        return Err(ApiError::unauthorized("account_disabled", "this account or its organization is deactivated"));
    }
    #[allow(clippy::disallowed_methods)]
    let org = pytake_actors::OrgId::assume_verified(row.organization_id);
    let user = users::get(&mut tx, org, row.user_id)
        .await?
        .ok_or_else(|| refresh_rejected("the token's user no longer exists"))?;
    let pair = issue_pair(state, &mut tx, &user, row.family_id, meta).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revokes the refresh token's family. Idempotent for a token already revoked.
pub async fn logout(state: &AppState, req: RefreshRequest) -> Result<(), ApiError> {
    let claims = state
        .jwt
        .verify(&req.refresh_token, TokenType::Refresh)
        .map_err(|e| ApiError::unauthorized(e.code(), e.to_string()))?;
    let mut tx = state.db.begin().await?;
    let row = refresh_tokens::find(&mut tx, claims.jti)
        .await?
        .ok_or_else(|| refresh_rejected("this refresh token is not known"))?;
    refresh_tokens::revoke_family(&mut tx, row.family_id, "logout", state.now()).await?;
    tx.commit().await?;
    Ok(())
}

pub fn me(p: &Principal) -> Me {
    Me {
        id: p.user_id,
        email: p.email.clone(),
        full_name: p.full_name.clone(),
        role: p.role,
        organization_id: p.home_org.as_uuid(),
        acting_organization_id: p.org.as_uuid(),
        permissions: crate::auth::permissions::MATRIX
            .iter()
            .filter(|(perm, _)| perm.granted_to(p.role))
            .map(|(perm, _)| perm.name())
            .collect(),
    }
}

impl From<crate::auth::password::PasswordError> for ApiError {
    fn from(e: crate::auth::password::PasswordError) -> Self {
        ApiError::internal(e)
    }
}
