//! The live side of the console: agent sockets, presence, visibility of events, and automatic
//! assignment of queued conversations.

pub mod assignment;
pub mod bus;
pub mod cluster_presence;
pub mod commands;
pub mod placement;
pub mod presence;
pub mod session;
pub mod visibility;
pub mod wire;

use crate::config::LiveSettings;
use crate::repo::{conversations, users};
use crate::state::AppState;
use assignment::Assigner;
use presence::Presence;
use pytake_actors::OrgId;
use pytake_actors::domain::event::{EventDraft, OrgEvent};
use pytake_actors::ports::EventBus;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

pub struct Live {
    pub settings: LiveSettings,
    /// This node's event stream: sequence numbers are this node's (see [`bus`]).
    pub node: Uuid,
    pub presence: Arc<Presence>,
    /// Sessions on the other nodes (set when `redis.url` is).
    pub cluster: std::sync::OnceLock<Arc<cluster_presence::ClusterPresence>>,
    pub assignment: Assigner,
    /// Bumped when department membership changes: sockets reload what their agent may see.
    membership: tokio::sync::watch::Sender<u64>,
    /// Agent sockets open on this node, from the handshake to the close (authenticated or not).
    pub sessions: Arc<AtomicUsize>,
}

impl Live {
    pub fn new(settings: LiveSettings) -> Self {
        Live {
            settings,
            node: Uuid::now_v7(),
            presence: Arc::new(Presence::default()),
            cluster: std::sync::OnceLock::new(),
            assignment: Assigner::default(),
            membership: tokio::sync::watch::Sender::new(0),
            sessions: Arc::default(),
        }
    }

    /// Wakes when department membership changes anywhere on this node.
    pub fn membership_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.membership.subscribe()
    }

    /// Departments or their members changed in `org`.
    pub fn membership_changed(&self, org: OrgId) {
        self.membership.send_modify(|epoch| *epoch += 1);
        self.assignment.kick(org);
    }
}

/// Publishes an agent's presence and stores their chosen status.
pub async fn announce_presence(state: &AppState, org: OrgId, user: Uuid, status: &'static str) {
    state.registry.publish(EventDraft {
        org,
        event_type: "agent.presence",
        conversation_id: None,
        data: json!({"user_id": user, "status": status}),
    });
    if let Ok(mut c) = state.db.conn().await
        && let Err(e) = users::set_agent_status(&mut c, org, user, status, state.now()).await
    {
        tracing::warn!(error = %e, "storing an agent's status failed");
    }
    if status == "available" {
        state.live.assignment.kick(org);
    }
}

/// The agent's last socket closed: after the grace period they are offline, and after
/// `requeue_offline_after_secs` more their conversations go back to the queue.
pub fn schedule_offline(state: actix_web::web::Data<AppState>, org: OrgId, user: Uuid, generation: u64) {
    let grace = Duration::from_secs(state.live.settings.presence_grace_secs);
    let requeue_after = state.live.settings.requeue_offline_after_secs;
    actix_web::rt::spawn(async move {
        if let Some(c) = state.live.cluster.get() {
            c.disconnected(org, user).await;
        }
        tokio::time::sleep(grace).await;
        // Still connected to another node: not offline.
        if let Some(c) = state.live.cluster.get()
            && c.elsewhere(org, user).await
        {
            return;
        }
        if !state.live.presence.expire(org, user, generation) {
            return;
        }
        announce_presence(&state, org, user, "offline").await;
        if requeue_after == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(requeue_after)).await;
        let back_elsewhere = match state.live.cluster.get() {
            Some(c) => c.elsewhere(org, user).await,
            None => false,
        };
        if !back_elsewhere
            && state.live.presence.still_offline(org, user, generation)
            && let Err(e) = requeue_held(&state, org, user).await
        {
            tracing::warn!(error = %e, "re-queueing an offline agent's conversations failed");
        }
    });
}

async fn requeue_held(state: &AppState, org: OrgId, user: Uuid) -> Result<(), crate::http::ApiError> {
    use pytake_actors::domain::conversation::ConversationStatus;
    let held = {
        let mut c = state.db.conn().await?;
        conversations::held_by(&mut c, org, user).await?
    };
    let now = state.now();
    for id in held {
        let _ = crate::services::agent_actions::apply(state, org, &visibility::Audience::Organization, id, |r, _| {
            if r.assigned_agent_id != Some(user) || r.status != ConversationStatus::Assigned {
                return Err(crate::http::ApiError::conflict("moved", "changed meanwhile"));
            }
            r.status = ConversationStatus::Queued;
            r.assigned_agent_id = None;
            r.queued_at = Some(now);
            Ok(())
        })
        .await;
    }
    Ok(())
}

/// The event bus of this node: forwards to the cross-node bus and asks for an assignment pass
/// whenever a conversation is queued (by the bot's handoff or anyone else).
pub struct AssignmentHook {
    pub inner: Arc<dyn EventBus>,
    pub kick: mpsc::UnboundedSender<OrgId>,
}

impl EventBus for AssignmentHook {
    fn publish(&self, event: &OrgEvent) {
        if matches!(event.event_type, "conversation.created" | "conversation.updated")
            && event.data.get("status").and_then(|s| s.as_str()) == Some("queued")
        {
            let _ = self.kick.send(event.org);
        }
        self.inner.publish(event);
    }
}
