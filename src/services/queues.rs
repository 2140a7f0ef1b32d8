//! Departments (and which agents belong to them) and queues (priority, SLA, size limit with
//! overflow, assignment strategy): `/api/v1/departments` and `/api/v1/queues`.

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::numbers::{self, Reference};
use crate::repo::queues::{self, DepartmentRow, QueueRow};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// How a queue's conversations reach agents.
pub const STRATEGIES: [&str; 3] = ["round_robin", "least_busy", "manual"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    pub name: String,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    /// The agents (users of the organization) who work this department's queues.
    #[serde(default)]
    pub agent_ids: Vec<Uuid>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDepartment {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    pub agent_ids: Option<Vec<Uuid>>,
}

impl Validate for CreateDepartment {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", &self.name, 1, 200);
        e.opt_text("description", self.description.as_deref(), 0, 2000);
        e.check(self.agent_ids.len() <= 1000, "agent_ids", "at most 1000 agents");
        e.finish()
    }
}

impl Validate for UpdateDepartment {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.opt_text("name", self.name.as_deref(), 1, 200);
        e.opt_text("description", self.description.as_deref(), 0, 2000);
        e.check(self.agent_ids.as_ref().is_none_or(|a| a.len() <= 1000), "agent_ids", "at most 1000 agents");
        e.finish()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub agent_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn department_view(d: &DepartmentRow, agent_ids: Vec<Uuid>) -> DepartmentView {
    DepartmentView {
        id: d.id,
        name: d.name.clone(),
        description: d.description.clone(),
        is_active: d.is_active,
        agent_ids,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

async fn check_exist(
    state: &AppState,
    org: OrgId,
    refs: impl IntoIterator<Item = (String, Reference, Uuid)>,
) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    let mut e = FieldErrors::default();
    for (field, kind, id) in refs {
        if !numbers::reference_exists(&mut c, org, kind, id).await? {
            e.add(&field, "does not exist in this organization");
        }
    }
    e.into_result()
}

fn agent_refs(ids: &[Uuid]) -> Vec<(String, Reference, Uuid)> {
    ids.iter().enumerate().map(|(i, id)| (format!("agent_ids[{i}]"), Reference::User, *id)).collect()
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids.dedup();
    ids
}

pub async fn create_department(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateDepartment,
) -> Result<DepartmentView, ApiError> {
    p.require(Permission::QueuesManage)?;
    check_exist(state, p.org, agent_refs(&req.agent_ids)).await?;
    let now = state.now();
    let row = DepartmentRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        name: req.name.trim().to_string(),
        description: req.description,
        is_active: req.is_active.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    let agents = sorted(req.agent_ids);
    let mut tx = state.db.begin().await?;
    queues::insert_department(&mut tx, &row).await?;
    queues::set_members(&mut tx, p.org, row.id, &agents, now).await?;
    let v = department_view(&row, agents);
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("department.created", "department", row.id).after(&v),
        now,
    )
    .await?;
    tx.commit().await?;
    state.live.membership_changed(p.org);
    Ok(v)
}

pub async fn list_departments(state: &AppState, p: &Principal, q: ListQuery) -> Result<Page<DepartmentView>, ApiError> {
    p.require(Permission::QueuesRead)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = queues::list_departments(&mut c, p.org, q.after()?, limit).await?;
    let page = Page::from_rows(rows, limit, |d| d.id);
    let mut items = Vec::with_capacity(page.items.len());
    for d in &page.items {
        items.push(department_view(d, queues::members(&mut c, p.org, d.id).await?));
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

async fn load_department(state: &AppState, org: OrgId, id: Uuid) -> Result<DepartmentView, ApiError> {
    let mut c = state.db.conn().await?;
    let row = queues::get_department(&mut c, org, id).await?.ok_or(ApiError::NotFound("department"))?;
    Ok(department_view(&row, queues::members(&mut c, org, id).await?))
}

pub async fn get_department(state: &AppState, p: &Principal, id: Uuid) -> Result<DepartmentView, ApiError> {
    p.require(Permission::QueuesRead)?;
    load_department(state, p.org, id).await
}

pub async fn update_department(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateDepartment,
) -> Result<DepartmentView, ApiError> {
    p.require(Permission::QueuesManage)?;
    let before = load_department(state, p.org, id).await?;
    check_exist(state, p.org, agent_refs(req.agent_ids.as_deref().unwrap_or(&[]))).await?;
    let now = state.now();
    let row = DepartmentRow {
        id,
        organization_id: p.org.as_uuid(),
        name: req.name.map(|n| n.trim().to_string()).unwrap_or_else(|| before.name.clone()),
        description: req.description.or_else(|| before.description.clone()),
        is_active: req.is_active.unwrap_or(before.is_active),
        created_at: before.created_at,
        updated_at: now,
    };
    let agents = req.agent_ids.map(sorted).unwrap_or_else(|| before.agent_ids.clone());
    let mut tx = state.db.begin().await?;
    if !queues::update_department(&mut tx, p.org, &row).await? {
        return Err(ApiError::NotFound("department"));
    }
    queues::set_members(&mut tx, p.org, id, &agents, now).await?;
    let after = department_view(&row, agents);
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("department.updated", "department", id).before(&before).after(&after),
        now,
    )
    .await?;
    tx.commit().await?;
    state.live.membership_changed(p.org);
    Ok(after)
}

pub async fn delete_department(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::QueuesManage)?;
    let before = load_department(state, p.org, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    queues::delete_department(&mut tx, p.org, id, now).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("department.deleted", "department", id).before(&before),
        now,
    )
    .await?;
    tx.commit().await?;
    state.live.membership_changed(p.org);
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueue {
    pub name: String,
    pub department_id: Option<Uuid>,
    /// 0-100; higher is served first (default 50).
    pub priority: Option<i32>,
    /// Minutes a conversation may wait before an `sla.breached` event.
    pub sla_minutes: Option<i32>,
    /// Conversations waiting at most; beyond it they go to `overflow_queue_id` (or wait anyway).
    pub max_size: Option<i32>,
    pub overflow_queue_id: Option<Uuid>,
    /// `round_robin` (default), `least_busy` or `manual` (agents pull with take_next).
    pub strategy: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQueue {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub department_id: Option<Option<Uuid>>,
    pub priority: Option<i32>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<i32>)]
    pub sla_minutes: Option<Option<i32>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<i32>)]
    pub max_size: Option<Option<i32>>,
    #[serde(default, deserialize_with = "crate::http::optional::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub overflow_queue_id: Option<Option<Uuid>>,
    pub strategy: Option<String>,
    pub is_active: Option<bool>,
}

fn check_queue_fields(
    e: &mut FieldErrors,
    priority: Option<i32>,
    sla: Option<i32>,
    max_size: Option<i32>,
    strategy: Option<&str>,
) {
    e.check(priority.is_none_or(|p| (0..=100).contains(&p)), "priority", "must be between 0 and 100");
    e.check(sla.is_none_or(|s| (1..=43_200).contains(&s)), "sla_minutes", "must be between 1 and 43200 (30 days)");
    e.check(max_size.is_none_or(|m| (1..=1_000_000).contains(&m)), "max_size", "must be between 1 and 1000000");
    e.check(strategy.is_none_or(|s| STRATEGIES.contains(&s)), "strategy", "must be round_robin, least_busy or manual");
}

impl Validate for CreateQueue {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", &self.name, 1, 200);
        check_queue_fields(&mut e, self.priority, self.sla_minutes, self.max_size, self.strategy.as_deref());
        e.finish()
    }
}

impl Validate for UpdateQueue {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.opt_text("name", self.name.as_deref(), 1, 200);
        check_queue_fields(
            &mut e,
            self.priority,
            self.sla_minutes.flatten(),
            self.max_size.flatten(),
            self.strategy.as_deref(),
        );
        e.finish()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueView {
    pub id: Uuid,
    pub name: String,
    pub department_id: Option<Uuid>,
    pub priority: i32,
    pub sla_minutes: Option<i32>,
    pub max_size: Option<i32>,
    pub overflow_queue_id: Option<Uuid>,
    pub strategy: String,
    pub is_active: bool,
    /// Conversations waiting now.
    pub waiting: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn queue_view(q: &QueueRow, waiting: i64) -> QueueView {
    QueueView {
        id: q.id,
        name: q.name.clone(),
        department_id: q.department_id,
        priority: q.priority,
        sla_minutes: q.sla_minutes,
        max_size: q.max_size,
        overflow_queue_id: q.overflow_queue_id,
        strategy: q.strategy.clone(),
        is_active: q.is_active,
        waiting,
        created_at: q.created_at,
        updated_at: q.updated_at,
    }
}

fn queue_refs(row: &QueueRow) -> Vec<(String, Reference, Uuid)> {
    let mut refs = Vec::new();
    if let Some(d) = row.department_id {
        refs.push(("department_id".to_string(), Reference::Department, d));
    }
    if let Some(o) = row.overflow_queue_id {
        refs.push(("overflow_queue_id".to_string(), Reference::Queue, o));
    }
    refs
}

/// An overflow chain must end: following `overflow_queue_id` from `row` never comes back to it.
async fn check_overflow_chain(state: &AppState, org: OrgId, row: &QueueRow) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    let mut next = row.overflow_queue_id;
    let mut hops = 0;
    while let Some(id) = next {
        if id == row.id || hops > 50 {
            return Err(ApiError::field("overflow_queue_id", "overflowing there would come back to this queue"));
        }
        next = queues::get_queue(&mut c, org, id).await?.and_then(|q| q.overflow_queue_id);
        hops += 1;
    }
    Ok(())
}

pub async fn create_queue(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateQueue,
) -> Result<QueueView, ApiError> {
    p.require(Permission::QueuesManage)?;
    let now = state.now();
    let row = QueueRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        department_id: req.department_id,
        name: req.name.trim().to_string(),
        priority: req.priority.unwrap_or(50),
        sla_minutes: req.sla_minutes,
        max_size: req.max_size,
        overflow_queue_id: req.overflow_queue_id,
        strategy: req.strategy.unwrap_or_else(|| "round_robin".into()),
        is_active: req.is_active.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    check_exist(state, p.org, queue_refs(&row)).await?;
    let mut tx = state.db.begin().await?;
    queues::insert_queue(&mut tx, &row).await?;
    let v = queue_view(&row, 0);
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("queue.created", "queue", row.id).after(&v),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct QueueListQuery {
    pub department_id: Option<Uuid>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub async fn list_queues(state: &AppState, p: &Principal, q: QueueListQuery) -> Result<Page<QueueView>, ApiError> {
    p.require(Permission::QueuesRead)?;
    let page = ListQuery { limit: q.limit, cursor: q.cursor };
    let limit = page.limit()?;
    let mut c = state.db.conn().await?;
    let rows = queues::list_queues(&mut c, p.org, q.department_id, page.after()?, limit).await?;
    let page = Page::from_rows(rows, limit, |q| q.id);
    let mut items = Vec::with_capacity(page.items.len());
    for q in &page.items {
        items.push(queue_view(q, queues::queued_count(&mut c, p.org, q.id).await?));
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

async fn load_queue(state: &AppState, org: OrgId, id: Uuid) -> Result<QueueRow, ApiError> {
    let mut c = state.db.conn().await?;
    queues::get_queue(&mut c, org, id).await?.ok_or(ApiError::NotFound("queue"))
}

pub async fn get_queue(state: &AppState, p: &Principal, id: Uuid) -> Result<QueueView, ApiError> {
    p.require(Permission::QueuesRead)?;
    let row = load_queue(state, p.org, id).await?;
    let mut c = state.db.conn().await?;
    Ok(queue_view(&row, queues::queued_count(&mut c, p.org, id).await?))
}

pub async fn update_queue(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    req: UpdateQueue,
) -> Result<QueueView, ApiError> {
    p.require(Permission::QueuesManage)?;
    let before = load_queue(state, p.org, id).await?;
    let mut row = before.clone();
    if let Some(n) = req.name {
        row.name = n.trim().to_string();
    }
    if let Some(d) = req.department_id {
        row.department_id = d;
    }
    if let Some(pr) = req.priority {
        row.priority = pr;
    }
    if let Some(s) = req.sla_minutes {
        row.sla_minutes = s;
    }
    if let Some(m) = req.max_size {
        row.max_size = m;
    }
    if let Some(o) = req.overflow_queue_id {
        row.overflow_queue_id = o;
    }
    if let Some(s) = req.strategy {
        row.strategy = s;
    }
    if let Some(a) = req.is_active {
        row.is_active = a;
    }
    row.updated_at = state.now();
    check_exist(state, p.org, queue_refs(&row)).await?;
    check_overflow_chain(state, p.org, &row).await?;
    let mut tx = state.db.begin().await?;
    if !queues::update_queue(&mut tx, p.org, &row).await? {
        return Err(ApiError::NotFound("queue"));
    }
    let waiting = queues::queued_count(&mut tx, p.org, id).await?;
    let (b, a) = (queue_view(&before, waiting), queue_view(&row, waiting));
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("queue.updated", "queue", id).before(&b).after(&a),
        row.updated_at,
    )
    .await?;
    tx.commit().await?;
    state.live.assignment.kick(p.org);
    Ok(a)
}

pub async fn delete_queue(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<(), ApiError> {
    p.require(Permission::QueuesManage)?;
    let before = load_queue(state, p.org, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if queues::queued_count(&mut tx, p.org, id).await? > 0 {
        return Err(ApiError::conflict(
            "queue_not_empty",
            "conversations are waiting in this queue; transfer them or let them be answered first",
        ));
    }
    queues::delete_queue(&mut tx, p.org, id, now).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("queue.deleted", "queue", id).before(&queue_view(&before, 0)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
