//! Reports (`/api/v1/analytics/...`): conversations opened and closed, first response and
//! resolution times (percentiles), messages by day, per agent, per queue, and a flow's funnel and
//! drop-off. The period is `from`..`to` (RFC 3339), by default the last 30 days.

use crate::auth::{Permission, Principal};
use crate::http::ApiError;
use crate::repo::reports::{self, CountBy};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
pub struct Period {
    /// Start (inclusive), RFC 3339; default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), RFC 3339; default now.
    pub to: Option<DateTime<Utc>>,
}

impl Period {
    fn resolve(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - Duration::days(30));
        if from >= to {
            return Err(ApiError::field("from", "must be before `to`"));
        }
        if to - from > Duration::days(366) {
            return Err(ApiError::field("from", "a period is at most 366 days"));
        }
        Ok((from, to))
    }
}

/// Percentiles of a duration, in seconds (`null` without data).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Spread {
    pub count: usize,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

/// Nearest-rank percentiles of sorted values.
fn spread(sorted: &[f64]) -> Spread {
    let at = |q: f64| {
        (!sorted.is_empty()).then(|| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            (sorted[rank - 1] * 10.0).round() / 10.0
        })
    };
    Spread { count: sorted.len(), p50: at(0.5), p90: at(0.9), p99: at(0.99) }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub conversations_opened: i64,
    pub conversations_closed: i64,
    pub open_now: i64,
    pub queued_now: i64,
    pub messages_in: i64,
    pub messages_out: i64,
    pub contacts_new: i64,
    pub first_response_secs: Spread,
    pub resolution_secs: Spread,
}

pub async fn overview(state: &AppState, p: &Principal, q: Period) -> Result<Overview, ApiError> {
    p.require(Permission::AnalyticsRead)?;
    let (from, to) = q.resolve(state.now())?;
    let mut c = state.db.conn().await?;
    let t = reports::totals(&mut c, p.org, from, to).await?;
    let (first, resolution) = reports::durations(&mut c, p.org, from, to, None).await?;
    Ok(Overview {
        from,
        to,
        conversations_opened: t.opened,
        conversations_closed: t.closed,
        open_now: t.open_now,
        queued_now: t.queued_now,
        messages_in: t.messages_in,
        messages_out: t.messages_out,
        contacts_new: t.contacts_new,
        first_response_secs: spread(&first),
        resolution_secs: spread(&resolution),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub opened: i64,
    pub closed: i64,
    pub messages_in: i64,
    pub messages_out: i64,
}

pub async fn by_day(state: &AppState, p: &Principal, q: Period) -> Result<Vec<Day>, ApiError> {
    p.require(Permission::AnalyticsRead)?;
    let (from, to) = q.resolve(state.now())?;
    let mut c = state.db.conn().await?;
    Ok(reports::by_day(&mut c, p.org, from, to)
        .await?
        .into_iter()
        .map(|d| Day {
            day: d.day,
            opened: d.opened,
            closed: d.closed,
            messages_in: d.messages_in,
            messages_out: d.messages_out,
        })
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentReport {
    pub agent_id: Uuid,
    pub name: String,
    pub assigned: i64,
    pub closed: i64,
    pub open_now: i64,
    pub first_response_secs: Spread,
    pub resolution_secs: Spread,
}

pub async fn by_agent(state: &AppState, p: &Principal, q: Period) -> Result<Vec<AgentReport>, ApiError> {
    p.require(Permission::AnalyticsRead)?;
    let (from, to) = q.resolve(state.now())?;
    let mut c = state.db.conn().await?;
    let mut out = Vec::new();
    for a in reports::by_agent(&mut c, p.org, from, to).await? {
        let (first, resolution) = reports::durations(&mut c, p.org, from, to, Some(a.agent_id)).await?;
        out.push(AgentReport {
            agent_id: a.agent_id,
            name: a.name,
            assigned: a.assigned,
            closed: a.closed,
            open_now: a.open_now,
            first_response_secs: spread(&first),
            resolution_secs: spread(&resolution),
        });
    }
    Ok(out)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueReport {
    pub queue_id: Uuid,
    pub name: String,
    pub waiting_now: i64,
    pub queued: i64,
    pub sla_breaches: i64,
}

pub async fn by_queue(state: &AppState, p: &Principal, q: Period) -> Result<Vec<QueueReport>, ApiError> {
    p.require(Permission::AnalyticsRead)?;
    let (from, to) = q.resolve(state.now())?;
    let mut c = state.db.conn().await?;
    Ok(reports::by_queue(&mut c, p.org, from, to)
        .await?
        .into_iter()
        .map(|r| QueueReport {
            queue_id: r.queue_id,
            name: r.name,
            waiting_now: r.waiting_now,
            queued: r.queued,
            sla_breaches: r.sla_breaches,
        })
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowReport {
    pub flow_id: Uuid,
    pub started: i64,
    pub completed: i64,
    pub handed_off: i64,
    /// completed / started.
    pub completion_rate: Option<f64>,
    /// Every recorded event of the flow by name (including the flow's own analytics nodes).
    pub events: BTreeMap<String, i64>,
    /// Runs still waiting at each node now: where customers stopped answering.
    pub waiting_at: BTreeMap<String, i64>,
    /// Handoffs by the node that handed off.
    pub handoffs_at: BTreeMap<String, i64>,
}

fn to_map(rows: Vec<CountBy>) -> BTreeMap<String, i64> {
    rows.into_iter().map(|r| (r.key.unwrap_or_default(), r.n)).collect()
}

pub async fn flow(state: &AppState, p: &Principal, id: Uuid, q: Period) -> Result<FlowReport, ApiError> {
    p.require(Permission::AnalyticsRead)?;
    let (from, to) = q.resolve(state.now())?;
    let mut c = state.db.conn().await?;
    crate::repo::flows::get(&mut c, p.org, id).await?.ok_or(ApiError::NotFound("flow"))?;
    let events = to_map(reports::flow_events(&mut c, p.org, id, from, to).await?);
    let started = events.get("flow_started").copied().unwrap_or(0);
    let completed = events.get("flow_completed").copied().unwrap_or(0);
    Ok(FlowReport {
        flow_id: id,
        started,
        completed,
        handed_off: events.get("handoff").copied().unwrap_or(0),
        completion_rate: (started > 0).then(|| (completed as f64 / started as f64 * 1000.0).round() / 1000.0),
        events,
        waiting_at: to_map(reports::flow_waiting_at(&mut c, p.org, id).await?),
        handoffs_at: to_map(reports::flow_handoffs_at(&mut c, p.org, id, from, to).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = spread(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!((s.count, s.p50, s.p90, s.p99), (10, Some(5.0), Some(9.0), Some(10.0)));
        assert_eq!(spread(&[]).p50, None);
    }
}
