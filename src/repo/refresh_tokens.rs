//! Refresh tokens, stored by their `jti` (never the token itself) in families: each rotation adds a
//! member, a replayed member revokes the family.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshTokenRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

pub async fn insert(c: &mut dyn Conn, t: &RefreshTokenRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO refresh_tokens (id, organization_id, user_id, family_id, expires_at, created_at, used_at, revoked_at, user_agent, ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        t.id,
        t.organization_id,
        t.user_id,
        t.family_id,
        t.expires_at,
        t.created_at,
        t.used_at,
        t.revoked_at,
        &t.user_agent,
        &t.ip
    )?;
    Ok(())
}

/// Auth layer only: a token by its jti (the signed token proves who asks).
pub async fn find(c: &mut dyn Conn, id: Uuid) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        RefreshTokenRow,
        "SELECT id, organization_id, user_id, family_id, expires_at, created_at, used_at, revoked_at, user_agent, ip
         FROM refresh_tokens WHERE id = $1",
        id
    )?)
}

/// Marks a token used if it is still fresh; false means it was already used or revoked (a replay).
pub async fn mark_used(c: &mut dyn Conn, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        id,
        now
    )?;
    Ok(n == 1)
}

pub async fn revoke_family(
    c: &mut dyn Conn,
    family: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sql_exec!(
        c,
        "UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = $3 WHERE family_id = $1 AND revoked_at IS NULL",
        family,
        now,
        reason
    )?)
}

pub async fn revoke_user(c: &mut dyn Conn, user_id: Uuid, reason: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(sql_exec!(
        c,
        "UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        now,
        reason
    )?)
}
