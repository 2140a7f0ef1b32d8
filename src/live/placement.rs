//! Conversation ownership across nodes (with `redis.url`): the live nodes of one database keep a
//! heartbeat key in Redis; each conversation belongs to one of them by rendezvous hashing, so all
//! of its items are processed by one actor, in order, whichever node received them. A node that
//! receives items for a conversation it does not own stores them (as always) and publishes a wake
//! for the owner, which loads them from the store. When Redis is away every node owns everything
//! (each keeps serving; ordering across nodes is then not guaranteed until Redis returns).

use pytake_actors::OrgId;
use pytake_actors::domain::conversation::ConversationKey;
use pytake_actors::ports::Placement;
use pytake_actors::runtime::Registry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

const HEARTBEAT: Duration = Duration::from_secs(2);
const NODE_TTL_SECS: u64 = 6;
/// The heartbeat value of a node without a seat (listening on an ephemeral port).
const NO_SEAT: &str = "-";

/// Where a node serves, `<host name>|<configured listen address>`, when that names one process:
/// two live processes cannot listen on the same fixed address of one host, so a heartbeat with this
/// node's seat and another id is this node's previous run, dead without leaving (a `kill -9`).
/// `None` for an ephemeral port (`:0`), where a restart gets another address anyway.
pub fn seat(listen: &str) -> Option<String> {
    let addr: std::net::SocketAddr = listen.parse().ok()?;
    if addr.port() == 0 {
        return None;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())?;
    Some(format!("{host}|{listen}"))
}

/// The heartbeat keys, other than `mine`, that carry `seat`; they are deleted, so the earlier run's
/// conversations move to the live nodes now instead of when its heartbeat expires.
async fn earlier_runs_of(
    c: &mut redis::aio::MultiplexedConnection,
    keys: &[String],
    mine: &str,
    seat: &str,
) -> Option<Vec<String>> {
    let others: Vec<&String> = keys.iter().filter(|k| k.as_str() != mine).collect();
    if others.is_empty() {
        return Some(Vec::new());
    }
    let seats: Vec<Option<String>> = redis::cmd("MGET").arg(&others).query_async(c).await.ok()?;
    let gone: Vec<String> =
        others.into_iter().zip(seats).filter(|(_, s)| s.as_deref() == Some(seat)).map(|(k, _)| k.clone()).collect();
    if !gone.is_empty() {
        tracing::info!(count = gone.len(), "removed the heartbeat of this node's previous run");
        redis::cmd("DEL").arg(&gone).query_async::<()>(c).await.ok()?;
    }
    Some(gone)
}

#[derive(Serialize, Deserialize)]
struct Wake {
    owner: Uuid,
    org: Uuid,
    number_id: Uuid,
    contact_wa_id: String,
}

pub struct ClusterPlacement {
    node: Uuid,
    /// The live nodes, sorted; empty until the first heartbeat round (then: everything is local).
    live: RwLock<Vec<Uuid>>,
    wakes: mpsc::UnboundedSender<String>,
}

fn score(node: &Uuid, key: &ConversationKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update(key.org.as_uuid().as_bytes());
    h.update(key.number_id.as_bytes());
    h.update(key.contact_wa_id.as_bytes());
    h.finalize().into()
}

/// The node among `live` that owns `key` (highest rendezvous score).
pub fn owner_of(live: &[Uuid], key: &ConversationKey) -> Option<Uuid> {
    live.iter().max_by_key(|n| score(n, key)).copied()
}

impl ClusterPlacement {
    /// Starts the heartbeat, the membership refresh and the wake publisher and subscriber.
    pub fn start(
        client: redis::Client,
        prefix: String,
        node: Uuid,
        seat: Option<String>,
        registry: Arc<Registry>,
        db: crate::db::Db,
    ) -> Arc<ClusterPlacement> {
        let (wakes, mut outgoing) = mpsc::unbounded_channel::<String>();
        let placement = Arc::new(ClusterPlacement { node, live: RwLock::new(Vec::new()), wakes });
        let wake_channel = format!("{prefix}:wake");
        let nodes_prefix = format!("{prefix}:node:");

        // Heartbeat and membership.
        let (me, heartbeat_client, members) = (placement.clone(), client.clone(), nodes_prefix.clone());
        actix_web::rt::spawn(async move {
            let mut conn: Option<redis::aio::MultiplexedConnection> = None;
            loop {
                if conn.is_none() {
                    conn = heartbeat_client.get_multiplexed_async_connection().await.ok();
                }
                if db.is_closed() {
                    // Shutting down: leave the membership now so the others take our conversations.
                    if let Some(c) = conn.as_mut() {
                        let _ = redis::cmd("DEL").arg(format!("{members}{node}")).query_async::<()>(c).await;
                    }
                    return;
                }
                let round = async {
                    let c = conn.as_mut()?;
                    redis::cmd("SET")
                        .arg(format!("{members}{node}"))
                        .arg(seat.as_deref().unwrap_or(NO_SEAT))
                        .arg("EX")
                        .arg(NODE_TTL_SECS)
                        .query_async::<()>(c)
                        .await
                        .ok()?;
                    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{members}*")).query_async(c).await.ok()?;
                    let gone = match &seat {
                        Some(seat) => earlier_runs_of(c, &keys, &format!("{members}{node}"), seat).await?,
                        None => Vec::new(),
                    };
                    let mut live: Vec<Uuid> = keys
                        .iter()
                        .filter(|k| !gone.contains(k))
                        .filter_map(|k| k.strip_prefix(&members))
                        .filter_map(|id| id.parse().ok())
                        .collect();
                    live.sort();
                    Some(live)
                }
                .await;
                match round {
                    Some(live) => {
                        if let Ok(mut l) = me.live.write() {
                            *l = live;
                        }
                    }
                    None => {
                        // Redis away: own everything rather than forward into the void.
                        conn = None;
                        if let Ok(mut l) = me.live.write() {
                            l.clear();
                        }
                    }
                }
                tokio::time::sleep(HEARTBEAT).await;
            }
        });

        // Wake publisher.
        let (publish_client, channel) = (client.clone(), wake_channel.clone());
        actix_web::rt::spawn(async move {
            let mut conn: Option<redis::aio::MultiplexedConnection> = None;
            while let Some(payload) = outgoing.recv().await {
                if conn.is_none() {
                    conn = publish_client.get_multiplexed_async_connection().await.ok();
                }
                let sent = match conn.as_mut() {
                    Some(c) => redis::cmd("PUBLISH").arg(&channel).arg(&payload).query_async::<i64>(c).await.is_ok(),
                    None => false,
                };
                if !sent {
                    // The owner's recovery sweep finds the items in the store anyway.
                    conn = None;
                }
            }
        });

        // Wake subscriber: load the items of the keys this node owns.
        actix_web::rt::spawn(async move {
            use futures_util::StreamExt;
            loop {
                let subscribed = async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&wake_channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                }
                .await;
                let Ok(pubsub) = subscribed else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(wake) = serde_json::from_slice::<Wake>(msg.get_payload_bytes()) else { continue };
                    if wake.owner != node {
                        continue;
                    }
                    #[allow(clippy::disallowed_methods)] // a key of this database, sent by a node of it
                    let org = OrgId::assume_verified(wake.org);
                    registry.dispatch_local(
                        &ConversationKey { org, number_id: wake.number_id, contact_wa_id: wake.contact_wa_id },
                        Vec::new(),
                    );
                }
            }
        });
        placement
    }
}

impl Placement for ClusterPlacement {
    fn is_local(&self, key: &ConversationKey) -> bool {
        let live = match self.live.read() {
            Ok(l) => l,
            Err(_) => return true,
        };
        // Not yet (or no longer) in the membership: keep serving locally.
        if !live.contains(&self.node) {
            return true;
        }
        owner_of(&live, key).is_none_or(|o| o == self.node)
    }

    fn shared(&self) -> bool {
        self.live.read().is_ok_and(|l| l.len() > 1 && l.contains(&self.node))
    }

    fn forward(&self, key: &ConversationKey) {
        let owner = self.live.read().ok().and_then(|l| owner_of(&l, key));
        if let Some(owner) = owner {
            let wake = Wake {
                owner,
                org: key.org.as_uuid(),
                number_id: key.number_id,
                contact_wa_id: key.contact_wa_id.clone(),
            };
            if let Ok(payload) = serde_json::to_string(&wake) {
                let _ = self.wakes.send(payload);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_owner_and_most_stay_when_a_node_joins() {
        let mut nodes: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        nodes.sort();
        #[allow(clippy::disallowed_methods)]
        let org = OrgId::assume_verified(Uuid::now_v7());
        let keys: Vec<ConversationKey> = (0..300)
            .map(|i| ConversationKey { org, number_id: Uuid::nil(), contact_wa_id: format!("55{i}") })
            .collect();
        let before: Vec<Uuid> = keys.iter().map(|k| owner_of(&nodes, k).unwrap()).collect();
        for n in &nodes {
            let share = before.iter().filter(|o| *o == n).count();
            assert!(share > 50, "each node owns a fair share ({share})");
        }
        let mut grown = nodes.clone();
        grown.push(Uuid::now_v7());
        grown.sort();
        let moved = keys.iter().zip(&before).filter(|(k, o)| owner_of(&grown, k).as_ref() != Some(*o)).count();
        assert!(moved < 150, "only the new node's share moves ({moved} of 300)");
    }
}
