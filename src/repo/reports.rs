//! Report queries: counts and durations over a period, by SQL on both backends (durations and
//! days are the one dialect difference: `EXTRACT(EPOCH ...)`/`to_char` on PostgreSQL,
//! `julianday`/`substr` on SQLite). Days are UTC days.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_dialect_as};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use uuid::Uuid;

#[derive(Debug, Default, sqlx::FromRow)]
pub struct Totals {
    pub opened: i64,
    pub closed: i64,
    pub open_now: i64,
    pub queued_now: i64,
    pub messages_in: i64,
    pub messages_out: i64,
    pub contacts_new: i64,
}

pub async fn totals(
    c: &mut dyn Conn,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Totals, StoreError> {
    Ok(sql_as!(
        c,
        fetch_one,
        Totals,
        "SELECT
           CAST((SELECT COUNT(*) FROM conversations WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3) AS BIGINT) AS opened,
           CAST((SELECT COUNT(*) FROM conversations WHERE organization_id = $1 AND closed_at >= $2 AND closed_at < $3) AS BIGINT) AS closed,
           CAST((SELECT COUNT(*) FROM conversations WHERE organization_id = $1 AND status <> 'closed') AS BIGINT) AS open_now,
           CAST((SELECT COUNT(*) FROM conversations WHERE organization_id = $1 AND status = 'queued') AS BIGINT) AS queued_now,
           CAST((SELECT COUNT(*) FROM messages WHERE organization_id = $1 AND direction = 'inbound' AND created_at >= $2 AND created_at < $3) AS BIGINT) AS messages_in,
           CAST((SELECT COUNT(*) FROM messages WHERE organization_id = $1 AND direction = 'outbound' AND NOT is_internal_note
                 AND created_at >= $2 AND created_at < $3) AS BIGINT) AS messages_out,
           CAST((SELECT COUNT(*) FROM contacts WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3) AS BIGINT) AS contacts_new",
        org.as_uuid(),
        from,
        to
    )?)
}

/// Seconds from a conversation's start to its first agent reply, and to its close, for the
/// conversations opened in the period (each sorted, for percentiles). With `agent`, only theirs.
pub async fn durations(
    c: &mut dyn Conn,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    agent: Option<Uuid>,
) -> Result<(Vec<f64>, Vec<f64>), StoreError> {
    let rows: Vec<(Option<f64>, Option<f64>)> = sql_dialect_as!(
        c,
        fetch_all,
        (Option<f64>, Option<f64>),
        postgres: "SELECT CAST(EXTRACT(EPOCH FROM (first_response_at - created_at)) AS FLOAT8),
                          CAST(EXTRACT(EPOCH FROM (closed_at - created_at)) AS FLOAT8)
                   FROM conversations WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3
                     AND (first_response_at IS NOT NULL OR closed_at IS NOT NULL)
                     AND ($4 IS NULL OR assigned_agent_id = $4) LIMIT 100000",
        sqlite: "SELECT (julianday(first_response_at) - julianday(created_at)) * 86400.0,
                        (julianday(closed_at) - julianday(created_at)) * 86400.0
                 FROM conversations WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3
                   AND (first_response_at IS NOT NULL OR closed_at IS NOT NULL)
                   AND ($4 IS NULL OR assigned_agent_id = $4) LIMIT 100000",
        org.as_uuid(),
        from,
        to,
        agent
    )?;
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    Ok((sorted(rows.iter().filter_map(|r| r.0).collect()), sorted(rows.iter().filter_map(|r| r.1).collect())))
}

#[derive(Debug, sqlx::FromRow)]
pub struct DayRow {
    pub day: String,
    pub opened: i64,
    pub closed: i64,
    pub messages_in: i64,
    pub messages_out: i64,
}

/// Per UTC day in the period: conversations opened and closed, messages in and out.
pub async fn by_day(
    c: &mut dyn Conn,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DayRow>, StoreError> {
    Ok(sql_dialect_as!(
        c,
        fetch_all,
        DayRow,
        postgres: "SELECT day, CAST(SUM(opened) AS BIGINT) AS opened, CAST(SUM(closed) AS BIGINT) AS closed,
                       CAST(SUM(messages_in) AS BIGINT) AS messages_in, CAST(SUM(messages_out) AS BIGINT) AS messages_out FROM (
                     SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, 1 AS opened, 0 AS closed, 0 AS messages_in, 0 AS messages_out
                       FROM conversations WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3
                     UNION ALL SELECT to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 1, 0, 0
                       FROM conversations WHERE organization_id = $1 AND closed_at >= $2 AND closed_at < $3
                     UNION ALL SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 0,
                         CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END, CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END
                       FROM messages WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3 AND NOT is_internal_note
                   ) x GROUP BY day ORDER BY day",
        sqlite: "SELECT day, SUM(opened) AS opened, SUM(closed) AS closed, SUM(messages_in) AS messages_in, SUM(messages_out) AS messages_out FROM (
                   SELECT substr(created_at, 1, 10) AS day, 1 AS opened, 0 AS closed, 0 AS messages_in, 0 AS messages_out
                     FROM conversations WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3
                   UNION ALL SELECT substr(closed_at, 1, 10), 0, 1, 0, 0
                     FROM conversations WHERE organization_id = $1 AND closed_at >= $2 AND closed_at < $3
                   UNION ALL SELECT substr(created_at, 1, 10), 0, 0,
                       CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END, CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END
                     FROM messages WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3 AND NOT is_internal_note
                 ) x GROUP BY day ORDER BY day",
        org.as_uuid(),
        from,
        to
    )?)
}

#[derive(Debug, sqlx::FromRow)]
pub struct AgentRow {
    pub agent_id: Uuid,
    pub name: String,
    pub assigned: i64,
    pub closed: i64,
    pub open_now: i64,
}

/// Per agent: conversations assigned in the period, closed in it, held now.
pub async fn by_agent(
    c: &mut dyn Conn,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<AgentRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        AgentRow,
        "SELECT u.id AS agent_id, u.full_name AS name,
             CAST((SELECT COUNT(*) FROM conversations v WHERE v.organization_id = $1 AND v.assigned_agent_id = u.id
                   AND v.assigned_at >= $2 AND v.assigned_at < $3) AS BIGINT) AS assigned,
             CAST((SELECT COUNT(*) FROM conversations v WHERE v.organization_id = $1 AND v.assigned_agent_id = u.id
                   AND v.closed_at >= $2 AND v.closed_at < $3) AS BIGINT) AS closed,
             CAST((SELECT COUNT(*) FROM conversations v WHERE v.organization_id = $1 AND v.assigned_agent_id = u.id
                   AND v.status = 'assigned') AS BIGINT) AS open_now
         FROM users u WHERE u.organization_id = $1 AND u.role IN ('agent', 'org_admin') AND u.deleted_at IS NULL
         ORDER BY u.full_name, u.id",
        org.as_uuid(),
        from,
        to
    )?)
}

#[derive(Debug, sqlx::FromRow)]
pub struct QueueRow {
    pub queue_id: Uuid,
    pub name: String,
    pub waiting_now: i64,
    pub queued: i64,
    pub sla_breaches: i64,
}

/// Per queue: waiting now, conversations that went through it in the period, SLA breaches.
pub async fn by_queue(
    c: &mut dyn Conn,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<QueueRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        QueueRow,
        "SELECT q.id AS queue_id, q.name,
             CAST((SELECT COUNT(*) FROM conversations v WHERE v.organization_id = $1 AND v.queue_id = q.id AND v.status = 'queued') AS BIGINT) AS waiting_now,
             CAST((SELECT COUNT(*) FROM conversations v WHERE v.organization_id = $1 AND v.queue_id = q.id
                   AND v.queued_at >= $2 AND v.queued_at < $3) AS BIGINT) AS queued,
             CAST((SELECT COUNT(*) FROM conversations v WHERE v.organization_id = $1 AND v.queue_id = q.id
                   AND v.sla_breached_at >= $2 AND v.sla_breached_at < $3) AS BIGINT) AS sla_breaches
         FROM queues q WHERE q.organization_id = $1 AND q.deleted_at IS NULL ORDER BY q.name, q.id",
        org.as_uuid(),
        from,
        to
    )?)
}

#[derive(Debug, sqlx::FromRow)]
pub struct CountBy {
    pub key: Option<String>,
    pub n: i64,
}

/// A flow's recorded events in the period, by name (flow_started, flow_completed, handoff, ...).
pub async fn flow_events(
    c: &mut dyn Conn,
    org: OrgId,
    flow: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CountBy>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        CountBy,
        "SELECT event_name AS key, CAST(COUNT(*) AS BIGINT) AS n FROM analytics_events
         WHERE organization_id = $1 AND flow_id = $2 AND created_at >= $3 AND created_at < $4 GROUP BY event_name ORDER BY event_name",
        org.as_uuid(),
        flow,
        from,
        to
    )?)
}

/// Where the flow's unfinished runs stand: conversations still waiting at each node (drop-off when
/// the customer never answered).
pub async fn flow_waiting_at(c: &mut dyn Conn, org: OrgId, flow: Uuid) -> Result<Vec<CountBy>, StoreError> {
    Ok(sql_dialect_as!(
        c,
        fetch_all,
        CountBy,
        postgres: "SELECT flow_state->>'current' AS key, CAST(COUNT(*) AS BIGINT) AS n FROM conversations
                   WHERE organization_id = $1 AND flow_id = $2 AND flow_state->>'status' = 'waiting' GROUP BY 1 ORDER BY 2 DESC",
        sqlite: "SELECT json_extract(flow_state, '$.current') AS key, COUNT(*) AS n FROM conversations
                 WHERE organization_id = $1 AND flow_id = $2 AND json_extract(flow_state, '$.status') = 'waiting' GROUP BY 1 ORDER BY 2 DESC",
        org.as_uuid(),
        flow
    )?)
}

/// Handoffs of a flow by the node that handed off.
pub async fn flow_handoffs_at(
    c: &mut dyn Conn,
    org: OrgId,
    flow: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CountBy>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        CountBy,
        "SELECT node_id AS key, CAST(COUNT(*) AS BIGINT) AS n FROM analytics_events
         WHERE organization_id = $1 AND flow_id = $2 AND event_name = 'handoff' AND created_at >= $3 AND created_at < $4
         GROUP BY node_id ORDER BY 2 DESC",
        org.as_uuid(),
        flow,
        from,
        to
    )?)
}
