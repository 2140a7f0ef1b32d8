//! Organizations: a super_admin manages all of them; an org_admin reads and updates its own.

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::validate::is_slug;
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::organizations::{self, OrganizationRow};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    pub name: String,
    /// 2-63 lowercase letters, digits and dashes; unique.
    pub slug: String,
    /// IANA time zone, e.g. America/Sao_Paulo (default UTC).
    pub timezone: Option<String>,
    pub settings: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub timezone: Option<String>,
    pub settings: Option<Value>,
    /// super_admin only.
    pub is_active: Option<bool>,
}

fn check_common(
    e: &mut FieldErrors,
    name: Option<&str>,
    slug: Option<&str>,
    tz: Option<&str>,
    settings: Option<&Value>,
) {
    e.opt_text("name", name, 1, 200);
    if let Some(slug) = slug {
        e.check(is_slug(slug), "slug", "must be 2-63 lowercase letters, digits and dashes");
    }
    if let Some(tz) = tz {
        e.check(tz.parse::<chrono_tz::Tz>().is_ok(), "timezone", "must be an IANA time zone such as Europe/Lisbon");
    }
    if let Some(s) = settings {
        e.check(s.is_object(), "settings", "must be a JSON object");
    }
}

impl Validate for CreateOrganization {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", &self.name, 1, 200);
        check_common(&mut e, None, Some(&self.slug), self.timezone.as_deref(), self.settings.as_ref());
        e.finish()
    }
}

impl Validate for UpdateOrganization {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        check_common(
            &mut e,
            self.name.as_deref(),
            self.slug.as_deref(),
            self.timezone.as_deref(),
            self.settings.as_ref(),
        );
        e.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub timezone: String,
    pub settings: Value,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&OrganizationRow> for OrganizationView {
    fn from(o: &OrganizationRow) -> Self {
        OrganizationView {
            id: o.id,
            name: o.name.clone(),
            slug: o.slug.clone(),
            timezone: o.timezone.clone(),
            settings: o.settings.0.clone(),
            is_active: o.is_active,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

fn slug_taken() -> ApiError {
    ApiError::conflict("slug_taken", "an organization with this slug already exists")
}

/// Builds a new organization row (used by the API and by the first-start bootstrap).
pub fn new_row(
    name: &str,
    slug: &str,
    timezone: Option<&str>,
    settings: Option<Value>,
    now: DateTime<Utc>,
) -> OrganizationRow {
    OrganizationRow {
        id: Uuid::now_v7(),
        name: name.trim().to_string(),
        slug: slug.to_string(),
        timezone: timezone.unwrap_or("UTC").to_string(),
        settings: Json(settings.unwrap_or_else(|| serde_json::json!({}))),
        is_active: true,
        created_at: now,
        updated_at: now,
    }
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateOrganization,
) -> Result<OrganizationView, ApiError> {
    p.require(Permission::OrganizationsManage)?;
    let now = state.now();
    let row = new_row(&req.name, &req.slug, req.timezone.as_deref(), req.settings, now);
    let view = OrganizationView::from(&row);
    let mut tx = state.db.begin().await?;
    match organizations::insert(&mut tx, &row).await {
        Err(e) if e.is_unique_violation() => return Err(slug_taken()),
        other => other?,
    }
    audit::record(
        &mut tx,
        Some(row.id),
        Some(p),
        meta,
        Change::new("organization.created", "organization", row.id).after(&view),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(view)
}

pub async fn list(state: &AppState, p: &Principal, q: ListQuery) -> Result<Page<OrganizationView>, ApiError> {
    p.require(Permission::OrganizationsManage)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = organizations::list(&mut c, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |o| o.id).map(|o| OrganizationView::from(&o)))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<OrganizationView, ApiError> {
    p.require(Permission::OrganizationsManage)?;
    let mut c = state.db.conn().await?;
    let row = organizations::get_by_id(&mut c, id).await?.ok_or(ApiError::NotFound("organization"))?;
    Ok(OrganizationView::from(&row))
}

pub async fn get_own(state: &AppState, p: &Principal) -> Result<OrganizationView, ApiError> {
    p.require(Permission::OrganizationRead)?;
    let mut c = state.db.conn().await?;
    let row = organizations::get_own(&mut c, p.org).await?.ok_or(ApiError::NotFound("organization"))?;
    Ok(OrganizationView::from(&row))
}

async fn apply_update(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateOrganization,
) -> Result<OrganizationView, ApiError> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let before = organizations::get_by_id(&mut tx, id).await?.ok_or(ApiError::NotFound("organization"))?;
    let mut after = before.clone();
    if let Some(name) = &req.name {
        after.name = name.trim().to_string();
    }
    if let Some(slug) = req.slug {
        after.slug = slug;
    }
    if let Some(tz) = req.timezone {
        after.timezone = tz;
    }
    if let Some(settings) = req.settings {
        after.settings = Json(settings);
    }
    if let Some(active) = req.is_active {
        if id == p.home_org.as_uuid() && !active {
            return Err(ApiError::field("is_active", "you cannot deactivate your own organization"));
        }
        after.is_active = active;
    }
    after.updated_at = now;
    match organizations::update(&mut tx, &after).await {
        Err(e) if e.is_unique_violation() => return Err(slug_taken()),
        other => {
            other?;
        }
    }
    let (b, a) = (OrganizationView::from(&before), OrganizationView::from(&after));
    audit::record(
        &mut tx,
        Some(id),
        Some(p),
        meta,
        Change::new("organization.updated", "organization", id).before(&b).after(&a),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(a)
}

pub async fn update(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateOrganization,
) -> Result<OrganizationView, ApiError> {
    p.require(Permission::OrganizationsManage)?;
    apply_update(state, p, meta, id, req).await
}

pub async fn update_own(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: UpdateOrganization,
) -> Result<OrganizationView, ApiError> {
    p.require(Permission::OrganizationUpdate)?;
    if req.is_active.is_some() && !p.is_super_admin() {
        return Err(ApiError::forbidden("only a super_admin may activate or deactivate an organization"));
    }
    apply_update(state, p, meta, p.org.as_uuid(), req).await
}

pub async fn delete(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::OrganizationsManage)?;
    if id == p.home_org.as_uuid() {
        return Err(ApiError::conflict("own_organization", "you cannot delete your own organization"));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let before = organizations::get_by_id(&mut tx, id).await?.ok_or(ApiError::NotFound("organization"))?;
    organizations::soft_delete(&mut tx, id, now).await?;
    audit::record(
        &mut tx,
        Some(id),
        Some(p),
        meta,
        Change::new("organization.deleted", "organization", id).before(&OrganizationView::from(&before)),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(())
}
