//! Webhook deliveries and inbox items. An item is inserted once per dedup key (a redelivery inserts
//! nothing), starts `pending`, and becomes `done` in the same transaction as its effects, or
//! `failed` (parked) after too many attempts.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    /// `accepted`, `malformed`, `unknown_number`, `ignored`.
    pub outcome: String,
    pub body_sha256: String,
    pub body_size: i32,
    /// Kept only when the delivery needs inspection (malformed, unknown number).
    pub body: Option<String>,
    pub item_count: i32,
    pub duplicate_count: i32,
    pub error: Option<String>,
    pub source_ip: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewInboxItem {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub kind: &'static str,
    pub dedup_key: String,
    pub contact_wa_id: String,
    pub payload: Value,
    pub wa_timestamp: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingRow {
    pub id: Uuid,
    pub payload: Json<Value>,
    pub attempts: i32,
}

/// Pending items of one conversation key, oldest first.
pub async fn pending_for(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    contact_wa_id: &str,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<PendingRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        PendingRow,
        "SELECT id, payload, attempts FROM inbox_items
         WHERE number_id = $2 AND contact_wa_id = $3 AND state = 'pending' AND organization_id = $1 AND ($4 IS NULL OR id > $4)
         ORDER BY id LIMIT $5",
        org.as_uuid(),
        number_id,
        contact_wa_id,
        after,
        i64::from(limit)
    )?)
}

/// Marks a pending item done. False when it was not pending (already processed).
pub async fn mark_done(c: &mut dyn Conn, id: Uuid, note: Option<&str>, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE inbox_items SET state = 'done', processed_at = $2, last_error = COALESCE($3, last_error)
         WHERE id = $1 AND state = 'pending'",
        id,
        now,
        note
    )?;
    Ok(n == 1)
}

/// Puts a claimed item back to pending (compensation when its change set conflicted).
pub async fn unclaim(c: &mut dyn Conn, id: Uuid) -> Result<(), StoreError> {
    sql_exec!(c, "UPDATE inbox_items SET state = 'pending', processed_at = NULL WHERE id = $1 AND state = 'done'", id)?;
    Ok(())
}

/// Notes why a done item ended the way it did.
pub async fn note(c: &mut dyn Conn, id: Uuid, note: &str) -> Result<(), StoreError> {
    sql_exec!(c, "UPDATE inbox_items SET last_error = $2 WHERE id = $1", id, note)?;
    Ok(())
}

/// Counts a failed attempt; with `park`, the item becomes `failed` and is no longer retried.
pub async fn record_failure(
    c: &mut dyn Conn,
    id: Uuid,
    error: &str,
    park: bool,
    now: DateTime<Utc>,
) -> Result<i32, StoreError> {
    let state = if park { "failed" } else { "pending" };
    let attempts = sql_scalar!(
        c,
        fetch_optional,
        i32,
        "UPDATE inbox_items SET attempts = attempts + 1, last_error = $2, state = $3,
             processed_at = CASE WHEN $3 = 'failed' THEN $4 ELSE processed_at END
         WHERE id = $1 AND state = 'pending' RETURNING attempts",
        id,
        error.chars().take(2000).collect::<String>(),
        state,
        now
    )?;
    Ok(attempts.unwrap_or(0))
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingKey {
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub contact_wa_id: String,
}

/// Conversation keys with pending items created before `before` (recovery and the sweeper).
pub async fn pending_keys(c: &mut dyn Conn, before: DateTime<Utc>, limit: u32) -> Result<Vec<PendingKey>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        PendingKey,
        "SELECT organization_id, number_id, contact_wa_id FROM inbox_items
         WHERE state = 'pending' AND created_at <= $1
         GROUP BY organization_id, number_id, contact_wa_id
         ORDER BY MIN(created_at) LIMIT $2",
        before,
        i64::from(limit)
    )?)
}

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub failed: i64,
}

pub async fn backlog(c: &mut dyn Conn) -> Result<Backlog, StoreError> {
    let pending = sql_scalar!(c, fetch_one, i64, "SELECT COUNT(*) FROM inbox_items WHERE state = 'pending'")?;
    let oldest = sql_scalar!(
        c,
        fetch_optional,
        DateTime<Utc>,
        "SELECT created_at FROM inbox_items WHERE state = 'pending' ORDER BY id LIMIT 1"
    )?;
    let failed = sql_scalar!(c, fetch_one, i64, "SELECT COUNT(*) FROM inbox_items WHERE state = 'failed'")?;
    Ok(Backlog { pending, oldest_pending_at: oldest, failed })
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FailedItem {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub kind: String,
    pub contact_wa_id: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The most recently parked items (for ops).
pub async fn failed_items(c: &mut dyn Conn, limit: u32) -> Result<Vec<FailedItem>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        FailedItem,
        "SELECT id, organization_id, kind, contact_wa_id, attempts, last_error, created_at FROM inbox_items
         WHERE state = 'failed' ORDER BY id DESC LIMIT $1",
        i64::from(limit)
    )?)
}

/// Rows per multi-row INSERT: far below both backends' bind limits (SQLite 32766, PostgreSQL 65535).
const ROWS_PER_INSERT: usize = 400;

/// Binds the same values in order on either backend's query.
macro_rules! bind_each {
    ($query:expr, $rows:expr, |$row:ident| [$($value:expr),* $(,)?]) => {{
        let mut q = $query;
        for $row in $rows {
            $(q = q.bind($value);)*
        }
        q
    }};
}

/// Inserts many deliveries and their items (webhook group commit), each delivery with its count of
/// duplicates (items whose dedup key was already known, which insert nothing). Returns the ids of
/// the items that were new. On PostgreSQL this is one statement, atomic on its own.
pub async fn insert_batch(
    c: &mut dyn Conn,
    deliveries: &[&DeliveryRow],
    items: &[(Uuid, &NewInboxItem)],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    use crate::db::ConnRef;
    let mut inserted = std::collections::HashSet::new();
    match c.conn() {
        // One statement, so atomic without a transaction around it, and one round trip: the items
        // first (their dedup keys decide what is new), then the deliveries with their duplicate
        // counts taken from the items' RETURNING (foreign keys are checked at the statement's end,
        // when both are in). Arrays: one prepared statement whatever the batch size.
        ConnRef::Postgres(conn) => {
            let d = deliveries;
            let got: Vec<Uuid> = sqlx::query_scalar(
                "WITH new_items AS (
                     INSERT INTO inbox_items (id, organization_id, delivery_id, number_id, kind, dedup_key, contact_wa_id, payload,
                         wa_timestamp, created_at, state, attempts)
                     SELECT u.id, u.organization_id, u.delivery_id, u.number_id, u.kind, u.dedup_key, u.contact_wa_id, u.payload::jsonb,
                         u.wa_timestamp, $1, 'pending', 0
                     FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[],
                         $10::timestamptz[])
                         AS u(id, organization_id, delivery_id, number_id, kind, dedup_key, contact_wa_id, payload, wa_timestamp)
                     ON CONFLICT (dedup_key) DO NOTHING RETURNING id, delivery_id),
                 stored AS (
                     INSERT INTO webhook_deliveries (id, received_at, outcome, body_sha256, body_size, body, item_count,
                         duplicate_count, error, source_ip)
                     SELECT v.id, v.received_at, v.outcome, v.body_sha256, v.body_size, v.body, v.item_count,
                         v.item_count - COALESCE(n.new_count, 0)::int4, v.error, v.source_ip
                     FROM UNNEST($11::uuid[], $12::timestamptz[], $13::text[], $14::text[], $15::int4[], $16::text[], $17::int4[],
                         $18::text[], $19::text[]) AS v(id, received_at, outcome, body_sha256, body_size, body, item_count, error, source_ip)
                     LEFT JOIN (SELECT delivery_id, COUNT(*) AS new_count FROM new_items GROUP BY delivery_id) n
                         ON n.delivery_id = v.id)
                 SELECT id FROM new_items",
            )
            .bind(now)
            .bind(items.iter().map(|(_, i)| i.id).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.organization_id).collect::<Vec<_>>())
            .bind(items.iter().map(|(d, _)| *d).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.number_id).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.kind.to_string()).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.dedup_key.clone()).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.contact_wa_id.clone()).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.payload.to_string()).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.wa_timestamp).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.received_at).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.body_sha256.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.body_size).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.body.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.item_count).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.source_ip.clone()).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await?;
            inserted.extend(got);
        }
        ConnRef::Sqlite(conn) => {
            for chunk in deliveries.chunks(ROWS_PER_INSERT) {
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO webhook_deliveries (id, received_at, outcome, body_sha256, body_size, body, item_count, duplicate_count, error, source_ip) VALUES {}",
                    crate::db::placeholders(chunk.len(), 10, |_| String::new())
                ));
                bind_each!(sqlx::query(sql).persistent(false), chunk, |d| [
                    d.id,
                    d.received_at,
                    d.outcome.as_str(),
                    d.body_sha256.as_str(),
                    d.body_size,
                    d.body.as_deref(),
                    d.item_count,
                    d.duplicate_count,
                    d.error.as_deref(),
                    d.source_ip.as_deref()
                ])
                .execute(&mut *conn)
                .await?;
            }
            for chunk in items.chunks(ROWS_PER_INSERT) {
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO inbox_items (id, organization_id, delivery_id, number_id, kind, dedup_key, contact_wa_id, payload, wa_timestamp,
                         created_at, state, attempts) VALUES {} ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                    crate::db::placeholders(chunk.len(), 10, |_| ", 'pending', 0".to_string())
                ));
                let ids = bind_each!(sqlx::query_scalar::<_, Uuid>(sql).persistent(false), chunk, |pair| [
                    pair.1.id,
                    pair.1.organization_id,
                    pair.0,
                    pair.1.number_id,
                    pair.1.kind,
                    pair.1.dedup_key.as_str(),
                    pair.1.contact_wa_id.as_str(),
                    Json(&pair.1.payload),
                    pair.1.wa_timestamp,
                    now
                ])
                .fetch_all(&mut *conn)
                .await?;
                inserted.extend(ids);
            }
            // Each delivery's duplicates: its items whose dedup key was already known.
            let mut new_per_delivery: std::collections::HashMap<Uuid, i32> = std::collections::HashMap::new();
            for (delivery, _) in items.iter().filter(|(_, i)| inserted.contains(&i.id)) {
                *new_per_delivery.entry(*delivery).or_default() += 1;
            }
            for d in deliveries {
                let duplicates = d.item_count - new_per_delivery.get(&d.id).copied().unwrap_or(0);
                if duplicates > 0 {
                    sqlx::query("UPDATE webhook_deliveries SET duplicate_count = $2 WHERE id = $1")
                        .bind(d.id)
                        .bind(duplicates)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
    }
    Ok(inserted)
}

/// Claims many pending items at once (pending -> done); returns the ids claimed.
pub async fn mark_done_many(
    c: &mut dyn Conn,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    use crate::db::ConnRef;
    let mut claimed = std::collections::HashSet::new();
    match c.conn() {
        // One prepared statement for any number of items.
        ConnRef::Postgres(conn) => {
            let got: Vec<Uuid> = sqlx::query_scalar(
                "UPDATE inbox_items SET state = 'done', processed_at = $1 WHERE state = 'pending' AND id = ANY($2) RETURNING id",
            )
            .bind(now)
            .bind(ids)
            .fetch_all(conn)
            .await?;
            claimed.extend(got);
        }
        ConnRef::Sqlite(conn) => {
            for chunk in ids.chunks(ROWS_PER_INSERT) {
                let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = sqlx::AssertSqlSafe(format!(
                    "UPDATE inbox_items SET state = 'done', processed_at = $1 WHERE state = 'pending' AND id IN ({}) RETURNING id",
                    list.join(", ")
                ));
                let got = bind_each!(sqlx::query_scalar::<_, Uuid>(sql).persistent(false).bind(now), chunk, |id| [*id])
                    .fetch_all(&mut *conn)
                    .await?;
                claimed.extend(got);
            }
        }
    }
    Ok(claimed)
}

/// Inserts one item that came from no delivery (a timer); false when its dedup key is known.
pub async fn insert_internal(c: &mut dyn Conn, i: &NewInboxItem, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "INSERT INTO inbox_items (id, organization_id, number_id, kind, dedup_key, contact_wa_id, payload, wa_timestamp, state, attempts, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9)
         ON CONFLICT (dedup_key) DO NOTHING",
        i.id,
        i.organization_id,
        i.number_id,
        i.kind,
        &i.dedup_key,
        &i.contact_wa_id,
        Json(&i.payload),
        i.wa_timestamp,
        now
    )?;
    Ok(n == 1)
}
