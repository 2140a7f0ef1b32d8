//! Campaigns and their recipients. A recipient goes `pending` -> `queued` (its message and outbox
//! row written in the same transaction, at most once) or `skipped`/`cancelled`; what happened next
//! (sent, delivered, read, failed, replied) is read from its message, never copied.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub template_id: Option<Uuid>,
    pub name: String,
    /// draft, scheduled, running, paused, completed, cancelled
    pub status: String,
    pub audience: Json<Value>,
    pub parameters: Json<Value>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(c: &mut dyn Conn, r: &CampaignRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO campaigns (id, organization_id, number_id, template_id, name, status, audience, parameters, scheduled_at,
             started_at, paused_at, completed_at, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        r.id,
        r.organization_id,
        r.number_id,
        r.template_id,
        &r.name,
        &r.status,
        &r.audience,
        &r.parameters,
        r.scheduled_at,
        r.started_at,
        r.paused_at,
        r.completed_at,
        r.created_by,
        r.created_at,
        r.updated_at
    )?;
    Ok(())
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<CampaignRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        CampaignRow,
        "SELECT id, organization_id, number_id, template_id, name, status, audience, parameters, scheduled_at, started_at,
             paused_at, completed_at, created_by, created_at, updated_at
         FROM campaigns WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<CampaignRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        CampaignRow,
        "SELECT id, organization_id, number_id, template_id, name, status, audience, parameters, scheduled_at, started_at,
             paused_at, completed_at, created_by, created_at, updated_at
         FROM campaigns WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        org.as_uuid(),
        after,
        i64::from(limit) + 1
    )?)
}

/// Moves a campaign from one of `from` to `to`; false when it was in none of them.
pub async fn transition(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    from: &[&str],
    to: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let from = from.join(",");
    let n = sql_exec!(
        c,
        "UPDATE campaigns SET status = $4, updated_at = $5,
             started_at = CASE WHEN $4 = 'running' AND started_at IS NULL THEN $5 ELSE started_at END,
             paused_at = CASE WHEN $4 = 'paused' THEN $5 ELSE paused_at END,
             completed_at = CASE WHEN $4 IN ('completed', 'cancelled') THEN $5 ELSE completed_at END
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL
           AND (',' || $3 || ',') LIKE ('%,' || status || ',%')",
        org.as_uuid(),
        id,
        from,
        to,
        now
    )?;
    Ok(n == 1)
}

/// Campaigns that should be sending now, in every organization (for the runner).
pub async fn due(c: &mut dyn Conn, now: DateTime<Utc>) -> Result<Vec<CampaignRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        CampaignRow,
        "SELECT id, organization_id, number_id, template_id, name, status, audience, parameters, scheduled_at, started_at,
             paused_at, completed_at, created_by, created_at, updated_at
         FROM campaigns WHERE deleted_at IS NULL AND (status = 'running' OR (status = 'scheduled' AND scheduled_at <= $1))
         ORDER BY id LIMIT 100",
        now
    )?)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RecipientRow {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub wa_id: String,
    pub parameters: Json<Value>,
}

/// Adds a recipient (once per contact); `status` is `pending` or `skipped` (with the reason).
#[allow(clippy::too_many_arguments)]
pub async fn add_recipient(
    c: &mut dyn Conn,
    org: OrgId,
    campaign: Uuid,
    contact: Uuid,
    wa_id: &str,
    parameters: &Value,
    status: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO campaign_recipients (id, organization_id, campaign_id, contact_id, wa_id, parameters, status, attempts, error,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $9) ON CONFLICT (campaign_id, contact_id) DO NOTHING",
        Uuid::now_v7(),
        org.as_uuid(),
        campaign,
        contact,
        wa_id,
        Json(parameters),
        status,
        reason,
        now
    )?;
    Ok(())
}

pub async fn pending(
    c: &mut dyn Conn,
    org: OrgId,
    campaign: Uuid,
    limit: u32,
) -> Result<Vec<RecipientRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        RecipientRow,
        "SELECT id, contact_id, wa_id, parameters FROM campaign_recipients
         WHERE organization_id = $1 AND campaign_id = $2 AND status = 'pending' ORDER BY id LIMIT $3",
        org.as_uuid(),
        campaign,
        i64::from(limit)
    )?)
}

/// Marks a pending recipient queued with its message; false when someone already did.
pub async fn mark_queued(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    message: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE campaign_recipients SET status = 'queued', message_id = $2, attempts = attempts + 1, updated_at = $3
         WHERE id = $1 AND status = 'pending' AND organization_id = $4",
        id,
        message,
        now,
        org.as_uuid()
    )?;
    Ok(n == 1)
}

pub async fn cancel_pending(
    c: &mut dyn Conn,
    org: OrgId,
    campaign: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sql_exec!(
        c,
        "UPDATE campaign_recipients SET status = 'cancelled', updated_at = $3
         WHERE organization_id = $1 AND campaign_id = $2 AND status = 'pending'",
        org.as_uuid(),
        campaign,
        now
    )?)
}

pub async fn has_recipients(c: &mut dyn Conn, org: OrgId, campaign: Uuid) -> Result<bool, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_one,
        i64,
        "SELECT COUNT(*) FROM campaign_recipients WHERE organization_id = $1 AND campaign_id = $2",
        org.as_uuid(),
        campaign
    )? > 0)
}

#[derive(Debug, sqlx::FromRow)]
pub struct ProgressRow {
    pub recipient_status: String,
    pub message_status: Option<String>,
    pub n: i64,
}

/// Recipients by their own status and their message's.
pub async fn progress(c: &mut dyn Conn, org: OrgId, campaign: Uuid) -> Result<Vec<ProgressRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        ProgressRow,
        "SELECT r.status AS recipient_status, m.status AS message_status, CAST(COUNT(*) AS BIGINT) AS n
         FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
         WHERE r.organization_id = $1 AND r.campaign_id = $2 GROUP BY r.status, m.status",
        org.as_uuid(),
        campaign
    )?)
}

/// Recipients who wrote back after their campaign message.
pub async fn replied(c: &mut dyn Conn, org: OrgId, campaign: Uuid) -> Result<i64, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_one,
        i64,
        "SELECT COUNT(*) FROM campaign_recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.organization_id = $1 AND r.campaign_id = $2 AND EXISTS (
             SELECT 1 FROM messages i WHERE i.organization_id = $1 AND i.conversation_id = m.conversation_id
               AND i.direction = 'inbound' AND i.created_at > m.created_at)",
        org.as_uuid(),
        campaign
    )?)
}

/// Contacts of the audience: any of the tags, plus the listed ids (live ones only).
pub async fn audience_contacts(
    c: &mut dyn Conn,
    org: OrgId,
    tag: &str,
) -> Result<Vec<crate::repo::contacts::ContactRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        crate::repo::contacts::ContactRow,
        "SELECT k.id, k.organization_id, k.wa_id, k.name, k.profile_name, k.email, k.phone, k.company, k.attributes,
             k.lifecycle_stage, k.is_blocked, k.blocked_reason, k.is_vip, k.opt_in, k.opt_in_at, k.opt_out_at,
             k.last_inbound_at, k.created_at, k.updated_at
         FROM contacts k JOIN contact_tags ct ON ct.contact_id = k.id JOIN tags t ON t.id = ct.tag_id
         WHERE k.organization_id = $1 AND k.deleted_at IS NULL AND t.name = $2 ORDER BY k.id LIMIT 100000",
        org.as_uuid(),
        tag
    )?)
}

/// Replaces a draft's audience; false when the campaign is not a draft.
pub async fn set_audience(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    audience: &Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE campaigns SET audience = $3, updated_at = $4 WHERE organization_id = $1 AND id = $2 AND status = 'draft' AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        Json(audience),
        now
    )?;
    Ok(n == 1)
}

#[derive(Debug, sqlx::FromRow)]
pub struct RecipientStatusRow {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub wa_id: String,
    pub recipient_status: String,
    pub message_status: Option<String>,
    pub message_id: Option<Uuid>,
    pub error: Option<String>,
    pub error_code: Option<i32>,
    pub updated_at: DateTime<Utc>,
}

/// Each recipient with its message's status (oldest first).
pub async fn recipients(
    c: &mut dyn Conn,
    org: OrgId,
    campaign: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<RecipientStatusRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        RecipientStatusRow,
        "SELECT r.id, r.contact_id, r.wa_id, r.status AS recipient_status, m.status AS message_status, r.message_id,
             COALESCE(m.error_title, r.error) AS error, m.error_code, r.updated_at
         FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
         WHERE r.organization_id = $1 AND r.campaign_id = $2 AND ($3 IS NULL OR r.id > $3) ORDER BY r.id LIMIT $4",
        org.as_uuid(),
        campaign,
        after,
        i64::from(limit) + 1
    )?)
}
