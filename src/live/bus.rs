//! The cross-node bus (with `redis.url`): every event an organization actor publishes goes to a
//! Redis channel shared by the nodes of one database; each node relays the other nodes' events into
//! its own organization actors, which number them in the node's own sequence (`ready.data.stream`
//! names it, so a client that reconnects to another node gets a `resync`, never a silent gap).
//! Without Redis, or while it is away, each node serves its own sockets; the bus reconnects by
//! itself and counts what it could not publish.

use crate::metrics::Metrics;
use pytake_actors::OrgId;
use pytake_actors::domain::event::{EventDraft, OrgEvent};
use pytake_actors::ports::EventBus;
use pytake_actors::runtime::Registry;
use pytake_actors::runtime::org::PublishLocal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct Wire {
    node: Uuid,
    org: Uuid,
    event_type: String,
    conversation_id: Option<Uuid>,
    data: Value,
}

pub struct RedisBus {
    node: Uuid,
    tx: mpsc::UnboundedSender<String>,
    /// Whether the subscription is up (for readiness).
    pub connected: Arc<AtomicBool>,
}

/// The channel of the nodes sharing `database_url` (tests and several clusters may share a Redis).
pub fn channel_for(database_url: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(database_url.as_bytes());
    format!("pytake:events:{}", hex::encode(&digest[..8]))
}

impl RedisBus {
    /// Starts the publisher; [`RedisBus::start_relay`] starts the subscriber once the registry exists.
    pub fn start(client: redis::Client, channel: String, node: Uuid, metrics: Arc<Metrics>) -> Arc<RedisBus> {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let publisher_channel = channel.clone();
        actix_web::rt::spawn(async move {
            let mut conn: Option<redis::aio::MultiplexedConnection> = None;
            while let Some(payload) = rx.recv().await {
                if conn.is_none() {
                    conn = client.get_multiplexed_async_connection().await.ok();
                }
                let sent = match conn.as_mut() {
                    Some(c) => {
                        redis::cmd("PUBLISH").arg(&publisher_channel).arg(&payload).query_async::<i64>(c).await.is_ok()
                    }
                    None => false,
                };
                if !sent {
                    conn = None;
                    metrics.add("pytake_bus_publish_failures_total", "", 1);
                }
            }
        });
        Arc::new(RedisBus { node, tx, connected: Arc::new(AtomicBool::new(false)) })
    }

    /// Relays the other nodes' events into this node's organization actors, reconnecting with
    /// backoff while Redis is away. A conversation queued on another node also asks this node for
    /// an assignment pass (its agents may be connected here; versioned updates keep two passes
    /// from giving one conversation twice).
    pub fn start_relay(
        &self,
        client: redis::Client,
        channel: String,
        registry: Arc<Registry>,
        kick: mpsc::UnboundedSender<OrgId>,
    ) {
        let node = self.node;
        let connected = self.connected.clone();
        actix_web::rt::spawn(async move {
            use futures_util::StreamExt;
            let mut backoff = Duration::from_millis(200);
            // Set once a subscription failed or ended: other nodes' events may have been missed.
            let mut missed = false;
            loop {
                let subscribed = async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                }
                .await;
                let Ok(pubsub) = subscribed else {
                    missed = true;
                    connected.store(false, Ordering::Release);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                };
                connected.store(true, Ordering::Release);
                backoff = Duration::from_millis(200);
                if std::mem::take(&mut missed) {
                    tracing::info!("the cross-node bus is back; consoles on this node resync");
                    registry.resync_orgs(
                        "events from other nodes may have been missed while Redis was away; reload from the REST API",
                    );
                }
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(wire) = serde_json::from_slice::<Wire>(msg.get_payload_bytes()) else { continue };
                    if wire.node == node {
                        continue;
                    }
                    let Some(event_type) = known_type(&wire.event_type) else { continue };
                    #[allow(clippy::disallowed_methods)] // numbered by a node of the same database
                    let org = OrgId::assume_verified(wire.org);
                    if event_type.starts_with("conversation.")
                        && wire.data.get("status").and_then(Value::as_str) == Some("queued")
                    {
                        let _ = kick.send(org);
                    }
                    registry.org(org).do_send(PublishLocal(EventDraft {
                        org,
                        event_type,
                        conversation_id: wire.conversation_id,
                        data: wire.data,
                    }));
                }
                missed = true;
                connected.store(false, Ordering::Release);
                tracing::warn!("the cross-node bus lost Redis; reconnecting");
            }
        });
    }
}

/// Event names are `&'static str` in the actors; only known ones cross nodes.
fn known_type(name: &str) -> Option<&'static str> {
    const KNOWN: [&str; 9] = [
        "message.created",
        "message.status",
        "conversation.created",
        "conversation.updated",
        "agent.presence",
        "typing",
        "sla.breached",
        "campaign.progress",
        "queue.updated",
    ];
    KNOWN.iter().find(|k| **k == name).copied()
}

impl EventBus for RedisBus {
    fn publish(&self, event: &OrgEvent) {
        let wire = Wire {
            node: self.node,
            org: event.org.as_uuid(),
            event_type: event.event_type.to_string(),
            conversation_id: event.conversation_id,
            data: event.data.clone(),
        };
        if let Ok(payload) = serde_json::to_string(&wire) {
            let _ = self.tx.send(payload);
        }
    }
}
