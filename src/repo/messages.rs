//! Messages of conversations, and the status updates Meta reports for ours.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::NewMessage;
use pytake_actors::views::{MessageError, MessageView};
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use std::sync::LazyLock;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub conversation_id: Uuid,
    pub number_id: Uuid,
    pub direction: String,
    pub sender_type: String,
    pub sender_user_id: Option<Uuid>,
    pub wamid: Option<String>,
    pub message_type: String,
    pub text: Option<String>,
    pub content: Json<Value>,
    pub status: String,
    pub error_code: Option<i32>,
    pub error_title: Option<String>,
    pub error_details: Option<String>,
    pub reply_to_wamid: Option<String>,
    pub reply_to_message_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub is_internal_note: bool,
    pub wa_timestamp: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MessageRow> for MessageView {
    fn from(m: MessageRow) -> Self {
        MessageView {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            sender_type: m.sender_type,
            sender_user_id: m.sender_user_id,
            wamid: m.wamid,
            message_type: m.message_type,
            text: m.text,
            content: m.content.0,
            status: m.status,
            error: m.error_code.map(|code| MessageError {
                code: i64::from(code),
                title: m.error_title,
                details: m.error_details,
            }),
            reply_to_wamid: m.reply_to_wamid,
            reply_to_message_id: m.reply_to_message_id,
            client_id: m.client_id,
            is_internal_note: m.is_internal_note,
            wa_timestamp: m.wa_timestamp,
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            failed_at: m.failed_at,
            created_at: m.created_at,
        }
    }
}

/// Stores a message unless one with the same wamid (on the number) or client id (in the
/// conversation) exists. False when nothing was stored.
pub async fn insert(
    c: &mut dyn Conn,
    org: OrgId,
    conversation_id: Uuid,
    number_id: Uuid,
    m: &NewMessage,
    reply_to_message_id: Option<Uuid>,
) -> Result<bool, StoreError> {
    let (error_code, error_title) = match &m.error {
        Some((code, title)) => (Some(i32::try_from(*code).unwrap_or(i32::MAX)), Some(title.clone())),
        None => (None, None),
    };
    let n = sql_exec!(
        c,
        "INSERT INTO messages (id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid,
             message_type, text, content, status, error_code, error_title, reply_to_wamid, reply_to_message_id, client_id,
             is_internal_note, wa_timestamp, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)
         ON CONFLICT DO NOTHING",
        m.id,
        org.as_uuid(),
        conversation_id,
        number_id,
        m.direction.as_str(),
        m.sender_type.as_str(),
        m.sender_user_id,
        &m.wamid,
        &m.message_type,
        &m.text,
        Json(&m.content),
        m.status.as_str(),
        error_code,
        error_title,
        &m.reply_to_wamid,
        reply_to_message_id,
        &m.client_id,
        m.is_internal_note,
        m.wa_timestamp,
        m.created_at
    )?;
    Ok(n == 1)
}

/// Removes messages stored in the same transaction (compensation for a conflicting change set).
pub async fn delete_new(c: &mut dyn Conn, org: OrgId, ids: &[Uuid]) -> Result<(), StoreError> {
    for id in ids {
        sql_exec!(c, "DELETE FROM messages WHERE organization_id = $1 AND id = $2", org.as_uuid(), *id)?;
    }
    Ok(())
}

/// The id of the message `wamid` on `number_id` (to link replies to what they quote). A wamid lookup
/// probes the unique `(number_id, wamid)` index and checks the organization on the row found: with
/// `organization_id` beside the probe, a plan made before a fresh table's statistics read every
/// message of the organization through `messages_conversation_idx` (5-8 ms per lookup and growing,
/// seen at 3,000/s). `LIMIT 1` (one row at most anyway) keeps the check out of the probe.
pub async fn id_by_wamid(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    wamid: &str,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_optional,
        Uuid,
        "SELECT id FROM (SELECT id, organization_id FROM messages WHERE number_id = $2 AND wamid = $3 LIMIT 1) m
         WHERE organization_id = $1",
        org.as_uuid(),
        number_id,
        wamid
    )?)
}

/// What a status update needs to know about the message it names.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StatusTarget {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub status: String,
    pub wamid: Option<String>,
}

/// Our outbound message by its wamid, or by our own id echoed in `biz_opaque_callback_data`. Two
/// lookups, each on an index (an `OR` of the two would scan the table).
pub async fn find_status_target(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    wamid: &str,
    our_id: Option<Uuid>,
) -> Result<Option<StatusTarget>, StoreError> {
    let by_wamid = sql_as!(
        c,
        fetch_optional,
        StatusTarget,
        "SELECT id, conversation_id, status, wamid FROM (
             SELECT id, conversation_id, status, wamid, organization_id, direction FROM messages
             WHERE number_id = $2 AND wamid = $3 LIMIT 1
         ) m WHERE organization_id = $1 AND direction = 'outbound'",
        org.as_uuid(),
        number_id,
        wamid
    )?;
    match (by_wamid, our_id) {
        (Some(found), _) => Ok(Some(found)),
        (None, Some(id)) => Ok(sql_as!(
            c,
            fetch_optional,
            StatusTarget,
            "SELECT id, conversation_id, status, wamid FROM messages
             WHERE id = $3 AND organization_id = $1 AND number_id = $2 AND direction = 'outbound'",
            org.as_uuid(),
            number_id,
            id
        )?),
        (None, None) => Ok(None),
    }
}

/// Records a status: moves `status` when `new_status` is given, always stamps the status's own
/// time column once, fills the wamid if we did not have it, and stores a failure's error.
#[allow(clippy::too_many_arguments)]
pub async fn apply_status(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    reported: &str,
    new_status: Option<&str>,
    wamid: &str,
    at: DateTime<Utc>,
    error: Option<(i32, Option<String>, Option<String>)>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (code, title, details) = match error {
        Some((c, t, d)) => (Some(c), t, d),
        None => (None, None, None),
    };
    sql_exec!(
        c,
        "UPDATE messages SET status = COALESCE($3, status),
             sent_at = CASE WHEN $4 = 'sent' AND sent_at IS NULL THEN $6 ELSE sent_at END,
             delivered_at = CASE WHEN $4 = 'delivered' AND delivered_at IS NULL THEN $6 ELSE delivered_at END,
             read_at = CASE WHEN $4 IN ('read', 'played') AND read_at IS NULL THEN $6 ELSE read_at END,
             failed_at = CASE WHEN $3 = 'failed' THEN $6 ELSE failed_at END,
             error_code = CASE WHEN $3 = 'failed' THEN $7 ELSE error_code END,
             error_title = CASE WHEN $3 = 'failed' THEN $8 ELSE error_title END,
             error_details = CASE WHEN $3 = 'failed' THEN $9 ELSE error_details END,
             wamid = COALESCE(wamid, $5), updated_at = $10
         WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        new_status,
        reported,
        wamid,
        at,
        code,
        title,
        details,
        now
    )?;
    Ok(())
}

/// The message a client already sent with this idempotency key in the conversation.
pub async fn by_client_id(
    c: &mut dyn Conn,
    org: OrgId,
    conversation_id: Uuid,
    client_id: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        MessageRow,
        "SELECT id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid, message_type, text,
             content, status, error_code, error_title, error_details, reply_to_wamid, reply_to_message_id, client_id,
             is_internal_note, wa_timestamp, sent_at, delivered_at, read_at, failed_at, created_at, updated_at
         FROM messages WHERE organization_id = $1 AND conversation_id = $2 AND client_id = $3",
        org.as_uuid(),
        conversation_id,
        client_id
    )?)
}

/// Messages of a conversation, oldest first, after the cursor `after`.
pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    conversation_id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        MessageRow,
        "SELECT id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid, message_type, text,
             content, status, error_code, error_title, error_details, reply_to_wamid, reply_to_message_id, client_id,
             is_internal_note, wa_timestamp, sent_at, delivered_at, read_at, failed_at, created_at, updated_at
         FROM messages WHERE organization_id = $1 AND conversation_id = $2 AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
        org.as_uuid(),
        conversation_id,
        after,
        i64::from(limit) + 1
    )?)
}

/// (organization, conversation id, number id, message, id of the message it replies to)
pub(crate) type OrgMessageRow<'a> = (OrgId, Uuid, Uuid, &'a NewMessage, Option<Uuid>);

/// The arrays of a PostgreSQL message insert, in the order [`pg_bind_rows`] binds them.
const PG_MESSAGE_COLUMNS: [(&str, &str); 20] = [
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("conversation_id", "uuid"),
    ("number_id", "uuid"),
    ("direction", "text"),
    ("sender_type", "text"),
    ("sender_user_id", "uuid"),
    ("wamid", "text"),
    ("message_type", "text"),
    ("text", "text"),
    ("content", "text"),
    ("status", "text"),
    ("error_code", "int4"),
    ("error_title", "text"),
    ("reply_to_wamid", "text"),
    ("reply_to_message_id", "uuid"),
    ("client_id", "text"),
    ("is_internal_note", "bool"),
    ("wa_timestamp", "timestamptz"),
    ("created_at", "timestamptz"),
];

/// PostgreSQL: the insert of many messages (of any organizations), their arrays from placeholder
/// `$first` on (bound by [`pg_bind_rows`]). No conflict clause: callers add theirs.
pub(crate) fn pg_insert_rows_sql(first: usize) -> String {
    format!(
        "INSERT INTO messages (id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid,
             message_type, text, content, status, error_code, error_title, reply_to_wamid, reply_to_message_id, client_id,
             is_internal_note, wa_timestamp, created_at, updated_at)
         SELECT u.id, u.organization_id, u.conversation_id, u.number_id, u.direction, u.sender_type, u.sender_user_id, u.wamid,
             u.message_type, u.text, u.content::jsonb, u.status, u.error_code, u.error_title, u.reply_to_wamid, u.reply_to_message_id,
             u.client_id, u.is_internal_note, u.wa_timestamp, u.created_at, u.created_at
         FROM {}",
        crate::db::pg_unnest("u", &PG_MESSAGE_COLUMNS, first)
    )
}

/// Binds the arrays [`pg_insert_rows_sql`] reads.
pub(crate) fn pg_bind_rows(args: &mut PgArguments, rows: &[OrgMessageRow]) -> Result<(), StoreError> {
    use crate::db::pg_push;
    let text = |f: &dyn Fn(&NewMessage) -> Option<String>| rows.iter().map(|r| f(r.3)).collect::<Vec<_>>();
    pg_push(args, rows.iter().map(|r| r.3.id).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.0.as_uuid()).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.1).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.2).collect::<Vec<_>>())?;
    pg_push(args, text(&|m| Some(m.direction.as_str().to_string())))?;
    pg_push(args, text(&|m| Some(m.sender_type.as_str().to_string())))?;
    pg_push(args, rows.iter().map(|r| r.3.sender_user_id).collect::<Vec<_>>())?;
    pg_push(args, text(&|m| m.wamid.clone()))?;
    pg_push(args, text(&|m| Some(m.message_type.clone())))?;
    pg_push(args, text(&|m| m.text.clone()))?;
    pg_push(args, text(&|m| Some(m.content.to_string())))?;
    pg_push(args, text(&|m| Some(m.status.as_str().to_string())))?;
    pg_push(
        args,
        rows.iter()
            .map(|r| r.3.error.as_ref().map(|(code, _)| i32::try_from(*code).unwrap_or(i32::MAX)))
            .collect::<Vec<_>>(),
    )?;
    pg_push(args, text(&|m| m.error.as_ref().map(|(_, t)| t.clone())))?;
    pg_push(args, text(&|m| m.reply_to_wamid.clone()))?;
    pg_push(args, rows.iter().map(|r| r.4).collect::<Vec<_>>())?;
    pg_push(args, text(&|m| m.client_id.clone()))?;
    pg_push(args, rows.iter().map(|r| r.3.is_internal_note).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.3.wa_timestamp).collect::<Vec<_>>())?;
    pg_push(args, rows.iter().map(|r| r.3.created_at).collect::<Vec<_>>())
}

/// Stores many messages in one statement; returns the ids actually stored (a duplicate wamid or
/// client id stores nothing for that row).
pub async fn insert_many(
    c: &mut dyn Conn,
    org: OrgId,
    rows: &[(Uuid, Uuid, &NewMessage, Option<Uuid>)],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    use crate::db::ConnRef;
    let error_code = |m: &NewMessage| m.error.as_ref().map(|(code, _)| i32::try_from(*code).unwrap_or(i32::MAX));
    let mut stored = std::collections::HashSet::new();
    match c.conn() {
        ConnRef::Postgres(conn) => {
            static INSERT_MANY: LazyLock<String> =
                LazyLock::new(|| format!("{} ON CONFLICT DO NOTHING RETURNING id", pg_insert_rows_sql(1)));
            let mut args = PgArguments::default();
            let rows: Vec<OrgMessageRow> =
                rows.iter().map(|&(conv, number, m, reply)| (org, conv, number, m, reply)).collect();
            pg_bind_rows(&mut args, &rows)?;
            let got: Vec<Uuid> = sqlx::query_scalar_with(INSERT_MANY.as_str(), args).fetch_all(conn).await?;
            stored.extend(got);
        }
        ConnRef::Sqlite(conn) => {
            for chunk in rows.chunks(200) {
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO messages (id, organization_id, conversation_id, number_id, direction, sender_type, sender_user_id, wamid,
                         message_type, text, content, status, error_code, error_title, reply_to_wamid, reply_to_message_id, client_id,
                         is_internal_note, wa_timestamp, created_at, updated_at)
                     VALUES {} ON CONFLICT DO NOTHING RETURNING id",
                    crate::db::placeholders(chunk.len(), 20, |row| format!(", ${}", row * 20 + 20))
                ));
                let mut q = sqlx::query_scalar::<_, Uuid>(sql).persistent(false);
                for (conversation_id, number_id, m, reply_to) in chunk {
                    q = q
                        .bind(m.id)
                        .bind(org.as_uuid())
                        .bind(*conversation_id)
                        .bind(*number_id)
                        .bind(m.direction.as_str())
                        .bind(m.sender_type.as_str())
                        .bind(m.sender_user_id)
                        .bind(m.wamid.as_deref())
                        .bind(m.message_type.as_str())
                        .bind(m.text.as_deref())
                        .bind(Json(&m.content))
                        .bind(m.status.as_str())
                        .bind(error_code(m))
                        .bind(m.error.as_ref().map(|(_, t)| t.as_str()))
                        .bind(m.reply_to_wamid.as_deref())
                        .bind(*reply_to)
                        .bind(m.client_id.as_deref())
                        .bind(m.is_internal_note)
                        .bind(m.wa_timestamp)
                        .bind(m.created_at);
                }
                stored.extend(q.fetch_all(&mut *conn).await?);
            }
        }
    }
    Ok(stored)
}

/// Our outbound messages among `wamids` on one number (one statement for a batch of statuses).
pub async fn find_status_targets(
    c: &mut dyn Conn,
    org: OrgId,
    number_id: Uuid,
    wamids: &[String],
) -> Result<Vec<StatusTarget>, StoreError> {
    use crate::db::ConnRef;
    if wamids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match c.conn() {
        ConnRef::Postgres(conn) => {
            // One unique-index probe per wamid, whatever the statistics say: `= ANY` let a planner
            // without statistics yet (a fresh, fast-growing table) scan every message of the number
            // and AND it with the organization's index (5-12 ms per batch at 3,000/s, growing).
            // `LIMIT 1` keeps the lateral subquery a per-wamid lookup ((number_id, wamid) is unique).
            sqlx::query_as(
                "SELECT m.id, m.conversation_id, m.status, m.wamid FROM UNNEST($3::text[]) AS w(wamid)
                 CROSS JOIN LATERAL (SELECT id, conversation_id, status, wamid, organization_id, direction FROM messages
                     WHERE number_id = $2 AND wamid = w.wamid LIMIT 1) m
                 WHERE m.organization_id = $1 AND m.direction = 'outbound'",
            )
            .bind(org.as_uuid())
            .bind(number_id)
            .bind(wamids)
            .fetch_all(conn)
            .await?
        }
        ConnRef::Sqlite(conn) => {
            let mut found = Vec::new();
            for chunk in wamids.chunks(400) {
                let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT id, conversation_id, status, wamid FROM messages
                     WHERE number_id = $2 AND wamid IN ({}) AND organization_id = $1 AND direction = 'outbound'",
                    list.join(", ")
                ));
                let mut q =
                    sqlx::query_as::<_, StatusTarget>(sql).persistent(false).bind(org.as_uuid()).bind(number_id);
                for w in chunk {
                    q = q.bind(w.as_str());
                }
                found.extend(q.fetch_all(&mut *conn).await?);
            }
            found
        }
    })
}

/// One status to record on one message (see [`apply_status`]).
#[derive(Clone, Debug)]
pub struct StatusWrite {
    pub id: Uuid,
    pub reported: String,
    pub new_status: Option<String>,
    pub wamid: String,
    pub at: DateTime<Utc>,
    pub error: Option<(i32, Option<String>, Option<String>)>,
}

/// [`apply_status`] for many messages in one statement.
pub async fn apply_status_many(
    c: &mut dyn Conn,
    org: OrgId,
    writes: &[StatusWrite],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use crate::db::ConnRef;
    if writes.is_empty() {
        return Ok(());
    }
    const SET: &str = "status = COALESCE(v.new_status, messages.status),
        sent_at = CASE WHEN v.reported = 'sent' AND messages.sent_at IS NULL THEN v.at ELSE messages.sent_at END,
        delivered_at = CASE WHEN v.reported = 'delivered' AND messages.delivered_at IS NULL THEN v.at ELSE messages.delivered_at END,
        read_at = CASE WHEN v.reported IN ('read', 'played') AND messages.read_at IS NULL THEN v.at ELSE messages.read_at END,
        failed_at = CASE WHEN v.new_status = 'failed' THEN v.at ELSE messages.failed_at END,
        error_code = CASE WHEN v.new_status = 'failed' THEN v.error_code ELSE messages.error_code END,
        error_title = CASE WHEN v.new_status = 'failed' THEN v.error_title ELSE messages.error_title END,
        error_details = CASE WHEN v.new_status = 'failed' THEN v.error_details ELSE messages.error_details END,
        wamid = COALESCE(messages.wamid, v.wamid)";
    match c.conn() {
        ConnRef::Postgres(conn) => {
            let sql = sqlx::AssertSqlSafe(format!(
                "UPDATE messages SET {SET}, updated_at = $2
                 FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::int4[], $9::text[], $10::text[])
                     AS v(id, reported, new_status, wamid, at, error_code, error_title, error_details)
                 WHERE messages.organization_id = $1 AND messages.id = v.id"
            ));
            sqlx::query(sql)
                .bind(org.as_uuid())
                .bind(now)
                .bind(writes.iter().map(|w| w.id).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.reported.clone()).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.new_status.clone()).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.wamid.clone()).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.at).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.error.as_ref().map(|e| e.0)).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.error.as_ref().and_then(|e| e.1.clone())).collect::<Vec<_>>())
                .bind(writes.iter().map(|w| w.error.as_ref().and_then(|e| e.2.clone())).collect::<Vec<_>>())
                .execute(conn)
                .await?;
        }
        ConnRef::Sqlite(conn) => {
            for chunk in writes.chunks(200) {
                let now_param = chunk.len() * 8 + 1;
                let sql = sqlx::AssertSqlSafe(format!(
                    "WITH v(id, reported, new_status, wamid, at, error_code, error_title, error_details) AS (VALUES {})
                     UPDATE messages SET {SET}, updated_at = ${now_param}
                     FROM v WHERE messages.organization_id = ${} AND messages.id = v.id",
                    crate::db::placeholders(chunk.len(), 8, |_| String::new()),
                    now_param + 1
                ));
                let mut q = sqlx::query(sql).persistent(false);
                for w in chunk {
                    q = q
                        .bind(w.id)
                        .bind(w.reported.as_str())
                        .bind(w.new_status.as_deref())
                        .bind(w.wamid.as_str())
                        .bind(w.at)
                        .bind(w.error.as_ref().map(|e| e.0))
                        .bind(w.error.as_ref().and_then(|e| e.1.clone()))
                        .bind(w.error.as_ref().and_then(|e| e.2.clone()));
                }
                q.bind(now).bind(org.as_uuid()).execute(&mut *conn).await?;
            }
        }
    }
    Ok(())
}

/// The newest inbound message's `wamid` (what "read" on WhatsApp marks, with everything before it).
pub async fn latest_inbound_wamid(
    c: &mut dyn Conn,
    org: OrgId,
    conversation: Uuid,
) -> Result<Option<String>, StoreError> {
    Ok(crate::sql_scalar!(
        c,
        fetch_optional,
        String,
        "SELECT wamid FROM messages WHERE organization_id = $1 AND conversation_id = $2 AND direction = 'inbound'
           AND wamid IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1",
        org.as_uuid(),
        conversation
    )?)
}
