//! Contacts: the people who write to the organization. Create, edit, delete (soft), search by text
//! or tag, custom attributes, tags, block (messages are stored but no bot or agent is notified),
//! VIP and opt-in/opt-out (campaigns skip opted-out contacts).

use crate::auth::{Permission, Principal};
use crate::db::like_contains;
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::contacts::{self, ContactFilter, ContactRow};
use crate::repo::tags;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactListQuery {
    /// Exact WhatsApp id.
    pub wa_id: Option<String>,
    /// Substring of the name, profile name, wa_id, phone or email (case-insensitive).
    pub query: Option<String>,
    /// Contacts with this tag.
    pub tag: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub wa_id: String,
    pub name: Option<String>,
    pub profile_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub lifecycle_stage: Option<String>,
    pub is_blocked: bool,
    pub blocked_reason: Option<String>,
    pub is_vip: bool,
    pub opt_in: bool,
    pub opt_in_at: Option<DateTime<Utc>>,
    pub opt_out_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ContactRow> for ContactView {
    fn from(c: ContactRow) -> Self {
        ContactView {
            id: c.id,
            wa_id: c.wa_id,
            name: c.name,
            profile_name: c.profile_name,
            email: c.email,
            phone: c.phone,
            company: c.company,
            attributes: c.attributes.0,
            lifecycle_stage: c.lifecycle_stage,
            is_blocked: c.is_blocked,
            blocked_reason: c.blocked_reason,
            is_vip: c.is_vip,
            opt_in: c.opt_in,
            opt_in_at: c.opt_in_at,
            opt_out_at: c.opt_out_at,
            last_inbound_at: c.last_inbound_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

pub async fn list(state: &AppState, p: &Principal, q: ContactListQuery) -> Result<Page<ContactView>, ApiError> {
    p.require(Permission::ContactsRead)?;
    let page = ListQuery { limit: q.limit, cursor: q.cursor.clone() };
    let limit = page.limit()?;
    let pattern = q.query.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(like_contains);
    if pattern.as_ref().is_some_and(|p| p.len() > 202) {
        return Err(ApiError::field("query", "must be at most 200 characters"));
    }
    let filter = ContactFilter { wa_id: q.wa_id.as_deref(), search: pattern.as_deref(), tag: q.tag.as_deref() };
    let mut c = state.db.conn().await?;
    let rows = contacts::list(&mut c, p.org, &filter, page.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |r| r.id).map(ContactView::from))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<ContactView, ApiError> {
    p.require(Permission::ContactsRead)?;
    let mut c = state.db.conn().await?;
    Ok(contacts::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("contact"))?.into())
}

/// A WhatsApp id: the number in international form, digits only.
fn check_wa_id(e: &mut FieldErrors, wa_id: &str) {
    e.check(
        (6..=20).contains(&wa_id.len()) && wa_id.bytes().all(|b| b.is_ascii_digit()),
        "wa_id",
        "must be the number in international form, 6-20 digits (e.g. 5511999990000)",
    );
}

fn check_attributes(e: &mut FieldErrors, attributes: Option<&Value>) {
    if let Some(a) = attributes {
        match a.as_object() {
            Some(m) => {
                e.check(m.len() <= 100, "attributes", "at most 100 attributes");
                e.check(a.to_string().len() <= 16_384, "attributes", "at most 16 KiB");
            }
            None => e.add("attributes", "must be an object"),
        }
    }
}

fn check_email(e: &mut FieldErrors, email: Option<&str>) {
    if let Some(m) = email {
        e.check(crate::http::validate::is_email(m), "email", "is not an email address");
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub wa_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    pub lifecycle_stage: Option<String>,
    pub is_vip: Option<bool>,
    pub opt_in: Option<bool>,
}

impl Validate for CreateContact {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        check_wa_id(&mut e, &self.wa_id);
        e.opt_text("name", self.name.as_deref(), 1, 200);
        check_email(&mut e, self.email.as_deref());
        e.opt_text("phone", self.phone.as_deref(), 3, 32);
        e.opt_text("company", self.company.as_deref(), 1, 200);
        e.opt_text("lifecycle_stage", self.lifecycle_stage.as_deref(), 1, 50);
        check_attributes(&mut e, self.attributes.as_ref());
        e.finish()
    }
}

/// An absent field is kept; `null` clears it. `attributes` replaces them all.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<String>)]
    pub lifecycle_stage: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    pub is_vip: Option<bool>,
    /// true: opted in (now); false: opted out (now).
    pub opt_in: Option<bool>,
}

impl Validate for UpdateContact {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.opt_text("name", self.name.clone().flatten().as_deref(), 1, 200);
        check_email(&mut e, self.email.clone().flatten().as_deref());
        e.opt_text("phone", self.phone.clone().flatten().as_deref(), 3, 32);
        e.opt_text("company", self.company.clone().flatten().as_deref(), 1, 200);
        e.opt_text("lifecycle_stage", self.lifecycle_stage.clone().flatten().as_deref(), 1, 50);
        check_attributes(&mut e, self.attributes.as_ref());
        e.finish()
    }
}

pub async fn create(state: &AppState, p: &Principal, req: CreateContact) -> Result<ContactView, ApiError> {
    p.require(Permission::ContactsWrite)?;
    let now = state.now();
    let opt_in = req.opt_in.unwrap_or(false);
    let row = ContactRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        wa_id: req.wa_id.clone(),
        name: req.name,
        profile_name: None,
        email: req.email,
        phone: req.phone,
        company: req.company,
        attributes: Json(req.attributes.unwrap_or_else(|| json!({}))),
        lifecycle_stage: Some(req.lifecycle_stage.unwrap_or_else(|| "lead".into())),
        is_blocked: false,
        blocked_reason: None,
        is_vip: req.is_vip.unwrap_or(false),
        opt_in,
        opt_in_at: opt_in.then_some(now),
        opt_out_at: None,
        last_inbound_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut c = state.db.conn().await?;
    if !contacts::insert_manual(&mut c, p.org, &row, now).await? {
        return Err(ApiError::conflict("contact_exists", "a contact with this wa_id already exists"));
    }
    let stored = contacts::find_by_wa_id(&mut c, p.org, &row.wa_id).await?.ok_or(ApiError::NotFound("contact"))?;
    Ok(stored.into())
}

async fn load(state: &AppState, p: &Principal, id: Uuid) -> Result<ContactRow, ApiError> {
    let mut c = state.db.conn().await?;
    contacts::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("contact"))
}

/// Applies `change` and stores the contact.
async fn edit(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    change: impl FnOnce(&mut ContactRow, DateTime<Utc>),
) -> Result<ContactView, ApiError> {
    p.require(Permission::ContactsWrite)?;
    let mut row = load(state, p, id).await?;
    let now = state.now();
    change(&mut row, now);
    row.updated_at = now;
    let mut tx = state.db.begin().await?;
    if !contacts::update(&mut tx, p.org, &row, now).await? {
        return Err(ApiError::NotFound("contact"));
    }
    crate::repo::conversations::touch_for_contact(&mut tx, p.org, id, now).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn update(state: &AppState, p: &Principal, id: Uuid, req: UpdateContact) -> Result<ContactView, ApiError> {
    edit(state, p, id, |r, now| {
        if let Some(v) = req.name {
            r.name = v;
        }
        if let Some(v) = req.email {
            r.email = v;
        }
        if let Some(v) = req.phone {
            r.phone = v;
        }
        if let Some(v) = req.company {
            r.company = v;
        }
        if let Some(v) = req.lifecycle_stage {
            r.lifecycle_stage = v;
        }
        if let Some(v) = req.attributes {
            r.attributes = Json(v);
        }
        if let Some(v) = req.is_vip {
            r.is_vip = v;
        }
        match req.opt_in {
            Some(true) if !r.opt_in => {
                r.opt_in = true;
                r.opt_in_at = Some(now);
            }
            Some(false) if r.opt_in || r.opt_out_at.is_none() => {
                r.opt_in = false;
                r.opt_out_at = Some(now);
            }
            _ => {}
        }
    })
    .await
}

/// Blocks a contact: their messages are still stored, but no bot answers and no agent is notified.
pub async fn block(state: &AppState, p: &Principal, id: Uuid, reason: Option<String>) -> Result<ContactView, ApiError> {
    if let Some(r) = &reason {
        let mut e = FieldErrors::default();
        e.text("reason", r, 1, 500);
        e.into_result()?;
    }
    edit(state, p, id, |r, _| {
        r.is_blocked = true;
        r.blocked_reason = reason;
    })
    .await
}

pub async fn unblock(state: &AppState, p: &Principal, id: Uuid) -> Result<ContactView, ApiError> {
    edit(state, p, id, |r, _| {
        r.is_blocked = false;
        r.blocked_reason = None;
    })
    .await
}

pub async fn delete(state: &AppState, p: &Principal, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::ContactsWrite)?;
    let mut c = state.db.conn().await?;
    if !contacts::soft_delete(&mut c, p.org, id, state.now()).await? {
        return Err(ApiError::NotFound("contact"));
    }
    Ok(())
}

pub async fn tags_of(state: &AppState, p: &Principal, id: Uuid) -> Result<Vec<String>, ApiError> {
    p.require(Permission::ContactsRead)?;
    load(state, p, id).await?;
    let mut c = state.db.conn().await?;
    Ok(contacts::tags_of(&mut c, p.org, id).await?)
}

pub async fn add_tag(state: &AppState, p: &Principal, id: Uuid, name: &str) -> Result<Vec<String>, ApiError> {
    p.require(Permission::ContactsWrite)?;
    let name = name.trim();
    let mut e = FieldErrors::default();
    e.text("name", name, 1, 50);
    e.into_result()?;
    load(state, p, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let tag = tags::ensure(&mut tx, p.org, name, now).await?;
    contacts::tag(&mut tx, p.org, id, tag, now).await?;
    let list = contacts::tags_of(&mut tx, p.org, id).await?;
    tx.commit().await?;
    Ok(list)
}

pub async fn remove_tag(state: &AppState, p: &Principal, id: Uuid, name: &str) -> Result<Vec<String>, ApiError> {
    p.require(Permission::ContactsWrite)?;
    load(state, p, id).await?;
    let mut c = state.db.conn().await?;
    if !contacts::untag(&mut c, p.org, id, name).await? {
        return Err(ApiError::NotFound("tag"));
    }
    Ok(contacts::tags_of(&mut c, p.org, id).await?)
}
