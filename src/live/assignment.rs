//! Automatic assignment of queued conversations, one organization at a time: a pass runs when a
//! conversation is queued, when an agent becomes available or frees capacity, and every
//! `live.assignment_sweep_secs`. A pass raises SLA breaches, moves the newest conversations out of
//! an over-full queue into its overflow queue, then drains the backlog (priority, then the longest
//! waiting) to available agents with free capacity, by each queue's strategy: `round_robin`,
//! `least_busy` or `manual` (agents pull with `take_next`).

use crate::http::ApiError;
use crate::live::visibility::Audience;
use crate::repo::{conversations, queues, users};
use crate::services::agent_actions;
use crate::state::AppState;
use actix_web::web;
use dashmap::DashMap;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::ConversationStatus;
use pytake_actors::domain::event::EventDraft;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Conversations looked at per pass.
const BACKLOG_PER_PASS: u32 = 500;

pub struct Assigner {
    tx: mpsc::UnboundedSender<OrgId>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<OrgId>>>,
    /// The agent each organization's round robin gave work to last.
    last_given: DashMap<OrgId, Uuid>,
}

impl Default for Assigner {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Assigner { tx, rx: Mutex::new(Some(rx)), last_given: DashMap::new() }
    }
}

impl Assigner {
    /// Asks for a pass over `org` (passes for the same organization coalesce).
    pub fn kick(&self, org: OrgId) {
        let _ = self.tx.send(org);
    }

    /// A sender for kicks, for the event hook that sees conversations being queued.
    pub fn kicker(&self) -> mpsc::UnboundedSender<OrgId> {
        self.tx.clone()
    }

    /// Starts the pass loop and the periodic sweep (once).
    pub fn start(state: web::Data<AppState>) {
        let Some(mut rx) = state.live.assignment.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let sweep = Duration::from_secs(state.settings.live.assignment_sweep_secs);
        let kicks = state.live.assignment.tx.clone();
        let db = state.db.clone();
        actix_web::rt::spawn(async move {
            let mut every = tokio::time::interval(sweep);
            loop {
                every.tick().await;
                let Ok(mut c) = db.conn().await else { continue };
                if let Ok(orgs) = conversations::orgs_with_queued(&mut c).await {
                    for org in orgs {
                        #[allow(clippy::disallowed_methods)] // read from the organization's own rows
                        let _ = kicks.send(OrgId::assume_verified(org));
                    }
                }
            }
        });
        actix_web::rt::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut orgs = HashSet::from([first]);
                while let Ok(more) = rx.try_recv() {
                    orgs.insert(more);
                }
                for org in orgs {
                    if let Err(e) = pass(&state, org).await {
                        tracing::warn!(%org, error = %e, "assignment pass failed; the next sweep retries");
                    }
                }
            }
        });
    }
}

async fn pass(state: &AppState, org: OrgId) -> Result<(), ApiError> {
    let now = state.now();
    let mut c = state.db.conn().await?;
    // A burst of new conversations kicks a pass each: what the organization's queues do not ask for
    // is not read (the SLA check and the backlog each read every queued conversation).
    let duties = queues::duties(&mut c, org).await?;
    let breaches = if duties.sla { conversations::mark_sla_breaches(&mut c, org, now).await? } else { Vec::new() };
    for (conversation, queue) in breaches {
        state.registry.publish(EventDraft {
            org,
            event_type: "sla.breached",
            conversation_id: Some(conversation),
            data: json!({"conversation_id": conversation, "queue_id": queue, "at": now}),
        });
    }
    let available = state.live.presence.available(org);
    // No agent to give work to and no queue to overflow: reading the backlog would change nothing.
    if available.is_empty() && !duties.overflow {
        return Ok(());
    }
    let backlog = conversations::queued(&mut c, org, None, BACKLOG_PER_PASS).await?;
    let mut queue_rows = HashMap::new();
    for q in backlog.iter().filter_map(|r| r.queue_id).collect::<HashSet<_>>() {
        if let Some(row) = queues::get_queue(&mut c, org, q).await? {
            queue_rows.insert(q, row);
        }
    }
    drop(c);
    let backlog = overflow(state, org, backlog, &queue_rows).await?;

    if available.is_empty() || backlog.is_empty() {
        return Ok(());
    }
    let mut c = state.db.conn().await?;
    let mut agents = Vec::new();
    for id in available {
        // Only agents are given work automatically; org_admins take it when they choose.
        if let Some(u) = users::get(&mut c, org, id).await?
            && u.is_active
            && u.role == "agent"
        {
            let departments: HashSet<Uuid> = queues::departments_of(&mut c, org, id).await?.into_iter().collect();
            agents.push((id, i64::from(u.max_concurrent_conversations.max(0)), departments));
        }
    }
    let mut load: HashMap<Uuid, i64> = conversations::load_per_agent(&mut c, org).await?.into_iter().collect();
    drop(c);

    for mut conversation in backlog {
        let queue = conversation.queue_id.and_then(|q| queue_rows.get(&q));
        // A queue's conversations belong to its department (the bot's handoff names only the queue).
        if conversation.department_id.is_none()
            && let Some(department) = queue.and_then(|q| q.department_id)
        {
            let placed = agent_actions::apply(state, org, &Audience::Organization, conversation.id, |r, _| {
                if r.status == ConversationStatus::Queued && r.department_id.is_none() {
                    r.department_id = Some(department);
                }
                Ok(())
            })
            .await;
            if placed.is_err() {
                continue;
            }
            conversation.department_id = Some(department);
        }
        let strategy = queue.map_or("round_robin", |q| q.strategy.as_str());
        if strategy == "manual" || queue.is_some_and(|q| !q.is_active) {
            continue;
        }
        let eligible: Vec<Uuid> = agents
            .iter()
            .filter(|(id, max, departments)| {
                load.get(id).copied().unwrap_or(0) < *max
                    && conversation.department_id.is_none_or(|d| departments.contains(&d))
            })
            .map(|(id, _, _)| *id)
            .collect();
        let Some(agent) = choose(&eligible, strategy, &load, state.live.assignment.last_given.get(&org).map(|l| *l))
        else {
            continue;
        };
        let id = conversation.id;
        let result = agent_actions::apply(state, org, &Audience::Organization, id, |r, _| {
            if r.status != ConversationStatus::Queued || r.assigned_agent_id.is_some() {
                return Err(ApiError::conflict("already_taken", "taken meanwhile"));
            }
            r.status = ConversationStatus::Assigned;
            r.assigned_agent_id = Some(agent);
            r.is_bot_active = false;
            Ok(())
        })
        .await;
        match result {
            Ok(_) => {
                *load.entry(agent).or_default() += 1;
                state.live.assignment.last_given.insert(org, agent);
            }
            Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The agent to give a conversation to, among `eligible` (sorted by id).
fn choose(eligible: &[Uuid], strategy: &str, load: &HashMap<Uuid, i64>, last: Option<Uuid>) -> Option<Uuid> {
    let next_after_last = || last.and_then(|l| eligible.iter().find(|a| **a > l)).or_else(|| eligible.first()).copied();
    match strategy {
        "least_busy" => {
            let least = eligible.iter().map(|a| load.get(a).copied().unwrap_or(0)).min()?;
            let tied: Vec<Uuid> =
                eligible.iter().filter(|a| load.get(a).copied().unwrap_or(0) == least).copied().collect();
            last.and_then(|l| tied.iter().find(|a| **a > l)).or_else(|| tied.first()).copied()
        }
        _ => next_after_last(),
    }
}

/// Moves the newest conversations of a queue over its `max_size` to its overflow queue; returns
/// the backlog as it now stands.
async fn overflow(
    state: &AppState,
    org: OrgId,
    mut backlog: Vec<conversations::ConversationRow>,
    queue_rows: &HashMap<Uuid, queues::QueueRow>,
) -> Result<Vec<conversations::ConversationRow>, ApiError> {
    for q in queue_rows.values() {
        let (Some(max), Some(target)) = (q.max_size, q.overflow_queue_id) else { continue };
        let mut waiting: Vec<&conversations::ConversationRow> =
            backlog.iter().filter(|r| r.queue_id == Some(q.id)).collect();
        if waiting.len() <= max as usize {
            continue;
        }
        waiting.sort_by_key(|r| (r.queued_at, r.id));
        let extra: Vec<Uuid> = waiting[max as usize..].iter().map(|r| r.id).collect();
        let mut c = state.db.conn().await?;
        let Some(target_row) = queues::get_queue(&mut c, org, target).await? else { continue };
        drop(c);
        for id in extra {
            let moved = agent_actions::apply(state, org, &Audience::Organization, id, |r, _| {
                if r.status != ConversationStatus::Queued || r.queue_id != Some(q.id) {
                    return Err(ApiError::conflict("moved", "moved meanwhile"));
                }
                r.queue_id = Some(target_row.id);
                r.department_id = target_row.department_id.or(r.department_id);
                r.priority = r.priority.max(target_row.priority);
                Ok(())
            })
            .await;
            if moved.is_ok()
                && let Some(row) = backlog.iter_mut().find(|r| r.id == id)
            {
                row.queue_id = Some(target_row.id);
                row.department_id = target_row.department_id.or(row.department_id);
            }
        }
    }
    Ok(backlog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_rotates_and_least_busy_prefers_the_idle() {
        let mut agents = vec![Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        agents.sort();
        let (a, b, c) = (agents[0], agents[1], agents[2]);
        let load = HashMap::from([(a, 2), (b, 0), (c, 1)]);
        assert_eq!(choose(&agents, "round_robin", &load, None), Some(a));
        assert_eq!(choose(&agents, "round_robin", &load, Some(a)), Some(b));
        assert_eq!(choose(&agents, "round_robin", &load, Some(c)), Some(a), "wraps around");
        assert_eq!(choose(&agents, "least_busy", &load, None), Some(b));
        assert_eq!(choose(&[], "least_busy", &load, None), None);
    }
}
