//! Users. Tenant reads and writes take an `OrgId`; the two auth-layer lookups (by email at login,
//! by id for a token's subject) are the only unscoped ones, and they say so.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub full_name: String,
    pub role: String,
    pub is_active: bool,
    pub agent_status: String,
    pub max_concurrent_conversations: i32,
    pub failed_login_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What authentication needs to know about a token's subject.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthSubject {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: String,
    pub is_active: bool,
    pub org_is_active: bool,
}

pub struct UserFilter<'a> {
    pub role: Option<&'a str>,
    pub is_active: Option<bool>,
}

pub async fn insert(c: &mut dyn Conn, u: &UserRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO users (id, organization_id, email, password_hash, full_name, role, is_active, agent_status,
             max_concurrent_conversations, failed_login_attempts, locked_until, last_login_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        u.id,
        u.organization_id,
        &u.email,
        &u.password_hash,
        &u.full_name,
        &u.role,
        u.is_active,
        &u.agent_status,
        u.max_concurrent_conversations,
        u.failed_login_attempts,
        u.locked_until,
        u.last_login_at,
        u.created_at,
        u.updated_at
    )?;
    Ok(())
}

/// Auth layer only: the account an email logs in to, whatever its organization.
pub async fn find_for_login(c: &mut dyn Conn, email: &str) -> Result<Option<(UserRow, bool)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        org_is_active: bool,
    }
    let row = sql_as!(
        c,
        fetch_optional,
        Row,
        "SELECT u.id, u.organization_id, u.email, u.password_hash, u.full_name, u.role, u.is_active, u.agent_status,
                u.max_concurrent_conversations, u.failed_login_attempts, u.locked_until, u.last_login_at,
                u.created_at, u.updated_at, o.is_active AS org_is_active
         FROM users u JOIN organizations o ON o.id = u.organization_id
         WHERE u.email = $1 AND u.deleted_at IS NULL AND o.deleted_at IS NULL",
        email
    )?;
    Ok(row.map(|r| (r.user, r.org_is_active)))
}

/// Auth layer only: the subject of a verified token.
pub async fn find_subject(c: &mut dyn Conn, id: Uuid) -> Result<Option<AuthSubject>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        AuthSubject,
        "SELECT u.id, u.organization_id, u.email, u.full_name, u.role, u.is_active, o.is_active AS org_is_active
         FROM users u JOIN organizations o ON o.id = u.organization_id
         WHERE u.id = $1 AND u.deleted_at IS NULL AND o.deleted_at IS NULL",
        id
    )?)
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        UserRow,
        "SELECT id, organization_id, email, password_hash, full_name, role, is_active, agent_status,
                max_concurrent_conversations, failed_login_attempts, locked_until, last_login_at, created_at, updated_at
         FROM users WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    filter: &UserFilter<'_>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<UserRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        UserRow,
        "SELECT id, organization_id, email, password_hash, full_name, role, is_active, agent_status,
                max_concurrent_conversations, failed_login_attempts, locked_until, last_login_at, created_at, updated_at
         FROM users
         WHERE organization_id = $1 AND deleted_at IS NULL
           AND ($2 IS NULL OR id > $2) AND ($3 IS NULL OR role = $3) AND ($4 IS NULL OR is_active = $4)
         ORDER BY id LIMIT $5",
        org.as_uuid(),
        after,
        filter.role,
        filter.is_active,
        i64::from(limit) + 1
    )?)
}

/// Writes the editable fields of a user of `org`.
pub async fn update(c: &mut dyn Conn, org: OrgId, u: &UserRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE users SET email = $3, password_hash = $4, full_name = $5, role = $6, is_active = $7,
             max_concurrent_conversations = $8, failed_login_attempts = $9, locked_until = $10, updated_at = $11
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        u.id,
        &u.email,
        &u.password_hash,
        &u.full_name,
        &u.role,
        u.is_active,
        u.max_concurrent_conversations,
        u.failed_login_attempts,
        u.locked_until,
        u.updated_at
    )?;
    Ok(n == 1)
}

/// Counts a failed login; at `max_failed` the account locks until `lock_until` and the count resets.
/// Returns the lock time if this attempt locked the account.
pub async fn record_failed_login(
    c: &mut dyn Conn,
    id: Uuid,
    max_failed: i32,
    lock_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let attempts = crate::sql_scalar!(
        c,
        fetch_optional,
        i32,
        "UPDATE users SET failed_login_attempts = failed_login_attempts + 1, updated_at = $2 WHERE id = $1
         RETURNING failed_login_attempts",
        id,
        now
    )?;
    if attempts.is_some_and(|a| a >= max_failed) {
        sql_exec!(c, "UPDATE users SET failed_login_attempts = 0, locked_until = $2 WHERE id = $1", id, lock_until)?;
        return Ok(Some(lock_until));
    }
    Ok(None)
}

pub async fn record_login(c: &mut dyn Conn, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE users SET failed_login_attempts = 0, locked_until = NULL, last_login_at = $2 WHERE id = $1",
        id,
        now
    )?;
    Ok(())
}

/// Stores an agent's presence status (what they come back as after a restart).
pub async fn set_agent_status(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE users SET agent_status = $3, updated_at = $4 WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        status,
        now
    )?;
    Ok(())
}
