//! The outbox: outgoing messages persisted with the change that created them, claimed by a sender
//! (pending/retry -> sending), and finished as sent, retried later, or failed.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number_id: Uuid,
    pub conversation_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub recipient: String,
    pub kind: String,
    pub payload: Json<Value>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

/// How long a row written with its change set belongs to the node that wrote it (its in-process
/// sender sends it without a claim); after that, any node's sweeper may take it.
pub const FRESH_LEASE_SECS: i64 = 60;

/// A new row to write with its change set: `pending`, due only when its fresh lease ends (the
/// writing node's sender has it already).
pub fn fresh_row(
    org: OrgId,
    number_id: Uuid,
    o: &pytake_actors::domain::conversation::NewOutbox,
    now: DateTime<Utc>,
) -> OutboxRow {
    OutboxRow {
        id: o.id,
        organization_id: org.as_uuid(),
        number_id,
        conversation_id: Some(o.conversation_id),
        message_id: Some(o.message_id),
        recipient: o.recipient.clone(),
        kind: o.kind.clone(),
        payload: Json(o.payload.clone()),
        state: "pending".into(),
        attempts: 0,
        next_attempt_at: now + chrono::Duration::seconds(FRESH_LEASE_SECS),
    }
}

/// Writes many rows in one statement (per 500 on SQLite).
pub async fn insert_many(c: &mut dyn Conn, rows: &[OutboxRow], now: DateTime<Utc>) -> Result<(), StoreError> {
    use crate::db::ConnRef;
    if rows.is_empty() {
        return Ok(());
    }
    match c.conn() {
        ConnRef::Postgres(conn) => {
            sqlx::query(
                "INSERT INTO outbox (id, organization_id, number_id, conversation_id, message_id, recipient, kind, payload, state,
                     attempts, next_attempt_at, created_at)
                 SELECT u.id, u.organization_id, u.number_id, u.conversation_id, u.message_id, u.recipient, u.kind, u.payload::jsonb,
                     u.state, u.attempts, u.next_attempt_at, $1
                 FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[],
                     $10::text[], $11::int4[], $12::timestamptz[])
                     AS u(id, organization_id, number_id, conversation_id, message_id, recipient, kind, payload, state, attempts,
                          next_attempt_at)",
            )
            .bind(now)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.organization_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.number_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.message_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.recipient.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.payload.0.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.state.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.attempts).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.next_attempt_at).collect::<Vec<_>>())
            .execute(conn)
            .await?;
        }
        ConnRef::Sqlite(_) => {
            for r in rows {
                insert(c, r, now).await?;
            }
        }
    }
    Ok(())
}

pub async fn insert(c: &mut dyn Conn, r: &OutboxRow, now: DateTime<Utc>) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO outbox (id, organization_id, number_id, conversation_id, message_id, recipient, kind, payload, state, attempts,
             next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        r.id,
        r.organization_id,
        r.number_id,
        r.conversation_id,
        r.message_id,
        &r.recipient,
        &r.kind,
        &r.payload,
        &r.state,
        r.attempts,
        r.next_attempt_at,
        now
    )?;
    Ok(())
}

/// Claims a row for sending; false when another sender has it or it is finished. A claim is a lease:
/// `next_attempt_at` becomes its expiry, after which a sweeper may hand the row to someone else.
pub async fn claim(
    c: &mut dyn Conn,
    id: Uuid,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE outbox SET state = 'sending', next_attempt_at = $2
         WHERE id = $1 AND (state IN ('pending', 'retry') OR (state = 'sending' AND next_attempt_at < $3))",
        id,
        lease_until,
        now
    )?;
    Ok(n == 1)
}

/// One accepted send: (organization, outbox row, its message, the wamid).
pub type SentRecord = (Uuid, Uuid, Option<Uuid>, String);

/// Accepted by Meta, many at once: the rows are done and their messages learn their wamids.
pub async fn mark_sent_many(c: &mut dyn Conn, sent: &[SentRecord], now: DateTime<Utc>) -> Result<(), StoreError> {
    use crate::db::ConnRef;
    if sent.is_empty() {
        return Ok(());
    }
    match c.conn() {
        ConnRef::Postgres(conn) => {
            sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1 WHERE id = ANY($2)")
                .bind(now)
                .bind(sent.iter().map(|s| s.1).collect::<Vec<_>>())
                .execute(&mut *conn)
                .await?;
            let with_message: Vec<&SentRecord> = sent.iter().filter(|s| s.2.is_some()).collect();
            sqlx::query(
                "UPDATE messages AS m SET wamid = COALESCE(m.wamid, u.wamid), updated_at = $1
                 FROM UNNEST($2::uuid[], $3::uuid[], $4::text[]) AS u(organization_id, id, wamid)
                 WHERE m.organization_id = u.organization_id AND m.id = u.id",
            )
            .bind(now)
            .bind(with_message.iter().map(|s| s.0).collect::<Vec<_>>())
            .bind(with_message.iter().map(|s| s.2).collect::<Vec<_>>())
            .bind(with_message.iter().map(|s| s.3.clone()).collect::<Vec<_>>())
            .execute(conn)
            .await?;
        }
        ConnRef::Sqlite(_) => {
            for (org, id, message, wamid) in sent {
                sql_exec!(
                    c,
                    "UPDATE outbox SET state = 'sent', sent_at = $2, attempts = attempts + 1 WHERE id = $1",
                    *id,
                    now
                )?;
                if let Some(m) = message {
                    sql_exec!(
                        c,
                        "UPDATE messages SET wamid = COALESCE(wamid, $3), updated_at = $4 WHERE organization_id = $1 AND id = $2",
                        *org,
                        *m,
                        wamid,
                        now
                    )?;
                }
            }
        }
    }
    Ok(())
}

pub async fn mark_retry(
    c: &mut dyn Conn,
    id: Uuid,
    at: DateTime<Utc>,
    code: Option<i32>,
    error: &str,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE outbox SET state = 'retry', attempts = attempts + 1, next_attempt_at = $2, last_error_code = $3, last_error = $4
         WHERE id = $1",
        id,
        at,
        code,
        error
    )?;
    Ok(())
}

/// Given up: the row and its message are failed, with the reason.
pub async fn mark_failed(
    c: &mut dyn Conn,
    org: OrgId,
    r: &OutboxRow,
    code: Option<i32>,
    title: &str,
    details: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error_code = $2, last_error = $3 WHERE id = $1",
        r.id,
        code,
        title
    )?;
    if let Some(m) = r.message_id {
        sql_exec!(
            c,
            "UPDATE messages SET status = 'failed', failed_at = $3, error_code = $4, error_title = $5, error_details = $6, updated_at = $3
             WHERE organization_id = $1 AND id = $2 AND status IN ('pending', 'sent')",
            org.as_uuid(),
            m,
            now,
            code,
            title,
            details
        )?;
    }
    Ok(())
}

/// Rows to (re)send: pending, retry due, or sending with an expired lease; oldest first.
pub async fn due(c: &mut dyn Conn, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        OutboxRow,
        "SELECT id, organization_id, number_id, conversation_id, message_id, recipient, kind, payload, state, attempts, next_attempt_at
         FROM outbox WHERE state IN ('pending', 'retry', 'sending') AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        now,
        i64::from(limit)
    )?)
}

pub async fn get(c: &mut dyn Conn, id: Uuid) -> Result<Option<OutboxRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        OutboxRow,
        "SELECT id, organization_id, number_id, conversation_id, message_id, recipient, kind, payload, state, attempts, next_attempt_at
         FROM outbox WHERE id = $1",
        id
    )?)
}
