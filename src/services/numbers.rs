//! WhatsApp numbers of an organization. Tokens and secrets are write-only: encrypted at rest with
//! Fernet, never returned (only `has_*` flags), never logged, redacted from audit entries. A
//! `phone_number_id` belongs to one organization only.

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::crypto::sha256_hex;
use crate::http::optional::nullable;
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::numbers::{self, NumberRow, Reference};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const DEFAULT_MESSAGES_PER_SECOND: i32 = 80;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNumber {
    /// Meta's stable id of the number (the webhook routes by it).
    pub phone_number_id: String,
    pub waba_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub display_name: Option<String>,
    /// Graph API token (write-only).
    pub access_token: Option<String>,
    /// The Meta app secret that signs this number's webhooks (write-only).
    pub app_secret: Option<String>,
    /// The token Meta's handshake must present (write-only; see `/webhook-setup`).
    pub verify_token: Option<String>,
    pub default_chatbot_id: Option<Uuid>,
    pub default_flow_id: Option<Uuid>,
    pub default_department_id: Option<Uuid>,
    /// Outbound throughput limit (default 80, Meta's standard tier).
    pub messages_per_second: Option<i32>,
}

/// Absent keeps a field, `null` clears it, a value sets it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNumber {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub waba_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub display_phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub access_token: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub app_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub verify_token: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub default_chatbot_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub default_flow_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub default_department_id: Option<Option<Uuid>>,
    pub messages_per_second: Option<i32>,
}

fn check_secret(e: &mut FieldErrors, field: &str, v: Option<&str>) {
    if let Some(v) = v {
        e.check(
            !v.trim().is_empty() && v.len() <= 4096 && !v.chars().any(char::is_control),
            field,
            "must be 1-4096 printable characters",
        );
    }
}

fn check_rate(e: &mut FieldErrors, v: Option<i32>) {
    if let Some(n) = v {
        e.check((1..=1000).contains(&n), "messages_per_second", "must be between 1 and 1000");
    }
}

impl Validate for CreateNumber {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.check(
            (1..=32).contains(&self.phone_number_id.len()) && self.phone_number_id.chars().all(|c| c.is_ascii_digit()),
            "phone_number_id",
            "must be Meta's numeric phone number id",
        );
        e.opt_text("waba_id", self.waba_id.as_deref(), 1, 64);
        e.opt_text("display_phone_number", self.display_phone_number.as_deref(), 1, 32);
        e.opt_text("display_name", self.display_name.as_deref(), 1, 200);
        check_secret(&mut e, "access_token", self.access_token.as_deref());
        check_secret(&mut e, "app_secret", self.app_secret.as_deref());
        check_secret(&mut e, "verify_token", self.verify_token.as_deref());
        check_rate(&mut e, self.messages_per_second);
        e.finish()
    }
}

impl Validate for UpdateNumber {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.opt_text("waba_id", self.waba_id.clone().flatten().as_deref(), 1, 64);
        e.opt_text("display_phone_number", self.display_phone_number.clone().flatten().as_deref(), 1, 32);
        e.opt_text("display_name", self.display_name.clone().flatten().as_deref(), 1, 200);
        check_secret(&mut e, "access_token", self.access_token.clone().flatten().as_deref());
        check_secret(&mut e, "app_secret", self.app_secret.clone().flatten().as_deref());
        check_secret(&mut e, "verify_token", self.verify_token.clone().flatten().as_deref());
        check_rate(&mut e, self.messages_per_second);
        e.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NumberView {
    pub id: Uuid,
    pub phone_number_id: String,
    pub waba_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub display_name: Option<String>,
    pub has_access_token: bool,
    pub has_app_secret: bool,
    pub has_verify_token: bool,
    pub default_chatbot_id: Option<Uuid>,
    pub default_flow_id: Option<Uuid>,
    pub default_department_id: Option<Uuid>,
    pub messages_per_second: i32,
    pub status: String,
    pub quality_rating: Option<String>,
    /// Set when Meta rejected the access token (error 190): sends are stopped until it is replaced.
    pub token_invalid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&NumberRow> for NumberView {
    fn from(n: &NumberRow) -> Self {
        NumberView {
            id: n.id,
            phone_number_id: n.phone_number_id.clone(),
            waba_id: n.waba_id.clone(),
            display_phone_number: n.display_phone_number.clone(),
            display_name: n.display_name.clone(),
            has_access_token: n.access_token_enc.is_some(),
            has_app_secret: n.app_secret_enc.is_some(),
            has_verify_token: n.verify_token_enc.is_some(),
            default_chatbot_id: n.default_chatbot_id,
            default_flow_id: n.default_flow_id,
            default_department_id: n.default_department_id,
            messages_per_second: n.messages_per_second,
            status: n.status.clone(),
            quality_rating: n.quality_rating.clone(),
            token_invalid_at: n.token_invalid_at,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// What to paste into Meta's dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSetup {
    pub callback_url: String,
    pub verify_token: Option<String>,
}

async fn check_references(
    state: &AppState,
    org: OrgId,
    chatbot: Option<Uuid>,
    flow: Option<Uuid>,
    department: Option<Uuid>,
) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    let mut e = FieldErrors::default();
    for (field, table, id) in [
        ("default_chatbot_id", Reference::Chatbot, chatbot),
        ("default_flow_id", Reference::Flow, flow),
        ("default_department_id", Reference::Department, department),
    ] {
        if let Some(id) = id
            && !numbers::reference_exists(&mut c, org, table, id).await?
        {
            e.add(field, "does not exist in this organization");
        }
    }
    e.into_result()
}

fn seal(state: &AppState, v: Option<&str>) -> Option<String> {
    v.map(|s| state.secrets.encrypt(s))
}

fn taken() -> ApiError {
    ApiError::conflict(
        "phone_number_id_taken",
        "this phone_number_id is already registered (it belongs to one organization only)",
    )
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateNumber,
) -> Result<NumberView, ApiError> {
    p.require(Permission::NumbersManage)?;
    check_references(state, p.org, req.default_chatbot_id, req.default_flow_id, req.default_department_id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let existing = numbers::find_by_phone_number_id(&mut tx, &req.phone_number_id).await?;
    let restoring = match &existing {
        Some(n) if n.deleted_at.is_some() && n.organization_id == p.org.as_uuid() => Some(n.id),
        Some(_) => return Err(taken()),
        None => None,
    };
    let row = NumberRow {
        id: restoring.unwrap_or_else(Uuid::now_v7),
        organization_id: p.org.as_uuid(),
        phone_number_id: req.phone_number_id.clone(),
        waba_id: req.waba_id,
        display_phone_number: req.display_phone_number,
        display_name: req.display_name,
        access_token_enc: seal(state, req.access_token.as_deref()),
        app_secret_enc: seal(state, req.app_secret.as_deref()),
        verify_token_enc: seal(state, req.verify_token.as_deref()),
        verify_token_hash: req.verify_token.as_deref().map(|t| sha256_hex(t.as_bytes())),
        default_chatbot_id: req.default_chatbot_id,
        default_flow_id: req.default_flow_id,
        default_department_id: req.default_department_id,
        messages_per_second: req.messages_per_second.unwrap_or(DEFAULT_MESSAGES_PER_SECOND),
        status: "active".into(),
        quality_rating: None,
        token_invalid_at: None,
        created_at: existing.as_ref().map_or(now, |n| n.created_at),
        updated_at: now,
        deleted_at: None,
    };
    if restoring.is_some() {
        numbers::update(&mut tx, p.org, &row).await?;
    } else {
        match numbers::insert(&mut tx, &row).await {
            Err(e) if e.is_unique_violation() => return Err(taken()),
            other => other?,
        }
    }
    let view = NumberView::from(&row);
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("number.created", "whatsapp_number", row.id).after(&view),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    state.numbers.invalidate(&row.phone_number_id);
    Ok(view)
}

pub async fn list(state: &AppState, p: &Principal, q: ListQuery) -> Result<Page<NumberView>, ApiError> {
    p.require(Permission::NumbersRead)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = numbers::list(&mut c, p.org, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |n| n.id).map(|n| NumberView::from(&n)))
}

async fn load(state: &AppState, org: OrgId, id: Uuid) -> Result<NumberRow, ApiError> {
    let mut c = state.db.conn().await?;
    numbers::get(&mut c, org, id).await?.ok_or(ApiError::NotFound("whatsapp number"))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<NumberView, ApiError> {
    p.require(Permission::NumbersRead)?;
    Ok(NumberView::from(&load(state, p.org, id).await?))
}

fn apply<T>(target: &mut Option<T>, change: Option<Option<T>>) {
    if let Some(v) = change {
        *target = v;
    }
}

pub async fn update(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateNumber,
) -> Result<NumberView, ApiError> {
    p.require(Permission::NumbersManage)?;
    let before = load(state, p.org, id).await?;
    check_references(
        state,
        p.org,
        req.default_chatbot_id.flatten(),
        req.default_flow_id.flatten(),
        req.default_department_id.flatten(),
    )
    .await?;
    let mut after = before.clone();
    let mut secrets_changed = Vec::new();
    apply(&mut after.waba_id, req.waba_id);
    apply(&mut after.display_phone_number, req.display_phone_number);
    apply(&mut after.display_name, req.display_name);
    apply(&mut after.default_chatbot_id, req.default_chatbot_id);
    apply(&mut after.default_flow_id, req.default_flow_id);
    apply(&mut after.default_department_id, req.default_department_id);
    if let Some(token) = req.access_token {
        after.access_token_enc = seal(state, token.as_deref());
        after.token_invalid_at = None;
        secrets_changed.push("access_token");
    }
    if let Some(secret) = req.app_secret {
        after.app_secret_enc = seal(state, secret.as_deref());
        secrets_changed.push("app_secret");
    }
    if let Some(token) = req.verify_token {
        after.verify_token_hash = token.as_deref().map(|t| sha256_hex(t.as_bytes()));
        after.verify_token_enc = seal(state, token.as_deref());
        secrets_changed.push("verify_token");
    }
    if let Some(n) = req.messages_per_second {
        after.messages_per_second = n;
    }
    let now = state.now();
    after.updated_at = now;
    let mut tx = state.db.begin().await?;
    if !numbers::update(&mut tx, p.org, &after).await? {
        return Err(ApiError::NotFound("whatsapp number"));
    }
    let (b, a) = (NumberView::from(&before), NumberView::from(&after));
    let mut change = Change::new("number.updated", "whatsapp_number", id).before(&b).after(&a);
    if let (Some(obj), false) = (change.after.as_mut().and_then(|v| v.as_object_mut()), secrets_changed.is_empty()) {
        obj.insert("secrets_changed".into(), serde_json::json!(secrets_changed));
    }
    audit::record(&mut tx, Some(p.org.as_uuid()), Some(p), meta, change, now).await?;
    tx.commit().await?;
    state.routing.invalidate();
    state.numbers.invalidate(&after.phone_number_id);
    Ok(a)
}

pub async fn delete(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::NumbersManage)?;
    let before = load(state, p.org, id).await?;
    let now = state.now();
    let mut after = before.clone();
    after.deleted_at = Some(now);
    after.updated_at = now;
    let mut tx = state.db.begin().await?;
    numbers::update(&mut tx, p.org, &after).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("number.deleted", "whatsapp_number", id).before(&NumberView::from(&before)),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    state.numbers.invalidate(&before.phone_number_id);
    Ok(())
}

/// The callback URL and verify token to paste into Meta's dashboard (org_admin; audited).
pub async fn webhook_setup(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    base_url: &str,
    id: Uuid,
) -> Result<WebhookSetup, ApiError> {
    p.require(Permission::NumbersManage)?;
    let row = load(state, p.org, id).await?;
    let verify_token = match &row.verify_token_enc {
        Some(enc) => Some(state.secrets.decrypt(enc).map_err(ApiError::internal)?),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("number.verify_token_viewed", "whatsapp_number", id),
        state.now(),
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(WebhookSetup { callback_url: format!("{}/api/v1/webhooks/meta", base_url.trim_end_matches('/')), verify_token })
}
