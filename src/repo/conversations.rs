//! Conversations. Writes are versioned: an update names the version it read and fails (0 rows) if
//! anyone wrote since, so concurrent writers (actors on several nodes, agents' REST calls) never lose
//! each other's changes.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{ConversationRecord, ConversationStatus};
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use std::sync::LazyLock;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub contact_id: Uuid,
    pub number_id: Uuid,
    pub status: String,
    pub is_bot_active: bool,
    pub assigned_agent_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub priority: i32,
    pub handoff_note: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub window_expires_at: Option<DateTime<Utc>>,
    pub unread_count: i32,
    pub flow_id: Option<Uuid>,
    pub flow_version_id: Option<Uuid>,
    pub flow_state: Json<Value>,
    pub sla_breached_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConversationRow {
    pub fn record(&self) -> Result<ConversationRecord, StoreError> {
        Ok(ConversationRecord {
            id: self.id,
            contact_id: self.contact_id,
            status: ConversationStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("conversation {} has status `{}`", self.id, self.status)))?,
            is_bot_active: self.is_bot_active,
            assigned_agent_id: self.assigned_agent_id,
            department_id: self.department_id,
            queue_id: self.queue_id,
            priority: self.priority,
            queued_at: self.queued_at,
            last_message_at: self.last_message_at,
            last_inbound_at: self.last_inbound_at,
            window_expires_at: self.window_expires_at,
            unread_count: self.unread_count,
            flow_id: self.flow_id,
            flow_version_id: self.flow_version_id,
            flow_state: self.flow_state.0.clone(),
            handoff_note: self.handoff_note.clone(),
            version: self.version,
            created_at: self.created_at,
        })
    }
}

/// A conversation with its contact's identity, for lists and views.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConversationWithContact {
    #[sqlx(flatten)]
    pub conversation: ConversationRow,
    pub contact_wa_id: String,
    pub contact_name: Option<String>,
}

/// The conversation of `contact` on `number` that is not closed.
pub async fn find_open(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    contact_id: Uuid,
) -> Result<Option<ConversationRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        ConversationRow,
        "SELECT id, organization_id, contact_id, number_id, status, is_bot_active, assigned_agent_id, department_id, queue_id,
             priority, handoff_note, queued_at, assigned_at, first_response_at, closed_at, last_message_at, last_inbound_at,
             window_expires_at, unread_count, flow_id, flow_version_id, flow_state, sla_breached_at, version, created_at, updated_at
         FROM conversations WHERE organization_id = $1 AND number_id = $2 AND contact_id = $3 AND status <> 'closed'",
        org.as_uuid(),
        number_id,
        contact_id
    )?)
}

pub async fn insert(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    r: &ConversationRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO conversations (id, organization_id, contact_id, number_id, status, is_bot_active, assigned_agent_id,
             department_id, queue_id, priority, queued_at, last_message_at, last_inbound_at, window_expires_at, unread_count,
             flow_id, flow_version_id, flow_state, version, created_at, updated_at, handoff_note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        r.id,
        org.as_uuid(),
        r.contact_id,
        number_id,
        r.status.as_str(),
        r.is_bot_active,
        r.assigned_agent_id,
        r.department_id,
        r.queue_id,
        r.priority,
        r.queued_at,
        r.last_message_at,
        r.last_inbound_at,
        r.window_expires_at,
        r.unread_count,
        r.flow_id,
        r.flow_version_id,
        Json(&r.flow_state),
        r.version,
        r.created_at,
        now,
        &r.handoff_note
    )?;
    Ok(())
}

/// Writes the record if the stored version is still `r.version`, bumping it. False on a conflict.
pub async fn update_versioned(
    c: &mut dyn Conn,
    org: OrgId,
    r: &ConversationRecord,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let closed_at = (r.status == ConversationStatus::Closed).then_some(now);
    let n = sql_exec!(
        c,
        "UPDATE conversations SET status = $4, is_bot_active = $5, assigned_agent_id = $6, department_id = $7, queue_id = $8,
             priority = $9, queued_at = $10, last_message_at = $11, last_inbound_at = $12, window_expires_at = $13,
             unread_count = $14, flow_id = $15, flow_version_id = $16, flow_state = $17,
             closed_at = COALESCE($18, closed_at), version = version + 1, updated_at = $19, handoff_note = $20
         WHERE organization_id = $1 AND id = $2 AND version = $3",
        org.as_uuid(),
        r.id,
        r.version,
        r.status.as_str(),
        r.is_bot_active,
        r.assigned_agent_id,
        r.department_id,
        r.queue_id,
        r.priority,
        r.queued_at,
        r.last_message_at,
        r.last_inbound_at,
        r.window_expires_at,
        r.unread_count,
        r.flow_id,
        r.flow_version_id,
        Json(&r.flow_state),
        closed_at,
        now,
        &r.handoff_note
    )?;
    Ok(n == 1)
}

/// Records the first agent reply (kept once set; the actor's versioned writes do not touch it).
pub async fn mark_first_response(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE conversations SET first_response_at = COALESCE(first_response_at, $3) WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(())
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<ConversationWithContact>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        ConversationWithContact,
        "SELECT v.id, v.organization_id, v.contact_id, v.number_id, v.status, v.is_bot_active, v.assigned_agent_id, v.department_id,
             v.queue_id, v.priority, v.handoff_note, v.queued_at, v.assigned_at, v.first_response_at, v.closed_at, v.last_message_at,
             v.last_inbound_at, v.window_expires_at, v.unread_count, v.flow_id, v.flow_version_id, v.flow_state, v.sla_breached_at,
             v.version, v.created_at, v.updated_at, k.wa_id AS contact_wa_id, COALESCE(k.name, k.profile_name) AS contact_name
         FROM conversations v JOIN contacts k ON k.id = v.contact_id
         WHERE v.organization_id = $1 AND v.id = $2",
        org.as_uuid(),
        id
    )?)
}

#[derive(Default)]
pub struct ConversationFilter<'a> {
    pub status: Option<&'a str>,
    pub contact_wa_id: Option<&'a str>,
    pub number_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub assigned_agent_id: Option<Uuid>,
    /// Only what this agent may see: theirs, and the queued ones of their departments (or none).
    pub visible_to_agent: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// A tag name.
    pub tag: Option<&'a str>,
    /// A lowercase `LIKE` pattern over the contact's name and number.
    pub search: Option<&'a str>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

/// Conversations of `org`, newest first, before the cursor `before`.
pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    f: &ConversationFilter<'_>,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ConversationWithContact>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        ConversationWithContact,
        "SELECT v.id, v.organization_id, v.contact_id, v.number_id, v.status, v.is_bot_active, v.assigned_agent_id, v.department_id,
             v.queue_id, v.priority, v.handoff_note, v.queued_at, v.assigned_at, v.first_response_at, v.closed_at, v.last_message_at,
             v.last_inbound_at, v.window_expires_at, v.unread_count, v.flow_id, v.flow_version_id, v.flow_state, v.sla_breached_at,
             v.version, v.created_at, v.updated_at, k.wa_id AS contact_wa_id, COALESCE(k.name, k.profile_name) AS contact_name
         FROM conversations v JOIN contacts k ON k.id = v.contact_id
         WHERE v.organization_id = $1
           AND ($2 IS NULL OR ($14 AND v.id > $2) OR (NOT $14 AND v.id < $2))
           AND ($3 IS NULL OR v.status = $3)
           AND ($4 IS NULL OR k.wa_id = $4) AND ($5 IS NULL OR v.number_id = $5)
           AND ($7 IS NULL OR v.queue_id = $7) AND ($8 IS NULL OR v.department_id = $8)
           AND ($9 IS NULL OR v.assigned_agent_id = $9)
           AND ($10 IS NULL OR v.assigned_agent_id = $10 OR (v.status = 'queued' AND v.assigned_agent_id IS NULL AND (v.department_id IS NULL
                OR v.department_id IN (SELECT department_id FROM user_departments WHERE organization_id = $1 AND user_id = $10))))
           AND ($11 IS NULL OR v.contact_id = $11)
           AND ($12 IS NULL OR EXISTS (SELECT 1 FROM conversation_tags ct JOIN tags t ON t.id = ct.tag_id
                WHERE ct.organization_id = $1 AND ct.conversation_id = v.id AND t.name = $12))
           AND ($13 IS NULL OR LOWER(COALESCE(k.name, '')) LIKE $13 ESCAPE '\\' OR LOWER(COALESCE(k.profile_name, '')) LIKE $13 ESCAPE '\\'
                OR k.wa_id LIKE $13 ESCAPE '\\')
         ORDER BY CASE WHEN $14 THEN v.id END ASC, CASE WHEN NOT $14 THEN v.id END DESC LIMIT $6",
        org.as_uuid(),
        before,
        f.status,
        f.contact_wa_id,
        f.number_id,
        i64::from(limit) + 1,
        f.queue_id,
        f.department_id,
        f.assigned_agent_id,
        f.visible_to_agent,
        f.contact_id,
        f.tag,
        f.search,
        f.oldest_first
    )?)
}

/// Inserts the conversation unless the contact already has one that is not closed (or the id is
/// taken). False when nothing was inserted.
pub async fn insert_if_absent(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    r: &ConversationRecord,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "INSERT INTO conversations (id, organization_id, contact_id, number_id, status, is_bot_active, assigned_agent_id,
             department_id, queue_id, priority, queued_at, last_message_at, last_inbound_at, window_expires_at, unread_count,
             flow_id, flow_version_id, flow_state, version, created_at, updated_at, handoff_note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
         ON CONFLICT DO NOTHING",
        r.id,
        org.as_uuid(),
        r.contact_id,
        number_id,
        r.status.as_str(),
        r.is_bot_active,
        r.assigned_agent_id,
        r.department_id,
        r.queue_id,
        r.priority,
        r.queued_at,
        r.last_message_at,
        r.last_inbound_at,
        r.window_expires_at,
        r.unread_count,
        r.flow_id,
        r.flow_version_id,
        Json(&r.flow_state),
        r.version,
        r.created_at,
        now,
        &r.handoff_note
    )?;
    Ok(n == 1)
}

/// Many [`insert_if_absent`]s at once (one statement on PostgreSQL): (organization, number,
/// record). Returns the ids inserted; a conversation already open for the contact and number
/// inserts nothing.
pub async fn insert_if_absent_many(
    c: &mut dyn Conn,
    rows: &[(OrgId, Uuid, &ConversationRecord)],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    use crate::db::ConnRef;
    let mut inserted = std::collections::HashSet::new();
    if rows.is_empty() {
        return Ok(inserted);
    }
    match c.conn() {
        ConnRef::Postgres(conn) => {
            static INSERT_MANY: LazyLock<String> =
                LazyLock::new(|| format!("{} ON CONFLICT DO NOTHING RETURNING id", pg_insert_new_sql(1, 2)));
            let mut args = PgArguments::default();
            crate::db::pg_push(&mut args, now)?;
            pg_bind_new(&mut args, rows)?;
            let ids: Vec<Uuid> = sqlx::query_scalar_with(INSERT_MANY.as_str(), args).fetch_all(conn).await?;
            inserted.extend(ids);
        }
        ConnRef::Sqlite(_) => {
            for (org, number_id, record) in rows {
                if insert_if_absent(c, *org, *number_id, record, now).await? {
                    inserted.insert(record.id);
                }
            }
        }
    }
    Ok(inserted)
}

/// Removes a conversation created in the same transaction (compensation when its first message
/// turns out to be a duplicate).
pub async fn delete_new(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<(), StoreError> {
    sql_exec!(c, "DELETE FROM conversations WHERE organization_id = $1 AND id = $2", org.as_uuid(), id)?;
    Ok(())
}

/// The conversation state both the insert and the versioned update write, as arrays in this order
/// (bound by [`pg_push_state`]).
const PG_STATE_COLUMNS: [(&str, &str); 14] = [
    ("status", "text"),
    ("is_bot_active", "bool"),
    ("assigned_agent_id", "uuid"),
    ("department_id", "uuid"),
    ("queue_id", "uuid"),
    ("priority", "int4"),
    ("queued_at", "timestamptz"),
    ("last_message_at", "timestamptz"),
    ("last_inbound_at", "timestamptz"),
    ("window_expires_at", "timestamptz"),
    ("unread_count", "int4"),
    ("flow_id", "uuid"),
    ("flow_version_id", "uuid"),
    ("flow_state", "text"),
];

/// Binds the [`PG_STATE_COLUMNS`] arrays of `records`.
fn pg_push_state<'r>(
    args: &mut PgArguments,
    records: impl Iterator<Item = &'r ConversationRecord> + Clone,
) -> Result<(), StoreError> {
    use crate::db::pg_push;
    pg_push(args, records.clone().map(|r| r.status.as_str().to_string()).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.is_bot_active).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.assigned_agent_id).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.department_id).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.queue_id).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.priority).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.queued_at).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.last_message_at).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.last_inbound_at).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.window_expires_at).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.unread_count).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.flow_id).collect::<Vec<_>>())?;
    pg_push(args, records.clone().map(|r| r.flow_version_id).collect::<Vec<_>>())?;
    pg_push(args, records.map(|r| r.flow_state.to_string()).collect::<Vec<_>>())
}

/// `head`, the state columns, then `tail`: the arrays of one statement, in binding order.
fn pg_columns(
    head: &[(&'static str, &'static str)],
    tail: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    head.iter().chain(&PG_STATE_COLUMNS).chain(tail).copied().collect()
}

/// Arrays of a conversation insert before and after the state ones ([`pg_bind_new`]'s order).
const PG_NEW_HEAD: [(&str, &str); 4] =
    [("id", "uuid"), ("organization_id", "uuid"), ("contact_id", "uuid"), ("number_id", "uuid")];
const PG_NEW_TAIL: [(&str, &str); 3] = [("version", "int8"), ("created_at", "timestamptz"), ("handoff_note", "text")];

/// How many arrays [`pg_bind_new`] binds.
pub(crate) const PG_NEW_ARRAYS: usize = PG_NEW_HEAD.len() + PG_STATE_COLUMNS.len() + PG_NEW_TAIL.len();

/// PostgreSQL: the insert of many new conversations (of any organizations), `updated_at` from
/// placeholder `$now`, the rows' arrays from `$first` on (bound by [`pg_bind_new`]). No conflict
/// clause: callers add theirs.
pub(crate) fn pg_insert_new_sql(now: usize, first: usize) -> String {
    format!(
        "INSERT INTO conversations (id, organization_id, contact_id, number_id, status, is_bot_active, assigned_agent_id,
             department_id, queue_id, priority, queued_at, last_message_at, last_inbound_at, window_expires_at, unread_count,
             flow_id, flow_version_id, flow_state, version, created_at, updated_at, handoff_note)
         SELECT u.id, u.organization_id, u.contact_id, u.number_id, u.status, u.is_bot_active, u.assigned_agent_id,
             u.department_id, u.queue_id, u.priority, u.queued_at, u.last_message_at, u.last_inbound_at, u.window_expires_at,
             u.unread_count, u.flow_id, u.flow_version_id, u.flow_state::jsonb, u.version, u.created_at, ${now}, u.handoff_note
         FROM {}",
        crate::db::pg_unnest("u", &pg_columns(&PG_NEW_HEAD, &PG_NEW_TAIL), first)
    )
}

/// Binds the arrays [`pg_insert_new_sql`] reads: (organization, number id, record) per row.
pub(crate) fn pg_bind_new(
    args: &mut PgArguments,
    rows: &[(OrgId, Uuid, &ConversationRecord)],
) -> Result<(), StoreError> {
    use crate::db::pg_push;
    pg_push(args, rows.iter().map(|r| r.2.id).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.0.as_uuid()).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.2.contact_id).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.1).collect::<Vec<_>>())?;
    pg_push_state(args, rows.iter().map(|r| r.2))?;
    pg_push(args, rows.iter().map(|r| r.2.version).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.2.created_at).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.2.handoff_note.clone()).collect::<Vec<_>>())
}

/// Arrays of a versioned update before and after the state ones ([`pg_bind_versioned`]'s order).
const PG_VERSIONED_HEAD: [(&str, &str); 3] = [("id", "uuid"), ("organization_id", "uuid"), ("version", "int8")];
const PG_VERSIONED_TAIL: [(&str, &str); 2] = [("closed_at", "timestamptz"), ("handoff_note", "text")];

/// How many arrays [`pg_bind_versioned`] binds.
pub(crate) const PG_VERSIONED_ARRAYS: usize =
    PG_VERSIONED_HEAD.len() + PG_STATE_COLUMNS.len() + PG_VERSIONED_TAIL.len();

/// PostgreSQL: the versioned update of many conversations (of any organizations), `updated_at` from
/// placeholder `$now`, the rows' arrays from `$first` on (bound by [`pg_bind_versioned`]). A row
/// whose version moved on updates nothing. No RETURNING: callers add what they need.
pub(crate) fn pg_update_versioned_sql(now: usize, first: usize) -> String {
    format!(
        "UPDATE conversations SET status = v.status, is_bot_active = v.is_bot_active, assigned_agent_id = v.assigned_agent_id,
             department_id = v.department_id, queue_id = v.queue_id, priority = v.priority, queued_at = v.queued_at,
             last_message_at = v.last_message_at, last_inbound_at = v.last_inbound_at, window_expires_at = v.window_expires_at,
             unread_count = v.unread_count, flow_id = v.flow_id, flow_version_id = v.flow_version_id,
             flow_state = v.flow_state::jsonb, closed_at = COALESCE(v.closed_at, conversations.closed_at),
             handoff_note = v.handoff_note, version = conversations.version + 1, updated_at = ${now}
         FROM {}
         WHERE conversations.organization_id = v.organization_id AND conversations.id = v.id AND conversations.version = v.version",
        crate::db::pg_unnest("v", &pg_columns(&PG_VERSIONED_HEAD, &PG_VERSIONED_TAIL), first)
    )
}

/// Binds the arrays [`pg_update_versioned_sql`] reads (a closed conversation's `closed_at` is `now`).
pub(crate) fn pg_bind_versioned(
    args: &mut PgArguments,
    rows: &[(OrgId, &ConversationRecord)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use crate::db::pg_push;
    let closed_at = |r: &ConversationRecord| (r.status == ConversationStatus::Closed).then_some(now);
    pg_push(args, rows.iter().map(|(_, r)| r.id).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|(o, _)| o.as_uuid()).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|(_, r)| r.version).collect::<Vec<_>>())?;
    pg_push_state(args, rows.iter().map(|(_, r)| *r))?;
    pg_push(args, rows.iter().map(|(_, r)| closed_at(r)).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|(_, r)| r.handoff_note.clone()).collect::<Vec<_>>())
}

/// Writes many records in one statement, each only if its stored version still equals its
/// `version` (bumping it). Returns the ids written; the others conflicted.
pub async fn update_versioned_many(
    c: &mut dyn Conn,
    org: OrgId,
    records: &[&ConversationRecord],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    use crate::db::ConnRef;
    let closed_at = |r: &ConversationRecord| (r.status == ConversationStatus::Closed).then_some(now);
    let mut written = std::collections::HashSet::new();
    match c.conn() {
        ConnRef::Postgres(conn) => {
            static UPDATE_MANY: LazyLock<String> =
                LazyLock::new(|| format!("{} RETURNING conversations.id", pg_update_versioned_sql(1, 2)));
            let mut args = PgArguments::default();
            crate::db::pg_push(&mut args, now)?;
            let rows: Vec<(OrgId, &ConversationRecord)> = records.iter().map(|r| (org, *r)).collect();
            pg_bind_versioned(&mut args, &rows, now)?;
            let got: Vec<Uuid> = sqlx::query_scalar_with(UPDATE_MANY.as_str(), args).fetch_all(conn).await?;
            written.extend(got);
        }
        ConnRef::Sqlite(conn) => {
            const COLS: usize = 19;
            for chunk in records.chunks(200) {
                let now_param = chunk.len() * COLS + 1;
                let sql = sqlx::AssertSqlSafe(format!(
                    "WITH v(organization_id, id, version, status, is_bot_active, assigned_agent_id, department_id, queue_id, priority,
                          queued_at, last_message_at, last_inbound_at, window_expires_at, unread_count, flow_id, flow_version_id,
                          flow_state, closed_at, handoff_note) AS (VALUES {})
                     UPDATE conversations SET status = v.status, is_bot_active = v.is_bot_active, assigned_agent_id = v.assigned_agent_id,
                         department_id = v.department_id, queue_id = v.queue_id, priority = v.priority, queued_at = v.queued_at,
                         last_message_at = v.last_message_at, last_inbound_at = v.last_inbound_at, window_expires_at = v.window_expires_at,
                         unread_count = v.unread_count, flow_id = v.flow_id, flow_version_id = v.flow_version_id, flow_state = v.flow_state,
                         closed_at = COALESCE(v.closed_at, conversations.closed_at), handoff_note = v.handoff_note,
                         version = conversations.version + 1, updated_at = ${now_param}
                     FROM v
                     WHERE conversations.organization_id = v.organization_id AND conversations.id = v.id AND conversations.version = v.version
                     RETURNING conversations.id",
                    crate::db::placeholders(chunk.len(), COLS, |_| String::new())
                ));
                let mut q = sqlx::query_scalar::<_, Uuid>(sql).persistent(false);
                for r in chunk {
                    q = q
                        .bind(org.as_uuid())
                        .bind(r.id)
                        .bind(r.version)
                        .bind(r.status.as_str())
                        .bind(r.is_bot_active)
                        .bind(r.assigned_agent_id)
                        .bind(r.department_id)
                        .bind(r.queue_id)
                        .bind(r.priority)
                        .bind(r.queued_at)
                        .bind(r.last_message_at)
                        .bind(r.last_inbound_at)
                        .bind(r.window_expires_at)
                        .bind(r.unread_count)
                        .bind(r.flow_id)
                        .bind(r.flow_version_id)
                        .bind(Json(&r.flow_state))
                        .bind(closed_at(r))
                        .bind(r.handoff_note.as_deref());
                }
                written.extend(q.bind(now).fetch_all(&mut *conn).await?);
            }
        }
    }
    Ok(written)
}

/// Records when an agent took the conversation.
pub async fn set_assigned_at(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE conversations SET assigned_at = $3 WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(())
}

/// Queued, unassigned conversations, best first (priority, then the longest waiting). With
/// `agent`, only those of the agent's departments or of none.
pub async fn queued(
    c: &mut dyn Conn,
    org: OrgId,
    agent: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ConversationRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        ConversationRow,
        "SELECT id, organization_id, contact_id, number_id, status, is_bot_active, assigned_agent_id, department_id,
             queue_id, priority, handoff_note, queued_at, assigned_at, first_response_at, closed_at, last_message_at,
             last_inbound_at, window_expires_at, unread_count, flow_id, flow_version_id, flow_state, sla_breached_at,
             version, created_at, updated_at
         FROM conversations v
         WHERE organization_id = $1 AND status = 'queued' AND assigned_agent_id IS NULL
           AND ($2 IS NULL OR department_id IS NULL
                OR department_id IN (SELECT department_id FROM user_departments WHERE organization_id = $1 AND user_id = $2))
         ORDER BY priority DESC, queued_at, id LIMIT $3",
        org.as_uuid(),
        agent,
        i64::from(limit)
    )?)
}

/// Open conversations held by each agent.
pub async fn load_per_agent(c: &mut dyn Conn, org: OrgId) -> Result<Vec<(Uuid, i64)>, StoreError> {
    let rows: Vec<(Option<Uuid>, i64)> = sql_as!(
        c,
        fetch_all,
        (Option<Uuid>, i64),
        "SELECT assigned_agent_id, COUNT(*) FROM conversations
         WHERE organization_id = $1 AND status = 'assigned' AND assigned_agent_id IS NOT NULL GROUP BY assigned_agent_id",
        org.as_uuid()
    )?;
    Ok(rows.into_iter().filter_map(|(a, n)| Some((a?, n))).collect())
}

/// The ids of the conversations an agent holds.
pub async fn held_by(c: &mut dyn Conn, org: OrgId, agent: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(crate::sql_scalar!(
        c,
        fetch_all,
        Uuid,
        "SELECT id FROM conversations WHERE organization_id = $1 AND assigned_agent_id = $2 AND status = 'assigned' ORDER BY id",
        org.as_uuid(),
        agent
    )?)
}

/// Marks queued conversations whose SLA has run out; returns them (each once).
pub async fn mark_sla_breaches(
    c: &mut dyn Conn,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let due: Vec<(Uuid, Uuid, DateTime<Utc>, i32)> = sql_as!(
        c,
        fetch_all,
        (Uuid, Uuid, DateTime<Utc>, i32),
        "SELECT v.id, q.id, v.queued_at, q.sla_minutes FROM conversations v JOIN queues q ON q.id = v.queue_id
         WHERE v.organization_id = $1 AND v.status = 'queued' AND v.sla_breached_at IS NULL AND q.sla_minutes IS NOT NULL
           AND q.deleted_at IS NULL AND v.queued_at IS NOT NULL",
        org.as_uuid()
    )?;
    let mut breached = Vec::new();
    for (id, queue, queued_at, minutes) in due {
        if queued_at + chrono::Duration::minutes(i64::from(minutes)) <= now {
            let n = sql_exec!(
                c,
                "UPDATE conversations SET sla_breached_at = $3 WHERE organization_id = $1 AND id = $2 AND sla_breached_at IS NULL",
                org.as_uuid(),
                id,
                now
            )?;
            if n == 1 {
                breached.push((id, queue));
            }
        }
    }
    Ok(breached)
}

/// Organizations with conversations waiting in a queue (for the assignment sweep).
pub async fn orgs_with_queued(c: &mut dyn Conn) -> Result<Vec<Uuid>, StoreError> {
    Ok(crate::sql_scalar!(
        c,
        fetch_all,
        Uuid,
        "SELECT DISTINCT organization_id FROM conversations WHERE status = 'queued'"
    )?)
}

/// Bumps the version of a contact's open conversations, so their actors re-read the contact (for
/// instance after it was blocked or unblocked) before their next write.
pub async fn touch_for_contact(
    c: &mut dyn Conn,
    org: OrgId,
    contact: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE conversations SET version = version + 1, updated_at = $3
         WHERE organization_id = $1 AND contact_id = $2 AND status <> 'closed'",
        org.as_uuid(),
        contact,
        now
    )?;
    Ok(())
}
