//! The organization's small catalogs: tags (`/api/v1/tags`, with usage counts), canned responses
//! (`/api/v1/canned-responses`, a shortcut and a text with `{{variables}}`), and reading the audit
//! log (`/api/v1/audit`).

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::audit::{AuditFilter, AuditRow};
use crate::repo::canned::{self, CannedRow};
use crate::repo::tags::{self, TagRow};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// ---- Tags -----------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub id: Uuid,
    pub name: String,
    pub color: Option<String>,
    /// Contacts and conversations carrying it.
    pub contacts: i64,
    pub conversations: i64,
    pub created_at: DateTime<Utc>,
}

impl From<TagRow> for TagView {
    fn from(t: TagRow) -> Self {
        TagView {
            id: t.id,
            name: t.name,
            color: t.color,
            contacts: t.contacts,
            conversations: t.conversations,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    pub name: String,
    /// `#rrggbb`.
    pub color: Option<String>,
}

impl Validate for TagSpec {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", self.name.trim(), 1, 50);
        if let Some(c) = &self.color {
            e.check(
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()),
                "color",
                "must be #rrggbb",
            );
        }
        e.finish()
    }
}

pub async fn list_tags(state: &AppState, p: &Principal, q: ListQuery) -> Result<Page<TagView>, ApiError> {
    p.require(Permission::ContactsRead)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = tags::list(&mut c, p.org, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |t| t.id).map(TagView::from))
}

/// Creates a tag, or returns the existing one of that name.
pub async fn create_tag(state: &AppState, p: &Principal, req: TagSpec) -> Result<TagView, ApiError> {
    p.require(Permission::ContactsWrite)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = tags::ensure(&mut tx, p.org, req.name.trim(), now).await?;
    if req.color.is_some() {
        tags::update(&mut tx, p.org, id, req.name.trim(), req.color.as_deref(), now).await?;
    }
    let row = tags::get(&mut tx, p.org, id).await?.ok_or(ApiError::NotFound("tag"))?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn update_tag(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: TagSpec,
) -> Result<TagView, ApiError> {
    p.require(Permission::TagsManage)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let before = tags::get(&mut tx, p.org, id).await?.ok_or(ApiError::NotFound("tag"))?;
    if !tags::update(&mut tx, p.org, id, req.name.trim(), req.color.as_deref(), now).await? {
        return Err(ApiError::conflict("tag_exists", "another tag already has this name"));
    }
    let after = tags::get(&mut tx, p.org, id).await?.ok_or(ApiError::NotFound("tag"))?;
    let (b, a) = (TagView::from(before), TagView::from(after));
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("tag.updated", "tag", id).before(&b).after(&a),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

/// Deletes a tag, taking it off every contact and conversation.
pub async fn delete_tag(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::TagsManage)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let before = tags::get(&mut tx, p.org, id).await?.ok_or(ApiError::NotFound("tag"))?;
    tags::delete(&mut tx, p.org, id).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("tag.deleted", "tag", id).before(&TagView::from(before)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---- Canned responses -------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedView {
    pub id: Uuid,
    /// Typed after `/` in the composer, e.g. `hours`.
    pub shortcut: String,
    pub title: Option<String>,
    /// May use `{{contact.name}}` and the other flow variables; the console fills them in.
    pub text: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CannedRow> for CannedView {
    fn from(r: CannedRow) -> Self {
        CannedView {
            id: r.id,
            shortcut: r.shortcut,
            title: r.title,
            text: r.text,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    pub shortcut: String,
    pub title: Option<String>,
    pub text: String,
}

impl Validate for CannedBody {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.check(
            (1..=32).contains(&self.shortcut.len())
                && self
                    .shortcut
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'),
            "shortcut",
            "1-32 characters: lowercase letters, digits, - and _",
        );
        e.opt_text("title", self.title.as_deref(), 1, 200);
        e.text("text", &self.text, 1, 4096);
        e.finish()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CannedQuery {
    /// Shortcuts starting with this.
    pub prefix: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub async fn list_canned(state: &AppState, p: &Principal, q: CannedQuery) -> Result<Page<CannedView>, ApiError> {
    p.require(Permission::CannedResponsesRead)?;
    let page = ListQuery { limit: q.limit, cursor: q.cursor };
    let limit = page.limit()?;
    let prefix = q.prefix.as_deref().map(|x| {
        let mut pattern = crate::db::like_contains(x);
        pattern.remove(0); // a prefix, not a substring
        pattern
    });
    let mut c = state.db.conn().await?;
    let rows = canned::list(&mut c, p.org, prefix.as_deref(), page.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |r| r.id).map(CannedView::from))
}

pub async fn get_canned(state: &AppState, p: &Principal, id: Uuid) -> Result<CannedView, ApiError> {
    p.require(Permission::CannedResponsesRead)?;
    let mut c = state.db.conn().await?;
    Ok(canned::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("canned response"))?.into())
}

fn shortcut_taken() -> ApiError {
    ApiError::conflict("shortcut_exists", "another canned response already has this shortcut")
}

pub async fn create_canned(state: &AppState, p: &Principal, req: CannedBody) -> Result<CannedView, ApiError> {
    p.require(Permission::CannedResponsesManage)?;
    let now = state.now();
    let row = CannedRow {
        id: Uuid::now_v7(),
        shortcut: req.shortcut,
        title: req.title,
        text: req.text,
        created_by: Some(p.user_id),
        created_at: now,
        updated_at: now,
    };
    let mut c = state.db.conn().await?;
    if !canned::insert(&mut c, p.org, &row).await? {
        return Err(shortcut_taken());
    }
    Ok(row.into())
}

pub async fn update_canned(state: &AppState, p: &Principal, id: Uuid, req: CannedBody) -> Result<CannedView, ApiError> {
    p.require(Permission::CannedResponsesManage)?;
    let mut c = state.db.conn().await?;
    let mut row = canned::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("canned response"))?;
    row.shortcut = req.shortcut;
    row.title = req.title;
    row.text = req.text;
    row.updated_at = state.now();
    match canned::update(&mut c, p.org, &row).await? {
        Some(true) => Ok(row.into()),
        Some(false) => Err(ApiError::NotFound("canned response")),
        None => Err(shortcut_taken()),
    }
}

pub async fn delete_canned(state: &AppState, p: &Principal, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::CannedResponsesManage)?;
    let mut c = state.db.conn().await?;
    if !canned::soft_delete(&mut c, p.org, id, state.now()).await? {
        return Err(ApiError::NotFound("canned response"));
    }
    Ok(())
}

// ---- Audit log ----------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    /// e.g. `user.created`, `number.updated`, `flow.published`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    /// Snapshots with secrets redacted.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditView {
    fn from(a: AuditRow) -> Self {
        AuditView {
            id: a.id,
            actor_user_id: a.actor_user_id,
            action: a.action,
            entity_type: a.entity_type,
            entity_id: a.entity_id,
            before: a.before_state.map(|j| j.0),
            after: a.after_state.map(|j| j.0),
            ip: a.ip,
            request_id: a.request_id,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// e.g. `user`, `whatsapp_number`, `flow`, `queue`.
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    /// Who made the change.
    pub actor_user_id: Option<Uuid>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The organization's audit entries, newest first.
pub async fn list_audit(state: &AppState, p: &Principal, q: AuditQuery) -> Result<Page<AuditView>, ApiError> {
    p.require(Permission::AuditRead)?;
    let page = ListQuery { limit: q.limit, cursor: q.cursor };
    let limit = page.limit()?;
    let filter =
        AuditFilter { entity_type: q.entity_type.as_deref(), entity_id: q.entity_id, actor_user_id: q.actor_user_id };
    let mut c = state.db.conn().await?;
    let rows = crate::repo::audit::list(&mut c, p.org, &filter, page.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |a| a.id).map(AuditView::from))
}
