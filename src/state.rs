//! The shared application state every handler reaches through `web::Data<AppState>`.

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::LoginLimiter;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::webhook::directory::NumberDirectory;
use crate::webhook::ingest::Ingest;
use pytake_actors::ports::Clock;
use pytake_actors::runtime::Registry;
use std::sync::Arc;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub login_limiter: LoginLimiter,
    pub secrets: SecretBox,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub registry: Arc<Registry>,
    pub numbers: Arc<NumberDirectory>,
    /// Which flow starts a conversation (invalidate after changing chatbots, flows or numbers).
    pub routing: Arc<crate::store::routing::RoutingCache>,
    pub ingest: Ingest,
    /// Raw deliveries, audit copies and flow traces, off the hot path (MongoDB or SQL).
    pub archive: crate::archive::Archive,
    pub sender: crate::outbound::sender::OutboundSender,
    pub graph: crate::outbound::graph::GraphClient,
    /// Flow simulator sessions (in memory).
    pub simulations: crate::services::simulator::Simulations,
    /// Agent sockets, presence and assignment.
    pub live: Arc<crate::live::Live>,
    /// The threads the actors run on (stopped at shutdown).
    pub arbiters: Vec<actix::ArbiterHandle>,
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
