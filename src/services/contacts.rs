//! Reading contacts (the CRM issue adds the rest).

use crate::auth::{Permission, Principal};
use crate::db::like_contains;
use crate::http::ApiError;
use crate::http::pagination::{ListQuery, Page};
use crate::repo::contacts::{self, ContactFilter, ContactRow};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactListQuery {
    /// Exact WhatsApp id.
    pub wa_id: Option<String>,
    /// Substring of the name, profile name, wa_id, phone or email (case-insensitive).
    pub query: Option<String>,
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
    pub is_vip: bool,
    pub opt_in: bool,
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
            is_vip: c.is_vip,
            opt_in: c.opt_in,
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
    let filter = ContactFilter { wa_id: q.wa_id.as_deref(), search: pattern.as_deref() };
    let mut c = state.db.conn().await?;
    let rows = contacts::list(&mut c, p.org, &filter, page.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |r| r.id).map(ContactView::from))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<ContactView, ApiError> {
    p.require(Permission::ContactsRead)?;
    let mut c = state.db.conn().await?;
    Ok(contacts::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("contact"))?.into())
}
