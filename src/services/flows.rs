//! Flows: drafts in React-Flow JSON (as the original builder drew them), validation that names the
//! node and the field, publication as immutable versions (running conversations stay on the version
//! they started with), and export/import.

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::flows::{self, FlowRow, FlowVersionRow};
use crate::repo::numbers::{self, Reference as Ref};
use crate::services::flow_diff::VersionChanges;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::flow::validate::{Reference, ValidationError};
use pytake_actors::flow::{Flow, FlowJson, FlowSettings};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const MAX_NODES: usize = 2_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateFlow {
    pub name: String,
    pub description: Option<String>,
    pub chatbot_id: Option<Uuid>,
    /// React-Flow nodes: `[{id, type, position, data}]`.
    #[schema(value_type = Vec<Object>)]
    #[serde(default)]
    pub nodes: Vec<Value>,
    /// React-Flow edges: `[{id, source, target, sourceHandle?, label?}]`.
    #[schema(value_type = Vec<Object>)]
    #[serde(default)]
    pub edges: Vec<Value>,
    /// `{inactivity: {...}, window_expiry: {...}}`
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// React-Flow's viewport, kept for the builder.
    #[schema(value_type = Option<Object>)]
    pub viewport: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFlow {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub chatbot_id: Option<Option<Uuid>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub nodes: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub edges: Option<Vec<Value>>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub viewport: Option<Value>,
    pub is_active: Option<bool>,
}

fn check_settings(e: &mut FieldErrors, settings: Option<&Value>) {
    if let Some(s) = settings {
        if !s.is_object() {
            e.add("settings", "must be a JSON object");
        } else if let Err(err) = serde_json::from_value::<FlowSettings>(s.clone()) {
            e.add("settings", format!("is not valid: {err}"));
        }
    }
}

impl Validate for CreateFlow {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", &self.name, 1, 200);
        e.check(self.nodes.len() <= MAX_NODES, "nodes", format!("at most {MAX_NODES} nodes"));
        check_settings(&mut e, self.settings.as_ref());
        e.finish()
    }
}

impl Validate for UpdateFlow {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.opt_text("name", self.name.as_deref(), 1, 200);
        e.check(
            self.nodes.as_ref().is_none_or(|n| n.len() <= MAX_NODES),
            "nodes",
            format!("at most {MAX_NODES} nodes"),
        );
        check_settings(&mut e, self.settings.as_ref());
        e.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub chatbot_id: Option<Uuid>,
    #[schema(value_type = Vec<Object>)]
    pub nodes: Value,
    #[schema(value_type = Vec<Object>)]
    pub edges: Value,
    #[schema(value_type = Object)]
    pub settings: Value,
    #[schema(value_type = Option<Object>)]
    pub viewport: Value,
    /// The last version published (0 when never).
    pub latest_version: i32,
    pub published_version_id: Option<Uuid>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&FlowRow> for FlowView {
    fn from(f: &FlowRow) -> Self {
        FlowView {
            id: f.id,
            name: f.name.clone(),
            description: f.description.clone(),
            chatbot_id: f.chatbot_id,
            nodes: f.definition.0.get("nodes").cloned().unwrap_or(json!([])),
            edges: f.definition.0.get("edges").cloned().unwrap_or(json!([])),
            settings: f.settings.0.clone(),
            viewport: f.definition.0.get("viewport").cloned().unwrap_or(Value::Null),
            latest_version: f.latest_version,
            published_version_id: f.published_version_id,
            is_active: f.is_active,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowSummary {
    pub id: Uuid,
    pub name: String,
    pub chatbot_id: Option<Uuid>,
    pub node_count: usize,
    pub latest_version: i32,
    pub published_version_id: Option<Uuid>,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationReport {
    pub valid: bool,
    pub errors: Vec<ValidationError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub version: i32,
    pub node_count: usize,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// What this version changed against the one before it.
    pub changes: VersionChanges,
}

impl VersionView {
    fn new(v: &FlowVersionRow, previous: Option<&FlowVersionRow>) -> Self {
        VersionView {
            changes: crate::services::flow_diff::summarize(previous.map(|p| &p.definition.0), &v.definition.0),
            id: v.id,
            flow_id: v.flow_id,
            version: v.version,
            node_count: v.definition.0.get("nodes").and_then(Value::as_array).map_or(0, Vec::len),
            created_by: v.created_by,
            created_at: v.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FlowListQuery {
    pub chatbot_id: Option<Uuid>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn definition(nodes: Vec<Value>, edges: Vec<Value>, viewport: Option<Value>) -> Value {
    let mut d = json!({"nodes": nodes, "edges": edges});
    if let Some(v) = viewport {
        d["viewport"] = v;
    }
    d
}

async fn check_chatbot(state: &AppState, org: OrgId, chatbot: Option<Uuid>) -> Result<(), ApiError> {
    if let Some(id) = chatbot {
        let mut c = state.db.conn().await?;
        if !numbers::reference_exists(&mut c, org, Ref::Chatbot, id).await? {
            return Err(ApiError::field("chatbot_id", "does not exist in this organization"));
        }
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateFlow,
) -> Result<FlowView, ApiError> {
    p.require(Permission::FlowsManage)?;
    check_chatbot(state, p.org, req.chatbot_id).await?;
    let now = state.now();
    let row = FlowRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        chatbot_id: req.chatbot_id,
        name: req.name.trim().to_string(),
        description: req.description,
        definition: Json(definition(req.nodes, req.edges, req.viewport)),
        settings: Json(req.settings.unwrap_or_else(|| json!({}))),
        latest_version: 0,
        published_version_id: None,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.db.begin().await?;
    flows::insert(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("flow.created", "flow", row.id).after(&json!({"name": row.name})),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(FlowView::from(&row))
}

pub async fn list(state: &AppState, p: &Principal, q: FlowListQuery) -> Result<Page<FlowSummary>, ApiError> {
    p.require(Permission::FlowsRead)?;
    let page = ListQuery { limit: q.limit, cursor: q.cursor };
    let limit = page.limit()?;
    let mut c = state.db.conn().await?;
    let rows = flows::list(&mut c, p.org, q.chatbot_id, page.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |f| f.id).map(|f| FlowSummary {
        id: f.id,
        name: f.name,
        chatbot_id: f.chatbot_id,
        node_count: f.definition.0.get("nodes").and_then(Value::as_array).map_or(0, Vec::len),
        latest_version: f.latest_version,
        published_version_id: f.published_version_id,
        is_active: f.is_active,
        updated_at: f.updated_at,
    }))
}

async fn load(state: &AppState, org: OrgId, id: Uuid) -> Result<FlowRow, ApiError> {
    let mut c = state.db.conn().await?;
    flows::get(&mut c, org, id).await?.ok_or(ApiError::NotFound("flow"))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<FlowView, ApiError> {
    p.require(Permission::FlowsRead)?;
    Ok(FlowView::from(&load(state, p.org, id).await?))
}

pub async fn update(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateFlow,
) -> Result<FlowView, ApiError> {
    p.require(Permission::FlowsManage)?;
    let before = load(state, p.org, id).await?;
    if let Some(chatbot) = req.chatbot_id {
        check_chatbot(state, p.org, chatbot).await?;
    }
    let mut after = before.clone();
    if let Some(n) = &req.name {
        after.name = n.trim().to_string();
    }
    if let Some(d) = req.description {
        after.description = Some(d);
    }
    if let Some(c) = req.chatbot_id {
        after.chatbot_id = c;
    }
    if req.nodes.is_some() || req.edges.is_some() || req.viewport.is_some() {
        let d = &before.definition.0;
        let nodes = req.nodes.unwrap_or_else(|| d.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default());
        let edges = req.edges.unwrap_or_else(|| d.get("edges").and_then(Value::as_array).cloned().unwrap_or_default());
        let viewport = req.viewport.or_else(|| d.get("viewport").cloned());
        after.definition = Json(definition(nodes, edges, viewport));
    }
    if let Some(s) = req.settings {
        after.settings = Json(s);
    }
    if let Some(a) = req.is_active {
        after.is_active = a;
    }
    let now = state.now();
    after.updated_at = now;
    let mut tx = state.db.begin().await?;
    flows::update(&mut tx, p.org, &after).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("flow.updated", "flow", id)
            .before(&json!({"name": before.name}))
            .after(&json!({"name": after.name})),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(FlowView::from(&after))
}

pub async fn delete(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::FlowsManage)?;
    let before = load(state, p.org, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    flows::soft_delete(&mut tx, p.org, id, now).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("flow.deleted", "flow", id).before(&json!({"name": before.name})),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(())
}

/// Validates a definition, including that what it refers to exists in the organization.
pub async fn check(
    state: &AppState,
    org: OrgId,
    definition: &Value,
    settings: &Value,
) -> Result<Vec<ValidationError>, ApiError> {
    let json: FlowJson = serde_json::from_value(definition.clone()).unwrap_or_default();
    let flow = Flow::from_json(&json);
    let report = pytake_actors::flow::validate(&json, &flow);
    let mut errors = report.errors;
    let mut c = state.db.conn().await?;
    for (node, field, reference) in report.references {
        let (table, raw) = match &reference {
            Reference::Flow(x) => (Ref::Flow, x),
            Reference::Queue(x) => (Ref::Queue, x),
            Reference::Department(x) => (Ref::Department, x),
            Reference::Agent(x) => (Ref::User, x),
        };
        let exists = match raw.parse::<Uuid>() {
            Ok(id) => numbers::reference_exists(&mut c, org, table, id).await?,
            Err(_) => false,
        };
        if !exists {
            errors.push(ValidationError {
                node_id: node,
                field,
                message: format!("`{raw}` does not exist in this organization"),
            });
        }
    }
    match serde_json::from_value::<FlowSettings>(settings.clone()) {
        Ok(s) => {
            if let Some(fallback) = s.inactivity.as_ref().and_then(|i| i.fallback_flow_id.as_deref()) {
                let ok = match fallback.parse::<Uuid>() {
                    Ok(id) => numbers::reference_exists(&mut c, org, Ref::Flow, id).await?,
                    Err(_) => false,
                };
                if !ok {
                    errors.push(ValidationError {
                        node_id: String::new(),
                        field: "settings.inactivity.fallback_flow_id".into(),
                        message: format!("`{fallback}` does not exist in this organization"),
                    });
                }
            }
        }
        Err(e) => {
            errors.push(ValidationError { node_id: String::new(), field: "settings".into(), message: e.to_string() })
        }
    }
    errors.sort();
    Ok(errors)
}

pub async fn validate(state: &AppState, p: &Principal, id: Uuid) -> Result<ValidationReport, ApiError> {
    p.require(Permission::FlowsRead)?;
    let row = load(state, p.org, id).await?;
    let errors = check(state, p.org, &row.definition.0, &row.settings.0).await?;
    Ok(ValidationReport { valid: errors.is_empty(), errors })
}

/// Publishes the draft as the next immutable version, or refuses with 422 naming every problem.
pub async fn publish(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<VersionView, ApiError> {
    p.require(Permission::FlowsManage)?;
    let row = load(state, p.org, id).await?;
    let errors = check(state, p.org, &row.definition.0, &row.settings.0).await?;
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "flow_invalid",
            message: format!("the flow has {} problem(s); fix them before publishing", errors.len()),
            details: json!({"errors": errors}),
        });
    }
    let now = state.now();
    let version = FlowVersionRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        flow_id: id,
        version: row.latest_version + 1,
        definition: row.definition.clone(),
        settings: row.settings.clone(),
        created_by: Some(p.user_id),
        created_at: now,
    };
    let previous = match row.published_version_id {
        Some(published) => flows::get_version(&mut state.db.conn().await?, p.org, published).await?,
        None => None,
    };
    let mut updated = row.clone();
    updated.latest_version = version.version;
    updated.published_version_id = Some(version.id);
    updated.updated_at = now;
    let mut tx = state.db.begin().await?;
    match flows::insert_version(&mut tx, &version).await {
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::conflict("publish_conflict", "the flow was published concurrently; try again"));
        }
        other => other?,
    }
    flows::update(&mut tx, p.org, &updated).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("flow.published", "flow", id).after(&json!({"version": version.version, "version_id": version.id})),
        now,
    )
    .await?;
    tx.commit().await?;
    state.routing.invalidate();
    Ok(VersionView::new(&version, previous.as_ref()))
}

pub async fn versions(state: &AppState, p: &Principal, id: Uuid) -> Result<Vec<VersionView>, ApiError> {
    p.require(Permission::FlowsRead)?;
    load(state, p.org, id).await?;
    let mut c = state.db.conn().await?;
    let rows = flows::versions(&mut c, p.org, id).await?;
    Ok(rows.iter().enumerate().map(|(i, v)| VersionView::new(v, rows.get(i + 1))).collect())
}

/// The flow as a portable document (what import takes back).
pub async fn export(state: &AppState, p: &Principal, id: Uuid) -> Result<Value, ApiError> {
    p.require(Permission::FlowsRead)?;
    let row = load(state, p.org, id).await?;
    let d = &row.definition.0;
    Ok(json!({
        "format": "pytake-flow/1",
        "name": row.name,
        "description": row.description,
        "nodes": d.get("nodes").cloned().unwrap_or(json!([])),
        "edges": d.get("edges").cloned().unwrap_or(json!([])),
        "viewport": d.get("viewport").cloned(),
        "settings": row.settings.0,
        "exported_at": state.now(),
    }))
}

/// Creates a flow from an exported document, or from the original builder's shapes
/// (`{flow: {name, canvas_data: {nodes, edges}}}`, `{canvas_data: {...}}`).
pub async fn import(state: &AppState, p: &Principal, meta: &RequestMeta, doc: Value) -> Result<FlowView, ApiError> {
    p.require(Permission::FlowsManage)?;
    let req = read_import(&doc)?;
    create(state, p, meta, req).await
}

/// Reads an import document into a draft, checked (pure: what the fuzz targets run).
pub fn read_import(doc: &Value) -> Result<CreateFlow, ApiError> {
    let root = doc.get("flow").filter(|f| f.is_object()).unwrap_or(doc);
    let canvas = root.get("canvas_data").or_else(|| root.get("canvasData")).unwrap_or(root);
    let nodes = canvas.get("nodes").and_then(Value::as_array).cloned();
    let edges = canvas.get("edges").and_then(Value::as_array).cloned().unwrap_or_default();
    let Some(nodes) = nodes else {
        return Err(ApiError::field("nodes", "the document has no `nodes` (expected React-Flow JSON)"));
    };
    let name = root.get("name").and_then(Value::as_str).unwrap_or("Imported flow").to_string();
    let settings = match (root.get("settings"), root.get("inactivity_settings"), root.get("window_expiry_settings")) {
        (Some(s), _, _) if s.is_object() => Some(s.clone()),
        (_, inactivity, window) if inactivity.is_some() || window.is_some() => {
            Some(json!({"inactivity": inactivity.cloned(), "window_expiry": window.cloned()}))
        }
        _ => None,
    };
    let req = CreateFlow {
        name,
        description: root.get("description").and_then(Value::as_str).map(String::from),
        chatbot_id: None,
        nodes,
        edges,
        settings,
        viewport: canvas.get("viewport").cloned(),
    };
    req.validate().map_err(ApiError::Validation)?;
    Ok(req)
}
