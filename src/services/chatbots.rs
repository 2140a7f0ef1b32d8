//! Chatbots: which flow answers on which numbers, and when (keywords, default, fallback).

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::chatbots::{self, ChatbotRow};
use crate::repo::numbers::{self, Reference};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// A new conversation whose first message is (or contains as a word) one of these starts this
    /// chatbot's main flow.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Answer when no keyword matched (after the number's own default flow and chatbot).
    #[serde(default)]
    pub default: bool,
    /// Used when the main flow cannot run.
    #[serde(default)]
    pub fallback: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChatbot {
    pub name: String,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    #[serde(default)]
    pub number_ids: Vec<Uuid>,
    #[serde(default)]
    pub triggers: Triggers,
    pub main_flow_id: Option<Uuid>,
    pub fallback_flow_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChatbot {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    pub number_ids: Option<Vec<Uuid>>,
    pub triggers: Option<Triggers>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub main_flow_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub fallback_flow_id: Option<Option<Uuid>>,
}

fn check_triggers(e: &mut FieldErrors, t: Option<&Triggers>) {
    if let Some(t) = t {
        e.check(t.keywords.len() <= 100, "triggers.keywords", "at most 100 keywords");
        for (i, k) in t.keywords.iter().enumerate() {
            e.text(&format!("triggers.keywords[{i}]"), k, 1, 64);
        }
    }
}

impl Validate for CreateChatbot {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", &self.name, 1, 200);
        check_triggers(&mut e, Some(&self.triggers));
        e.finish()
    }
}

impl Validate for UpdateChatbot {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.opt_text("name", self.name.as_deref(), 1, 200);
        check_triggers(&mut e, self.triggers.as_ref());
        e.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatbotView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub number_ids: Vec<Uuid>,
    pub triggers: Triggers,
    pub main_flow_id: Option<Uuid>,
    pub fallback_flow_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(row: &ChatbotRow, number_ids: Vec<Uuid>) -> ChatbotView {
    ChatbotView {
        id: row.id,
        name: row.name.clone(),
        description: row.description.clone(),
        is_active: row.is_active,
        number_ids,
        triggers: serde_json::from_value(row.triggers.0.clone()).unwrap_or_default(),
        main_flow_id: row.main_flow_id,
        fallback_flow_id: row.fallback_flow_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn check_refs(
    state: &AppState,
    org: OrgId,
    numbers_: &[Uuid],
    flows: &[(&str, Option<Uuid>)],
) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    let mut e = FieldErrors::default();
    for (i, n) in numbers_.iter().enumerate() {
        if !numbers::reference_exists(&mut c, org, Reference::Number, *n).await? {
            e.add(&format!("number_ids[{i}]"), "does not exist in this organization");
        }
    }
    for (field, id) in flows {
        if let Some(id) = id
            && !numbers::reference_exists(&mut c, org, Reference::Flow, *id).await?
        {
            e.add(field, "does not exist in this organization");
        }
    }
    e.into_result()
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateChatbot,
) -> Result<ChatbotView, ApiError> {
    p.require(Permission::FlowsManage)?;
    check_refs(
        state,
        p.org,
        &req.number_ids,
        &[("main_flow_id", req.main_flow_id), ("fallback_flow_id", req.fallback_flow_id)],
    )
    .await?;
    let now = state.now();
    let row = ChatbotRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        name: req.name.trim().to_string(),
        description: req.description,
        is_active: req.is_active.unwrap_or(true),
        triggers: Json(serde_json::to_value(&req.triggers).unwrap_or_else(|_| json!({}))),
        main_flow_id: req.main_flow_id,
        fallback_flow_id: req.fallback_flow_id,
        created_at: now,
        updated_at: now,
    };
    let mut numbers_ = req.number_ids.clone();
    numbers_.sort();
    numbers_.dedup();
    let mut tx = state.db.begin().await?;
    chatbots::insert(&mut tx, &row).await?;
    chatbots::set_numbers(&mut tx, p.org, row.id, &numbers_, now).await?;
    let v = view(&row, numbers_);
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("chatbot.created", "chatbot", row.id).after(&v),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(v)
}

pub async fn list(state: &AppState, p: &Principal, q: ListQuery) -> Result<Page<ChatbotView>, ApiError> {
    p.require(Permission::FlowsRead)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = chatbots::list(&mut c, p.org, q.after()?, limit).await?;
    let page = Page::from_rows(rows, limit, |b| b.id);
    let mut items = Vec::with_capacity(page.items.len());
    for row in &page.items {
        items.push(view(row, chatbots::numbers_of(&mut c, p.org, row.id).await?));
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

async fn load(state: &AppState, org: OrgId, id: Uuid) -> Result<(ChatbotRow, Vec<Uuid>), ApiError> {
    let mut c = state.db.conn().await?;
    let row = chatbots::get(&mut c, org, id).await?.ok_or(ApiError::NotFound("chatbot"))?;
    let numbers_ = chatbots::numbers_of(&mut c, org, id).await?;
    Ok((row, numbers_))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<ChatbotView, ApiError> {
    p.require(Permission::FlowsRead)?;
    let (row, numbers_) = load(state, p.org, id).await?;
    Ok(view(&row, numbers_))
}

pub async fn update(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateChatbot,
) -> Result<ChatbotView, ApiError> {
    p.require(Permission::FlowsManage)?;
    let (before, before_numbers) = load(state, p.org, id).await?;
    check_refs(
        state,
        p.org,
        req.number_ids.as_deref().unwrap_or(&[]),
        &[("main_flow_id", req.main_flow_id.flatten()), ("fallback_flow_id", req.fallback_flow_id.flatten())],
    )
    .await?;
    let mut after = before.clone();
    if let Some(n) = &req.name {
        after.name = n.trim().to_string();
    }
    if let Some(d) = req.description {
        after.description = Some(d);
    }
    if let Some(a) = req.is_active {
        after.is_active = a;
    }
    if let Some(t) = &req.triggers {
        after.triggers = Json(serde_json::to_value(t).unwrap_or_else(|_| json!({})));
    }
    if let Some(m) = req.main_flow_id {
        after.main_flow_id = m;
    }
    if let Some(f) = req.fallback_flow_id {
        after.fallback_flow_id = f;
    }
    let now = state.now();
    after.updated_at = now;
    let numbers_ = match req.number_ids {
        Some(mut n) => {
            n.sort();
            n.dedup();
            n
        }
        None => before_numbers.clone(),
    };
    let mut tx = state.db.begin().await?;
    chatbots::update(&mut tx, p.org, &after).await?;
    chatbots::set_numbers(&mut tx, p.org, id, &numbers_, now).await?;
    let (b, a) = (view(&before, before_numbers), view(&after, numbers_));
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("chatbot.updated", "chatbot", id).before(&b).after(&a),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(a)
}

pub async fn delete(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::FlowsManage)?;
    let (before, numbers_) = load(state, p.org, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    chatbots::soft_delete(&mut tx, p.org, id, now).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("chatbot.deleted", "chatbot", id).before(&view(&before, numbers_)),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(())
}
