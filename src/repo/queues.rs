//! Departments (with their agents) and queues (priority, SLA, size limit and overflow, strategy).

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DepartmentRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct QueueRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub department_id: Option<Uuid>,
    pub name: String,
    pub priority: i32,
    pub sla_minutes: Option<i32>,
    pub max_size: Option<i32>,
    pub overflow_queue_id: Option<Uuid>,
    pub strategy: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_department(c: &mut dyn Conn, d: &DepartmentRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO departments (id, organization_id, name, description, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        d.id,
        d.organization_id,
        &d.name,
        &d.description,
        d.is_active,
        d.created_at,
        d.updated_at
    )?;
    Ok(())
}

pub async fn update_department(c: &mut dyn Conn, org: OrgId, d: &DepartmentRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE departments SET name = $3, description = $4, is_active = $5, updated_at = $6
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        d.id,
        &d.name,
        &d.description,
        d.is_active,
        d.updated_at
    )?;
    Ok(n == 1)
}

pub async fn get_department(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<DepartmentRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        DepartmentRow,
        "SELECT id, organization_id, name, description, is_active, created_at, updated_at
         FROM departments WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list_departments(
    c: &mut dyn Conn,
    org: OrgId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<DepartmentRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        DepartmentRow,
        "SELECT id, organization_id, name, description, is_active, created_at, updated_at
         FROM departments WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        org.as_uuid(),
        after,
        i64::from(limit) + 1
    )?)
}

/// Soft-deletes a department: its members leave it, its queues lose it.
pub async fn delete_department(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    sql_exec!(c, "DELETE FROM user_departments WHERE organization_id = $1 AND department_id = $2", org.as_uuid(), id)?;
    sql_exec!(
        c,
        "UPDATE queues SET department_id = NULL, updated_at = $3 WHERE organization_id = $1 AND department_id = $2",
        org.as_uuid(),
        id,
        now
    )?;
    let n = sql_exec!(
        c,
        "UPDATE departments SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}

/// The agents of a department.
pub async fn members(c: &mut dyn Conn, org: OrgId, department: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_all,
        Uuid,
        "SELECT user_id FROM user_departments WHERE organization_id = $1 AND department_id = $2 ORDER BY user_id",
        org.as_uuid(),
        department
    )?)
}

/// Replaces a department's members (already checked to be users of the organization).
pub async fn set_members(
    c: &mut dyn Conn,
    org: OrgId,
    department: Uuid,
    users: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "DELETE FROM user_departments WHERE organization_id = $1 AND department_id = $2",
        org.as_uuid(),
        department
    )?;
    for u in users {
        sql_exec!(
            c,
            "INSERT INTO user_departments (organization_id, user_id, department_id, created_at) VALUES ($1, $2, $3, $4)",
            org.as_uuid(),
            *u,
            department,
            now
        )?;
    }
    Ok(())
}

/// The departments a user belongs to.
pub async fn departments_of(c: &mut dyn Conn, org: OrgId, user: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_all,
        Uuid,
        "SELECT d.department_id FROM user_departments d JOIN departments x ON x.id = d.department_id
         WHERE d.organization_id = $1 AND d.user_id = $2 AND x.deleted_at IS NULL ORDER BY d.department_id",
        org.as_uuid(),
        user
    )?)
}

/// What an assignment pass has to look at for `org`'s queues.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueDuties {
    /// Some queue has an SLA (breaches must be looked for).
    pub sla: bool,
    /// Some queue overflows into another (a full queue moves conversations out).
    pub overflow: bool,
}

pub async fn duties(c: &mut dyn Conn, org: OrgId) -> Result<QueueDuties, StoreError> {
    let (sla, overflow): (i64, i64) = sql_as!(
        c,
        fetch_one,
        (i64, i64),
        "SELECT CAST(COUNT(sla_minutes) AS BIGINT),
                CAST(COUNT(CASE WHEN max_size IS NOT NULL AND overflow_queue_id IS NOT NULL THEN 1 END) AS BIGINT)
         FROM queues WHERE organization_id = $1 AND deleted_at IS NULL",
        org.as_uuid()
    )?;
    Ok(QueueDuties { sla: sla > 0, overflow: overflow > 0 })
}

pub async fn insert_queue(c: &mut dyn Conn, q: &QueueRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO queues (id, organization_id, department_id, name, priority, sla_minutes, max_size, overflow_queue_id, strategy,
             is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        q.id,
        q.organization_id,
        q.department_id,
        &q.name,
        q.priority,
        q.sla_minutes,
        q.max_size,
        q.overflow_queue_id,
        &q.strategy,
        q.is_active,
        q.created_at,
        q.updated_at
    )?;
    Ok(())
}

pub async fn update_queue(c: &mut dyn Conn, org: OrgId, q: &QueueRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE queues SET department_id = $3, name = $4, priority = $5, sla_minutes = $6, max_size = $7, overflow_queue_id = $8,
             strategy = $9, is_active = $10, updated_at = $11
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        q.id,
        q.department_id,
        &q.name,
        q.priority,
        q.sla_minutes,
        q.max_size,
        q.overflow_queue_id,
        &q.strategy,
        q.is_active,
        q.updated_at
    )?;
    Ok(n == 1)
}

pub async fn get_queue(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<QueueRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        QueueRow,
        "SELECT id, organization_id, department_id, name, priority, sla_minutes, max_size, overflow_queue_id, strategy, is_active,
             created_at, updated_at
         FROM queues WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list_queues(
    c: &mut dyn Conn,
    org: OrgId,
    department: Option<Uuid>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<QueueRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        QueueRow,
        "SELECT id, organization_id, department_id, name, priority, sla_minutes, max_size, overflow_queue_id, strategy, is_active,
             created_at, updated_at
         FROM queues WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR department_id = $2)
           AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
        org.as_uuid(),
        department,
        after,
        i64::from(limit) + 1
    )?)
}

/// Soft-deletes a queue; queues overflowing into it stop overflowing.
pub async fn delete_queue(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    sql_exec!(
        c,
        "UPDATE queues SET overflow_queue_id = NULL, updated_at = $3 WHERE organization_id = $1 AND overflow_queue_id = $2",
        org.as_uuid(),
        id,
        now
    )?;
    let n = sql_exec!(
        c,
        "UPDATE queues SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}

/// Conversations waiting in a queue.
pub async fn queued_count(c: &mut dyn Conn, org: OrgId, queue: Uuid) -> Result<i64, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_one,
        i64,
        "SELECT COUNT(*) FROM conversations WHERE organization_id = $1 AND queue_id = $2 AND status = 'queued'",
        org.as_uuid(),
        queue
    )?)
}
