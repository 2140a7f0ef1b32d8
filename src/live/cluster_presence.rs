//! Presence across nodes (with `redis.url`): each node keeps, for every agent with a socket on it,
//! a key `…:sessions:<org>:<user>:<node>` that expires unless refreshed every few seconds. An agent
//! goes offline (and later has their conversations re-queued) only when no live node holds one of
//! their sockets.

use super::presence::Presence;
use pytake_actors::OrgId;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const REFRESH: Duration = Duration::from_secs(2);
const TTL_SECS: u64 = 10;

pub struct ClusterPresence {
    client: redis::Client,
    prefix: String,
    node: Uuid,
}

impl ClusterPresence {
    fn key(&self, org: OrgId, user: Uuid, node: Uuid) -> String {
        format!("{}:sessions:{}:{}:{}", self.prefix, org.as_uuid(), user, node)
    }

    /// Starts refreshing this node's session keys from `presence`; stops when `db` is closed.
    pub fn start(
        client: redis::Client,
        prefix: String,
        node: Uuid,
        presence: Arc<Presence>,
        db: crate::db::Db,
    ) -> Arc<Self> {
        let me = Arc::new(ClusterPresence { client, prefix, node });
        let refresher = me.clone();
        actix_web::rt::spawn(async move {
            let mut conn: Option<redis::aio::MultiplexedConnection> = None;
            while !db.is_closed() {
                if conn.is_none() {
                    conn = refresher.client.get_multiplexed_async_connection().await.ok();
                }
                if let Some(c) = conn.as_mut() {
                    for (org, user) in presence.connected() {
                        let set = redis::cmd("SET")
                            .arg(refresher.key(org, user, refresher.node))
                            .arg(1)
                            .arg("EX")
                            .arg(TTL_SECS)
                            .query_async::<()>(c)
                            .await;
                        if set.is_err() {
                            conn = None;
                            break;
                        }
                    }
                }
                tokio::time::sleep(REFRESH).await;
            }
        });
        me
    }

    /// Marks the agent connected here now (without waiting for the next refresh).
    pub async fn connected(&self, org: OrgId, user: Uuid) {
        if let Ok(mut c) = self.client.get_multiplexed_async_connection().await {
            let _ = redis::cmd("SET")
                .arg(self.key(org, user, self.node))
                .arg(1)
                .arg("EX")
                .arg(TTL_SECS)
                .query_async::<()>(&mut c)
                .await;
        }
    }

    /// The agent's last socket here closed.
    pub async fn disconnected(&self, org: OrgId, user: Uuid) {
        if let Ok(mut c) = self.client.get_multiplexed_async_connection().await {
            let _ = redis::cmd("DEL").arg(self.key(org, user, self.node)).query_async::<()>(&mut c).await;
        }
    }

    /// Whether another node holds a socket of the agent. Unknown (Redis away) counts as no.
    pub async fn elsewhere(&self, org: OrgId, user: Uuid) -> bool {
        let Ok(mut c) = self.client.get_multiplexed_async_connection().await else { return false };
        let pattern = format!("{}:sessions:{}:{}:*", self.prefix, org.as_uuid(), user);
        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut c).await.unwrap_or_default();
        let mine = self.key(org, user, self.node);
        keys.iter().any(|k| *k != mine)
    }
}
