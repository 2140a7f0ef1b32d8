//! Users of an organization: create with a role, list, read, update, deactivate. An org_admin works
//! only in its own organization and can neither grant nor touch `super_admin`.

use super::audit::{self, Change};
use crate::auth::password::password_problem;
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::validate::is_email;
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::refresh_tokens;
use crate::repo::users::{self, UserFilter, UserRow};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pytake_actors::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const DEFAULT_MAX_CONVERSATIONS: i32 = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub full_name: String,
    #[schema(value_type = String, example = "agent")]
    pub role: Role,
    /// Honoured only for a super_admin; everyone else creates users in their own organization.
    pub organization_id: Option<Uuid>,
    /// Conversations the user may hold at once as an agent (default 10).
    pub max_concurrent_conversations: Option<i32>,
}

impl Validate for CreateUser {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.check(is_email(self.email.trim()), "email", "must be an email address");
        if let Some(problem) = password_problem(&self.password) {
            e.add("password", problem);
        }
        e.text("full_name", &self.full_name, 1, 200);
        if let Some(n) = self.max_concurrent_conversations {
            e.check((1..=1000).contains(&n), "max_concurrent_conversations", "must be between 1 and 1000");
        }
        e.finish()
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub full_name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password: Option<String>,
    pub max_concurrent_conversations: Option<i32>,
}

impl Validate for UpdateUser {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        if let Some(email) = &self.email {
            e.check(is_email(email.trim()), "email", "must be an email address");
        }
        e.opt_text("full_name", self.full_name.as_deref(), 1, 200);
        if let Some(problem) = self.password.as_deref().and_then(password_problem) {
            e.add("password", problem);
        }
        if let Some(n) = self.max_concurrent_conversations {
            e.check((1..=1000).contains(&n), "max_concurrent_conversations", "must be between 1 and 1000");
        }
        e.finish()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserListQuery {
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// super_admin only: list another organization's users.
    pub organization_id: Option<Uuid>,
    /// Items per page (1-200, default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl UserListQuery {
    fn page(&self) -> ListQuery {
        ListQuery { limit: self.limit, cursor: self.cursor.clone() }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: String,
    pub is_active: bool,
    pub agent_status: String,
    pub max_concurrent_conversations: i32,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        UserView {
            id: u.id,
            organization_id: u.organization_id,
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role.clone(),
            is_active: u.is_active,
            agent_status: u.agent_status.clone(),
            max_concurrent_conversations: u.max_concurrent_conversations,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

fn email_taken() -> ApiError {
    ApiError::conflict("email_taken", "a user with this email already exists")
}

/// Creates a user; shared by the API and `pytake admin create` (which passes no principal).
pub async fn create_in(
    state: &AppState,
    org: pytake_actors::OrgId,
    actor: Option<&Principal>,
    meta: &RequestMeta,
    req: CreateUser,
) -> Result<UserView, ApiError> {
    let now = state.now();
    let password_hash = state.passwords.hash(req.password).await?;
    let row = UserRow {
        id: Uuid::now_v7(),
        organization_id: org.as_uuid(),
        email: super::auth::normalize_email(&req.email),
        password_hash,
        full_name: req.full_name.trim().to_string(),
        role: req.role.as_str().to_string(),
        is_active: true,
        agent_status: "offline".into(),
        max_concurrent_conversations: req.max_concurrent_conversations.unwrap_or(DEFAULT_MAX_CONVERSATIONS),
        failed_login_attempts: 0,
        locked_until: None,
        last_login_at: None,
        created_at: now,
        updated_at: now,
    };
    let view = UserView::from(&row);
    let mut tx = state.db.begin().await?;
    match users::insert(&mut tx, &row).await {
        Err(e) if e.is_unique_violation() => return Err(email_taken()),
        other => other?,
    }
    audit::record(
        &mut tx,
        Some(org.as_uuid()),
        actor,
        meta,
        Change::new("user.created", "user", row.id).after(&view),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateUser,
) -> Result<UserView, ApiError> {
    p.require(Permission::UsersManage)?;
    if !p.role.may_grant(req.role) {
        return Err(ApiError::forbidden(format!("the {} role may not create a {}", p.role, req.role)));
    }
    let org = p.scoped_to(state, req.organization_id).await?;
    create_in(state, org, Some(p), meta, req).await
}

pub async fn list(state: &AppState, p: &Principal, q: UserListQuery) -> Result<Page<UserView>, ApiError> {
    p.require(Permission::UsersRead)?;
    let org = p.scoped_to(state, q.organization_id).await?;
    if let Some(role) = &q.role {
        role.parse::<Role>().map_err(|e| ApiError::field("role", e.to_string()))?;
    }
    let page = q.page();
    let limit = page.limit()?;
    let mut c = state.db.conn().await?;
    let filter = UserFilter { role: q.role.as_deref(), is_active: q.is_active };
    let rows = users::list(&mut c, org, &filter, page.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |u| u.id).map(|u| UserView::from(&u)))
}

async fn load(state: &AppState, p: &Principal, id: Uuid) -> Result<UserRow, ApiError> {
    let mut c = state.db.conn().await?;
    users::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("user"))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<UserView, ApiError> {
    p.require(Permission::UsersRead)?;
    Ok(UserView::from(&load(state, p, id).await?))
}

pub async fn update(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateUser,
) -> Result<UserView, ApiError> {
    p.require(Permission::UsersManage)?;
    let before = load(state, p, id).await?;
    let current_role: Role = before.role.parse().map_err(ApiError::internal)?;
    if !p.role.may_grant(current_role) {
        return Err(ApiError::forbidden(format!("the {} role may not modify a {}", p.role, current_role)));
    }
    if let Some(role) = req.role
        && !p.role.may_grant(role)
    {
        return Err(ApiError::forbidden(format!("the {} role may not grant {}", p.role, role)));
    }
    if id == p.user_id {
        if req.is_active == Some(false) {
            return Err(ApiError::field("is_active", "you cannot deactivate your own account"));
        }
        if req.role.is_some_and(|r| r != current_role) {
            return Err(ApiError::field("role", "you cannot change your own role"));
        }
    }
    let now = state.now();
    let mut after = before.clone();
    if let Some(email) = &req.email {
        after.email = super::auth::normalize_email(email);
    }
    if let Some(name) = &req.full_name {
        after.full_name = name.trim().to_string();
    }
    if let Some(role) = req.role {
        after.role = role.as_str().to_string();
    }
    if let Some(active) = req.is_active {
        after.is_active = active;
    }
    if let Some(n) = req.max_concurrent_conversations {
        after.max_concurrent_conversations = n;
    }
    let password_changed = req.password.is_some();
    if let Some(password) = req.password {
        after.password_hash = state.passwords.hash(password).await?;
        after.failed_login_attempts = 0;
        after.locked_until = None;
    }
    after.updated_at = now;
    let mut tx = state.db.begin().await?;
    match users::update(&mut tx, p.org, &after).await {
        Err(e) if e.is_unique_violation() => return Err(email_taken()),
        Ok(false) => return Err(ApiError::NotFound("user")),
        other => {
            other?;
        }
    }
    if password_changed || (before.is_active && !after.is_active) || before.role != after.role {
        refresh_tokens::revoke_user(&mut tx, id, "credentials_changed", now).await?;
    }
    let (before_view, after_view) = (UserView::from(&before), UserView::from(&after));
    let action = if before.is_active && !after.is_active { "user.deactivated" } else { "user.updated" };
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new(action, "user", id).before(&before_view).after(&after_view),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(after_view)
}

/// Deactivates a user (the account and its history stay; its sessions end).
pub async fn deactivate(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    update(state, p, meta, id, UpdateUser { is_active: Some(false), ..Default::default() }).await.map(|_| ())
}
