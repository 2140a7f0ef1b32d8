//! Message templates of a WhatsApp number (`/api/v1/whatsapp/numbers/{id}/templates`): written
//! locally as drafts, submitted to Meta for review, synced back (status and quality), updated by
//! Meta's `message_template_status_update` webhooks, and checked before a template is sent
//! (approved, and the right parameters).

use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::numbers;
use crate::repo::templates::{self, TemplateRow};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;

const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Lowercase letters, digits and `_` (Meta's rule).
    pub name: String,
    /// e.g. `pt_BR`, `en_US`.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// Meta's components (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`); the body text holds `{{1}}` or
    /// `{{name}}` placeholders.
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    /// `positional` (default) or `named`.
    pub parameter_format: Option<String>,
}

impl Validate for TemplateBody {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.check(
            (1..=512).contains(&self.name.len())
                && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "name",
            "1-512 characters: lowercase letters, digits and _",
        );
        e.check(
            (2..=15).contains(&self.language.len())
                && self.language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_'),
            "language",
            "a language code such as pt_BR or en_US",
        );
        e.check(
            CATEGORIES.contains(&self.category.as_str()),
            "category",
            "must be MARKETING, UTILITY or AUTHENTICATION",
        );
        match self.components.as_array() {
            Some(list) if !list.is_empty() => {
                e.check(
                    list.iter().filter(|c| component_type(c) == "BODY").count() == 1,
                    "components",
                    "needs exactly one BODY component",
                );
            }
            _ => e.add("components", "must be a non-empty array of Meta template components"),
        }
        e.check(
            self.parameter_format.as_deref().is_none_or(|f| f == "positional" || f == "named"),
            "parameter_format",
            "must be positional or named",
        );
        e.finish()
    }
}

fn component_type(c: &Value) -> String {
    c["type"].as_str().unwrap_or("").to_ascii_uppercase()
}

/// The parameters a template's body takes (`1`, `2`.. or names), sorted.
pub fn parameter_names(components: &Value) -> Vec<String> {
    placeholders(components).into_iter().collect()
}

/// The placeholders of the template's body: `{{1}}`.. or `{{name}}`..
fn placeholders(components: &Value) -> BTreeSet<String> {
    let body = components
        .as_array()
        .and_then(|l| l.iter().find(|c| component_type(c) == "BODY"))
        .and_then(|c| c["text"].as_str())
        .unwrap_or("");
    let mut out = BTreeSet::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.insert(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub number_id: Uuid,
    pub name: String,
    pub language: String,
    pub category: String,
    /// `draft`, or Meta's review: `PENDING`, `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`.
    pub status: String,
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    pub parameter_format: String,
    /// The parameters a send must give: `["1", "2"]` or `["customer", "order"]`.
    pub parameters: Vec<String>,
    pub meta_template_id: Option<String>,
    pub quality_rating: Option<String>,
    pub rejected_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TemplateRow> for TemplateView {
    fn from(t: TemplateRow) -> Self {
        TemplateView {
            parameters: placeholders(&t.components.0).into_iter().collect(),
            id: t.id,
            number_id: t.number_id,
            name: t.name,
            language: t.language,
            category: t.category,
            status: t.status,
            components: t.components.0,
            parameter_format: t.parameter_format,
            meta_template_id: t.meta_template_id,
            quality_rating: t.quality_rating,
            rejected_reason: t.rejected_reason,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

async fn number_of(state: &AppState, org: OrgId, number: Uuid) -> Result<numbers::NumberRow, ApiError> {
    let mut c = state.db.conn().await?;
    numbers::get(&mut c, org, number).await?.ok_or(ApiError::NotFound("number"))
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    number: Uuid,
    req: TemplateBody,
) -> Result<TemplateView, ApiError> {
    p.require(Permission::TemplatesManage)?;
    number_of(state, p.org, number).await?;
    let now = state.now();
    let row = TemplateRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        number_id: number,
        name: req.name,
        language: req.language,
        category: req.category,
        status: "draft".into(),
        components: Json(req.components),
        parameter_format: req.parameter_format.unwrap_or_else(|| "positional".into()),
        meta_template_id: None,
        quality_rating: None,
        rejected_reason: None,
        created_at: now,
        updated_at: now,
    };
    let mut c = state.db.conn().await?;
    if !templates::insert(&mut c, &row).await? {
        return Err(ApiError::conflict(
            "template_exists",
            "this number already has a template with this name and language",
        ));
    }
    Ok(row.into())
}

pub async fn list(state: &AppState, p: &Principal, number: Uuid, q: ListQuery) -> Result<Page<TemplateView>, ApiError> {
    p.require(Permission::TemplatesRead)?;
    number_of(state, p.org, number).await?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = templates::list(&mut c, p.org, number, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |t| t.id).map(TemplateView::from))
}

async fn load(state: &AppState, org: OrgId, number: Uuid, id: Uuid) -> Result<TemplateRow, ApiError> {
    let mut c = state.db.conn().await?;
    templates::get(&mut c, org, number, id).await?.ok_or(ApiError::NotFound("template"))
}

pub async fn get(state: &AppState, p: &Principal, number: Uuid, id: Uuid) -> Result<TemplateView, ApiError> {
    p.require(Permission::TemplatesRead)?;
    Ok(load(state, p.org, number, id).await?.into())
}

/// Edits a draft or a rejected template (it becomes a draft again; submit it anew).
pub async fn update(
    state: &AppState,
    p: &Principal,
    number: Uuid,
    id: Uuid,
    req: TemplateBody,
) -> Result<TemplateView, ApiError> {
    p.require(Permission::TemplatesManage)?;
    let mut row = load(state, p.org, number, id).await?;
    if row.status != "draft" && row.status != "REJECTED" {
        return Err(ApiError::conflict("template_submitted", "only a draft or a rejected template can be edited"));
    }
    if req.name != row.name || req.language != row.language {
        return Err(ApiError::field("name", "the name and language of a template cannot change; create another"));
    }
    row.category = req.category;
    row.components = Json(req.components);
    row.parameter_format = req.parameter_format.unwrap_or(row.parameter_format);
    row.status = "draft".into();
    row.rejected_reason = None;
    row.updated_at = state.now();
    let mut c = state.db.conn().await?;
    templates::update(&mut c, p.org, &row).await?;
    Ok(row.into())
}

/// Deletes the local template (Meta keeps its copy; delete it in Meta's manager if wanted).
pub async fn delete(state: &AppState, p: &Principal, number: Uuid, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::TemplatesManage)?;
    load(state, p.org, number, id).await?;
    let mut c = state.db.conn().await?;
    templates::soft_delete(&mut c, p.org, id, state.now()).await?;
    Ok(())
}

/// The number's WABA and access token, for Graph management calls.
async fn graph_access(state: &AppState, org: OrgId, number: Uuid) -> Result<(String, String), ApiError> {
    let row = number_of(state, org, number).await?;
    let waba = row.waba_id.clone().ok_or_else(|| {
        ApiError::conflict("number_not_configured", "this number has no waba_id; set it before working with templates")
    })?;
    let info = state.numbers.sending(org, number).await?.ok_or(ApiError::NotFound("number"))?;
    let token = info.access_token.clone().ok_or_else(|| {
        ApiError::conflict(
            "number_not_configured",
            "this number has no access token; set one before working with templates",
        )
    })?;
    Ok((waba, token))
}

fn graph_error(e: crate::outbound::graph::SendError) -> ApiError {
    match e {
        crate::outbound::graph::SendError::Graph(g) => ApiError::Unprocessable {
            code: "meta_rejected",
            message: format!("Meta refused it: {}", g.title),
            details: json!({"meta_code": g.code, "details": g.details}),
        },
        crate::outbound::graph::SendError::Transport(t) => {
            tracing::warn!(error = %t, "Graph API call failed");
            ApiError::Unavailable("graph_api")
        }
    }
}

/// Submits a draft to Meta for review.
pub async fn submit(state: &AppState, p: &Principal, number: Uuid, id: Uuid) -> Result<TemplateView, ApiError> {
    p.require(Permission::TemplatesManage)?;
    let mut row = load(state, p.org, number, id).await?;
    if row.status != "draft" {
        return Err(ApiError::conflict("template_submitted", "this template was already submitted"));
    }
    let (waba, token) = graph_access(state, p.org, number).await?;
    let body = json!({"name": row.name, "language": row.language, "category": row.category,
                      "components": row.components.0, "parameter_format": row.parameter_format.to_uppercase()});
    let answer = state.graph.create_template(&waba, &token, &body).await.map_err(graph_error)?;
    row.meta_template_id = answer["id"].as_str().map(String::from);
    row.status = answer["status"].as_str().unwrap_or("PENDING").to_string();
    row.updated_at = state.now();
    let mut c = state.db.conn().await?;
    templates::update(&mut c, p.org, &row).await?;
    Ok(row.into())
}

/// Pulls the WABA's templates from Meta: statuses and quality of ours are refreshed, templates
/// made elsewhere (Meta's manager) are added.
pub async fn sync(state: &AppState, p: &Principal, number: Uuid) -> Result<Vec<TemplateView>, ApiError> {
    p.require(Permission::TemplatesManage)?;
    let (waba, token) = graph_access(state, p.org, number).await?;
    let answer = state.graph.list_templates(&waba, &token).await.map_err(graph_error)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut out = Vec::new();
    for t in answer["data"].as_array().into_iter().flatten() {
        let (Some(name), Some(language)) = (t["name"].as_str(), t["language"].as_str()) else { continue };
        let status = t["status"].as_str().unwrap_or("PENDING").to_string();
        let quality = t["quality_score"]["score"].as_str().map(String::from);
        let row = match templates::by_name(&mut tx, p.org, number, name, language).await? {
            Some(mut row) => {
                row.status = status;
                row.quality_rating = quality;
                row.meta_template_id = t["id"].as_str().map(String::from).or(row.meta_template_id);
                if let Some(c) = t["category"].as_str() {
                    row.category = c.to_string();
                }
                if t["components"].is_array() {
                    row.components = Json(t["components"].clone());
                }
                row.updated_at = now;
                templates::update(&mut tx, p.org, &row).await?;
                row
            }
            None => {
                let row = TemplateRow {
                    id: Uuid::now_v7(),
                    organization_id: p.org.as_uuid(),
                    number_id: number,
                    name: name.to_string(),
                    language: language.to_string(),
                    category: t["category"].as_str().unwrap_or("UTILITY").to_string(),
                    status,
                    components: Json(if t["components"].is_array() { t["components"].clone() } else { json!([]) }),
                    parameter_format: t["parameter_format"].as_str().unwrap_or("positional").to_lowercase(),
                    meta_template_id: t["id"].as_str().map(String::from),
                    quality_rating: quality,
                    rejected_reason: None,
                    created_at: now,
                    updated_at: now,
                };
                templates::insert(&mut tx, &row).await?;
                row
            }
        };
        out.push(row.into());
    }
    tx.commit().await?;
    Ok(out)
}

/// Checks a template send against the number's known template: it must be approved and given
/// exactly its parameters (positional: as many as the body's `{{n}}`; named: each `{{name}}` once,
/// in `components`). A template this server does not know is passed to Meta as it is.
pub async fn check_send(
    state: &AppState,
    org: OrgId,
    number: Uuid,
    name: &str,
    language: &str,
    parameters: &[String],
    components: Option<&Value>,
) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    let Some(t) = templates::by_name(&mut c, org, number, name, language).await? else { return Ok(()) };
    if t.status != "APPROVED" {
        return Err(ApiError::Unprocessable {
            code: "template_not_approved",
            message: format!("the template `{name}` ({language}) is {}, not APPROVED", t.status),
            details: json!({"status": t.status}),
        });
    }
    let wanted = placeholders(&t.components.0);
    let given: BTreeSet<String> = match components {
        Some(list) => list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| component_type(c) == "BODY")
            .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
            .enumerate()
            .map(|(i, p)| p["parameter_name"].as_str().map(String::from).unwrap_or_else(|| (i + 1).to_string()))
            .collect(),
        None => (1..=parameters.len()).map(|i| i.to_string()).collect(),
    };
    if given != wanted {
        return Err(ApiError::Unprocessable {
            code: "template_parameters",
            message: format!("the template `{name}` takes the parameters {wanted:?}; the send gives {given:?}"),
            details: json!({"expected": wanted, "given": given}),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_of_the_body() {
        let c = json!([{"type": "HEADER", "text": "{{9}}"}, {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{ 2 }}."}]);
        assert_eq!(placeholders(&c).into_iter().collect::<Vec<_>>(), ["1", "2"]);
        let named = json!([{"type": "body", "text": "Hi {{customer}}"}]);
        assert_eq!(placeholders(&named).into_iter().collect::<Vec<_>>(), ["customer"]);
    }
}
