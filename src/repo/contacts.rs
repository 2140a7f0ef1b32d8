//! Contacts: the people who write to an organization's numbers, keyed by (organization, wa_id).

use crate::db::{Conn, StoreError};
use crate::sql_as;
#[allow(unused_imports)]
use crate::sql_exec;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use std::sync::LazyLock;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ContactRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub wa_id: String,
    pub name: Option<String>,
    pub profile_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub attributes: Json<Value>,
    pub lifecycle_stage: Option<String>,
    pub is_blocked: bool,
    pub blocked_reason: Option<String>,
    pub is_vip: bool,
    pub opt_in: bool,
    pub opt_in_at: Option<DateTime<Utc>>,
    pub opt_out_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Creates the contact of an inbound message or refreshes its profile name and last-seen time (a
/// deleted contact who writes again comes back).
pub async fn upsert_inbound(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    wa_id: &str,
    profile_name: Option<&str>,
    seen_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ContactRow, StoreError> {
    Ok(sql_as!(
        c,
        fetch_one,
        ContactRow,
        "INSERT INTO contacts (id, organization_id, wa_id, profile_name, attributes, lifecycle_stage, is_blocked, is_vip, opt_in,
             last_inbound_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'lead', $6, $6, $6, $7, $8, $8)
         ON CONFLICT (organization_id, wa_id) DO UPDATE SET
             profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
             last_inbound_at = EXCLUDED.last_inbound_at, updated_at = EXCLUDED.updated_at, deleted_at = NULL
         RETURNING id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
             is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, last_inbound_at, created_at, updated_at",
        id,
        org.as_uuid(),
        wa_id,
        profile_name,
        Json(serde_json::json!({})),
        false,
        seen_at,
        now
    )?)
}

/// One contact seen on an inbound message, for [`upsert_inbound_many`].
#[derive(Debug, Clone, Copy)]
pub struct InboundContact<'a> {
    pub org: OrgId,
    /// The id used when the contact is new.
    pub new_id: Uuid,
    pub wa_id: &'a str,
    pub profile_name: Option<&'a str>,
    pub seen_at: DateTime<Utc>,
}

/// PostgreSQL: the insert of contacts first seen in inbound messages (of any organizations),
/// `created_at`/`updated_at` from placeholder `$now`, the rows' five arrays from `$first` on (bound
/// by [`pg_bind_inbound`]). No conflict clause: callers add theirs.
pub(crate) fn pg_insert_inbound_sql(now: usize, first: usize) -> String {
    format!(
        "INSERT INTO contacts (id, organization_id, wa_id, profile_name, attributes, lifecycle_stage, is_blocked, is_vip, opt_in,
             last_inbound_at, created_at, updated_at)
         SELECT u.id, u.organization_id, u.wa_id, u.profile_name, '{{}}'::jsonb, 'lead', false, false, false, u.seen_at, ${now}, ${now}
         FROM {}",
        crate::db::pg_unnest("u", &PG_INBOUND_COLUMNS, first)
    )
}

/// The arrays of a PostgreSQL inbound contact insert, in the order [`pg_bind_inbound`] binds them.
const PG_INBOUND_COLUMNS: [(&str, &str); 5] = [
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("wa_id", "text"),
    ("profile_name", "text"),
    ("seen_at", "timestamptz"),
];

/// How many arrays [`pg_bind_inbound`] binds.
pub(crate) const PG_INBOUND_ARRAYS: usize = PG_INBOUND_COLUMNS.len();

/// Binds the arrays [`pg_insert_inbound_sql`] reads.
pub(crate) fn pg_bind_inbound(args: &mut PgArguments, rows: &[InboundContact<'_>]) -> Result<(), StoreError> {
    use crate::db::pg_push;
    pg_push(args, rows.iter().map(|r| r.new_id).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.org.as_uuid()).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.wa_id.to_string()).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.profile_name.map(String::from)).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.seen_at).collect::<Vec<_>>())
}

/// Many [`upsert_inbound`]s at once: one statement on PostgreSQL (the input must name each
/// (organization, wa_id) once), one by one on SQLite.
pub async fn upsert_inbound_many(
    c: &mut dyn Conn,
    rows: &[InboundContact<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<ContactRow>, StoreError> {
    use crate::db::ConnRef;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    match c.conn() {
        ConnRef::Postgres(conn) => {
            static UPSERT_MANY: LazyLock<String> = LazyLock::new(|| {
                format!(
                    "{} ON CONFLICT (organization_id, wa_id) DO UPDATE SET
                         profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
                         last_inbound_at = EXCLUDED.last_inbound_at, updated_at = EXCLUDED.updated_at, deleted_at = NULL
                     RETURNING id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
                         is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, last_inbound_at, created_at, updated_at",
                    pg_insert_inbound_sql(1, 2)
                )
            });
            let mut args = PgArguments::default();
            crate::db::pg_push(&mut args, now)?;
            pg_bind_inbound(&mut args, rows)?;
            Ok(sqlx::query_as_with::<_, ContactRow, _>(UPSERT_MANY.as_str(), args).fetch_all(conn).await?)
        }
        ConnRef::Sqlite(_) => {
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(upsert_inbound(c, r.org, r.new_id, r.wa_id, r.profile_name, r.seen_at, now).await?);
            }
            Ok(out)
        }
    }
}

pub async fn find_by_wa_id(c: &mut dyn Conn, org: OrgId, wa_id: &str) -> Result<Option<ContactRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        ContactRow,
        "SELECT id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
             is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, last_inbound_at, created_at, updated_at
         FROM contacts WHERE organization_id = $1 AND wa_id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        wa_id
    )?)
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<ContactRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        ContactRow,
        "SELECT id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
             is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, last_inbound_at, created_at, updated_at
         FROM contacts WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub struct ContactFilter<'a> {
    pub wa_id: Option<&'a str>,
    /// A lowercase `LIKE` pattern over name, profile name, wa_id, phone and email.
    pub search: Option<&'a str>,
    /// A tag name.
    pub tag: Option<&'a str>,
}

pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    f: &ContactFilter<'_>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ContactRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        ContactRow,
        "SELECT id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
             is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, last_inbound_at, created_at, updated_at
         FROM contacts
         WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2) AND ($3 IS NULL OR wa_id = $3)
           AND ($4 IS NULL OR LOWER(COALESCE(name, '')) LIKE $4 ESCAPE '\\' OR LOWER(COALESCE(profile_name, '')) LIKE $4 ESCAPE '\\'
                OR wa_id LIKE $4 ESCAPE '\\' OR LOWER(COALESCE(phone, '')) LIKE $4 ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE $4 ESCAPE '\\')
           AND ($6 IS NULL OR EXISTS (SELECT 1 FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id
                WHERE ct.organization_id = $1 AND ct.contact_id = contacts.id AND t.name = $6))
         ORDER BY id LIMIT $5",
        org.as_uuid(),
        after,
        f.wa_id,
        f.search,
        i64::from(limit) + 1,
        f.tag
    )?)
}

/// A contact created by hand (or imported). A soft-deleted contact with the same wa_id comes back
/// with the new fields. False when a live contact already has that wa_id.
pub async fn insert_manual(
    c: &mut dyn Conn,
    org: OrgId,
    r: &ContactRow,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "INSERT INTO contacts (id, organization_id, wa_id, name, profile_name, email, phone, company, attributes, lifecycle_stage,
             is_blocked, blocked_reason, is_vip, opt_in, opt_in_at, opt_out_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9, false, NULL, $10, $11, $12, NULL, $13, $13)
         ON CONFLICT (organization_id, wa_id) DO UPDATE SET
             name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, company = EXCLUDED.company,
             attributes = EXCLUDED.attributes, lifecycle_stage = EXCLUDED.lifecycle_stage, is_vip = EXCLUDED.is_vip,
             opt_in = EXCLUDED.opt_in, opt_in_at = EXCLUDED.opt_in_at, is_blocked = false, blocked_reason = NULL,
             deleted_at = NULL, updated_at = EXCLUDED.updated_at
         WHERE contacts.deleted_at IS NOT NULL",
        r.id,
        org.as_uuid(),
        &r.wa_id,
        &r.name,
        &r.email,
        &r.phone,
        &r.company,
        &r.attributes,
        &r.lifecycle_stage,
        r.is_vip,
        r.opt_in,
        r.opt_in_at,
        now
    )?;
    Ok(n == 1)
}

/// Writes a contact's editable fields.
pub async fn update(c: &mut dyn Conn, org: OrgId, r: &ContactRow, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE contacts SET name = $3, email = $4, phone = $5, company = $6, attributes = $7, lifecycle_stage = $8,
             is_blocked = $9, blocked_reason = $10, is_vip = $11, opt_in = $12, opt_in_at = $13, opt_out_at = $14, updated_at = $15
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        r.id,
        &r.name,
        &r.email,
        &r.phone,
        &r.company,
        &r.attributes,
        &r.lifecycle_stage,
        r.is_blocked,
        &r.blocked_reason,
        r.is_vip,
        r.opt_in,
        r.opt_in_at,
        r.opt_out_at,
        now
    )?;
    Ok(n == 1)
}

pub async fn soft_delete(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE contacts SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}

/// A contact's tag names, sorted.
pub async fn tags_of(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Vec<String>, StoreError> {
    Ok(crate::sql_scalar!(
        c,
        fetch_all,
        String,
        "SELECT t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id
         WHERE ct.organization_id = $1 AND ct.contact_id = $2 ORDER BY t.name",
        org.as_uuid(),
        id
    )?)
}

pub async fn tag(c: &mut dyn Conn, org: OrgId, id: Uuid, tag: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO contact_tags (organization_id, contact_id, tag_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        org.as_uuid(),
        id,
        tag,
        now
    )?;
    Ok(())
}

/// Removes a tag (by name); false when the contact did not have it.
pub async fn untag(c: &mut dyn Conn, org: OrgId, id: Uuid, name: &str) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "DELETE FROM contact_tags WHERE organization_id = $1 AND contact_id = $2
           AND tag_id IN (SELECT id FROM tags WHERE organization_id = $1 AND name = $3)",
        org.as_uuid(),
        id,
        name
    )?;
    Ok(n > 0)
}

/// Contact fields a flow saved: the known ones go to their columns, the rest into `attributes`.
pub async fn apply_fields(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    fields: &serde_json::Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let text = |k: &str| fields.get(k).map(crate::repo::contacts::as_text).filter(|s| !s.is_empty());
    let mut extra = serde_json::Map::new();
    for (k, v) in fields {
        if !["name", "email", "phone", "company", "lifecycle_stage"].contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    let current: Option<Json<Value>> = crate::sql_scalar!(
        c,
        fetch_optional,
        Json<Value>,
        "SELECT attributes FROM contacts WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id
    )?;
    let mut attributes =
        current.map(|j| j.0).filter(Value::is_object).unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(obj) = attributes.as_object_mut() {
        obj.extend(extra);
    }
    crate::sql_exec!(
        c,
        "UPDATE contacts SET name = COALESCE($3, name), email = COALESCE($4, email), phone = COALESCE($5, phone),
             company = COALESCE($6, company), lifecycle_stage = COALESCE($7, lifecycle_stage), attributes = $8, updated_at = $9
         WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        text("name"),
        text("email"),
        text("phone"),
        text("company"),
        text("lifecycle_stage"),
        Json(&attributes),
        now
    )?;
    Ok(())
}

pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
