//! Presence across nodes (with `redis.url`): each node keeps, for every agent with a socket on it,
//! a key `…:sessions:<org>:<user>:<node>` that expires unless refreshed every few seconds. An agent
//! goes offline (and later has their conversations re-queued) only when no live node holds one of
//! their sockets.

use super::presence::Presence;
use pytake_actors::OrgId;
use redis::aio::MultiplexedConnection;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const REFRESH: Duration = Duration::from_secs(2);
const TTL_SECS: u64 = 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct ClusterPresence {
    client: redis::Client,
    prefix: String,
    node: Uuid,
    /// One connection shared by every socket's presence calls (a connection per call would cost a
    /// TCP handshake, and a file descriptor, per socket opened); dropped after an error.
    shared: tokio::sync::Mutex<Option<MultiplexedConnection>>,
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
        let me = Arc::new(ClusterPresence { client, prefix, node, shared: tokio::sync::Mutex::new(None) });
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

    /// The shared connection, opened (within a second) when there is none.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut shared = self.shared.lock().await;
        if let Some(c) = shared.as_ref() {
            return Some(c.clone());
        }
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_multiplexed_async_connection()).await;
        let c = opened.ok()?.ok()?;
        *shared = Some(c.clone());
        Some(c)
    }

    /// Runs `cmd` on the shared connection; after a failure the next call connects again.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut c = self.connection().await?;
        match cmd.query_async::<T>(&mut c).await {
            Ok(v) => Some(v),
            Err(_) => {
                *self.shared.lock().await = None;
                None
            }
        }
    }

    /// Marks the agent connected here now (without waiting for the next refresh).
    pub async fn connected(&self, org: OrgId, user: Uuid) {
        let mut set = redis::cmd("SET");
        set.arg(self.key(org, user, self.node)).arg(1).arg("EX").arg(TTL_SECS);
        let _ = self.query::<()>(&set).await;
    }

    /// The agent's last socket here closed.
    pub async fn disconnected(&self, org: OrgId, user: Uuid) {
        let _ = self.query::<()>(redis::cmd("DEL").arg(self.key(org, user, self.node))).await;
    }

    /// Whether another node holds a socket of the agent. Unknown (Redis away) counts as no.
    pub async fn elsewhere(&self, org: OrgId, user: Uuid) -> bool {
        let pattern = format!("{}:sessions:{}:{}:*", self.prefix, org.as_uuid(), user);
        let keys: Vec<String> = self.query(redis::cmd("KEYS").arg(pattern)).await.unwrap_or_default();
        let mine = self.key(org, user, self.node);
        keys.iter().any(|k| *k != mine)
    }
}
