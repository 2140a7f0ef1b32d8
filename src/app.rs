//! Start-up: build the state (database, migrations, keys, Redis), bootstrap the first admin, bind
//! the listener and assemble the actix-web application with its middleware and error handlers.

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::LoginLimiter;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::db::Backend;
use crate::db::Db;
use crate::flow_http::FlowHttp;
use crate::http::ApiError;
use crate::http::json::JsonLimit;
use crate::http::upgrade;
use crate::metrics::Metrics;
use crate::outbound::graph::GraphClient;
use crate::outbound::sender::{OutboundSender, SenderConfig};
use crate::routes::docs::{ApiDoc, OpenApiJson};
use crate::state::AppState;
use crate::store::SqlConversationStore;
use crate::store::committer::Committer;
use crate::webhook::directory::NumberDirectory;
use crate::webhook::ingest::{Ingest, IngestConfig};
use actix::{Arbiter, ArbiterHandle};
use actix_cors::Cors;
use actix_http::HttpService;
use actix_service::{fn_factory, fn_service, map_config};
use actix_web::dev::{AppConfig, Server};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, web};
use pytake_actors::ports::{Clock, LocalOnly, SystemClock, UuidV7};
use pytake_actors::runtime::bot::FlowLimits;
use pytake_actors::runtime::handling::Ports;
use pytake_actors::runtime::{Registry, RuntimeConfig};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Password(#[from] crate::auth::password::PasswordError),
    #[error(transparent)]
    Token(#[from] crate::auth::jwt::TokenError),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("archive: {0}")]
    Archive(#[from] crate::archive::ArchiveError),
    #[error("bootstrap failed: {0}")]
    Bootstrap(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Connects the database (applying migrations) and everything else the handlers share.
pub async fn build_state(settings: Settings) -> Result<web::Data<AppState>, StartupError> {
    let db = Db::connect_with_warm_up(&settings.database, Some(crate::store::warm_up::hot_path_connection)).await?;
    db.migrate().await?;
    db.open_hot_path().await?;
    let redis = match &settings.redis.url {
        Some(url) => Some(redis::Client::open(url.expose())?.get_connection_manager().await?),
        None => None,
    };
    let a = &settings.auth;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(Metrics::default());
    let secrets = SecretBox::new(settings.resolved.encryption_key.expose())?;
    let threads = match settings.actors.arbiters {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let arbiters: Vec<ArbiterHandle> = (0..threads).map(|_| Arbiter::new().handle()).collect();
    let commit_workers = match (settings.actors.commit_workers, db.backend()) {
        (0, Backend::Sqlite) => 1,
        (0, Backend::Postgres) => 4,
        (n, _) => n,
    };
    // On SQLite a webhook acknowledgement waits for the processing batch in progress: keep those short.
    let commit_batch = if db.backend() == Backend::Sqlite { 32 } else { 128 };
    let committer = Committer::start(db.clone(), clock.clone(), metrics.clone(), commit_workers, commit_batch);
    let routing = Arc::new(crate::store::routing::RoutingCache::default());
    let store = Arc::new(SqlConversationStore::new(db.clone(), committer, routing.clone()));
    let outbox = Arc::new(LateOutbox::default());
    let archive = crate::archive::from_settings(&settings, db.clone()).await?;
    let f = &settings.flows;
    let live = Arc::new(crate::live::Live::new(settings.live.clone()));
    let channel = crate::live::bus::channel_for(settings.database.url.expose());
    let cross_node = match &settings.redis.url {
        Some(url) => {
            let client = redis::Client::open(url.expose())?;
            Some((
                crate::live::bus::RedisBus::start(client.clone(), channel.clone(), live.node, metrics.clone()),
                client,
            ))
        }
        None => None,
    };
    let inner: Arc<dyn pytake_actors::ports::EventBus> = match &cross_node {
        Some((bus, _)) => bus.clone(),
        None => Arc::new(LocalOnly),
    };
    let bus = Arc::new(crate::live::AssignmentHook { inner, kick: live.assignment.kicker() });
    let registry = Registry::new(
        Ports {
            store: store.clone(),
            clock: clock.clone(),
            ids: Arc::new(UuidV7),
            http: Arc::new(FlowHttp::new(f.api_allowed_hosts.clone(), f.api_response_max_bytes)),
            outbox: outbox.clone(),
            archive: Arc::new(archive.clone()),
            limits: FlowLimits { max_steps: f.max_steps, max_visits: f.max_visits, max_jumps: 5 },
        },
        runtime_config(&settings),
        bus,
        arbiters.clone(),
    );
    registry.start_reaper();
    if let Some((bus, client)) = &cross_node {
        let placement = crate::live::placement::ClusterPlacement::start(
            client.clone(),
            channel.replacen("pytake:events:", "pytake:cluster:", 1),
            live.node,
            crate::live::placement::seat(&settings.server.listen),
            registry.clone(),
            db.clone(),
        );
        registry.set_placement(placement);
        let presence = crate::live::cluster_presence::ClusterPresence::start(
            client.clone(),
            channel.replacen("pytake:events:", "pytake:cluster:", 1),
            live.node,
            live.presence.clone(),
            db.clone(),
        );
        let _ = live.cluster.set(presence);
        bus.start_relay(client.clone(), channel, registry.clone(), live.assignment.kicker());
    }
    let w = &settings.webhook;
    let writers = match (w.writers, db.backend()) {
        (0, Backend::Sqlite) => 1,
        (0, Backend::Postgres) => 4,
        (n, _) => n,
    };
    let ingest = Ingest::start(
        db.clone(),
        registry.clone(),
        clock.clone(),
        metrics.clone(),
        IngestConfig { max_batch: w.max_batch, writers, queue: w.queue_capacity },
    );
    crate::db::statistics::start(db.clone(), Duration::from_secs(3));
    crate::recovery::start(
        db.clone(),
        registry.clone(),
        clock.clone(),
        Duration::from_secs(settings.actors.sweep_interval_secs),
        Duration::from_secs(settings.actors.stale_pending_secs),
    );
    crate::prewarm::start(
        db.clone(),
        store.clone(),
        registry.clone(),
        Duration::from_secs(settings.actors.prewarm_window_secs),
        settings.actors.prewarm_max,
    );
    let numbers = Arc::new(NumberDirectory::new(db.clone(), secrets.clone()));
    let m = &settings.meta;
    let graph = GraphClient::new(&m.graph_base_url, &m.graph_api_version, Duration::from_secs(m.graph_timeout_secs))
        .map_err(|e| StartupError::Bootstrap(format!("cannot build the Graph API client: {e}")))?;
    let o = &settings.outbound;
    let sender = OutboundSender::start(
        db.clone(),
        graph.clone(),
        numbers.clone(),
        registry.clone(),
        metrics.clone(),
        clock.clone(),
        SenderConfig {
            max_attempts: o.max_attempts,
            concurrency: o.concurrency,
            lease: Duration::from_secs(o.lease_secs),
            sweep_every: Duration::from_secs(o.sweep_interval_secs),
            backoff_scale: o.backoff_scale,
        },
    );
    outbox.bind(sender.clone());
    crate::timer_service::start(
        db.clone(),
        registry.clone(),
        clock.clone(),
        Duration::from_millis(settings.flows.timer_poll_ms),
    );
    let state = AppState {
        simulations: Default::default(),
        live,
        routing,
        numbers,
        sender,
        graph,
        registry,
        ingest,
        archive,
        arbiters,
        db,
        jwt: JwtKeys::new(settings.resolved.jwt_secret.expose().as_bytes())?,
        passwords: PasswordHasher::new(a.password_hash_memory_kib, a.password_hash_iterations)?,
        login_limiter: LoginLimiter::per_minute(a.login_rate_per_minute),
        secrets,
        metrics,
        clock,
        redis,
        settings: Arc::new(settings),
    };
    let state = web::Data::new(state);
    crate::live::assignment::Assigner::start(state.clone());
    crate::services::campaigns::start_runner(state.clone());
    Ok(state)
}

fn runtime_config(s: &Settings) -> RuntimeConfig {
    let a = &s.actors;
    RuntimeConfig {
        idle_ttl: Duration::from_secs(a.idle_ttl_secs),
        mailbox_capacity: a.mailbox_capacity,
        max_attempts: a.max_attempts,
        retry_base: Duration::from_millis(a.retry_base_ms),
        replay_window: a.replay_window,
        ..RuntimeConfig::default()
    }
}

/// The outbox sink handed to the actors before the sender exists (the sender publishes through the
/// actors' registry). Until bound, rows simply wait for the sender's sweep.
#[derive(Default)]
struct LateOutbox {
    sender: std::sync::OnceLock<OutboundSender>,
}

impl LateOutbox {
    fn bind(&self, sender: OutboundSender) {
        let _ = self.sender.set(sender);
    }
}

impl pytake_actors::ports::OutboxSink for LateOutbox {
    fn enqueue(
        &self,
        org: pytake_actors::OrgId,
        number_id: uuid::Uuid,
        items: Vec<pytake_actors::domain::conversation::NewOutbox>,
    ) {
        if let Some(s) = self.sender.get() {
            s.enqueue(org, number_id, items);
        }
    }
}

/// The OpenAPI document of every registered route.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, doc) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(crate::routes::all).split_for_parts();
    doc
}

fn cors(settings: &Settings) -> Cors {
    let origins = &settings.cors.allowed_origins;
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(["authorization", "content-type", "x-organization-id", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    tracing::debug!(path = req.path(), "no such route");
    Err(ApiError::NotFound("route"))
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Builds everything and binds the listener; the server runs once awaited.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listen = settings.server.listen.clone();
        let state = build_state(settings).await?;
        crate::bootstrap::ensure_initial_data(&state).await?;
        let listener =
            TcpListener::bind(&listen).map_err(|source| StartupError::Bind { addr: listen.clone(), source })?;
        let port = listener.local_addr()?.port();
        let server = Self::serve(state.clone(), listener)?;
        Ok(Application { port, server, state })
    }

    fn serve(state: web::Data<AppState>, listener: TcpListener) -> Result<Server, StartupError> {
        let s = state.settings.clone();
        let openapi = web::Data::new(OpenApiJson(
            serde_json::to_string(&openapi_document()).map_err(|e| StartupError::Bootstrap(e.to_string()))?,
        ));
        let json_limit = JsonLimit(s.server.json_body_limit);
        let body_timeout = crate::http::json::BodyTimeout(Duration::from_secs(s.server.body_timeout_secs));
        let graphql_schema = web::Data::new(crate::graphql::schema());
        let upgrades = upgrade::Upgrades { state: state.clone(), schema: graphql_schema.clone() };
        let settings = s.clone();
        let app = move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(openapi.clone())
                .app_data(json_limit)
                .app_data(body_timeout)
                .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound("resource").into()))
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|err, _| ApiError::field("query", err.to_string()).into()),
                )
                .configure(crate::routes::all)
                .split_for_parts();
            app.app_data(graphql_schema.clone())
                .configure(crate::routes::console::routes)
                .configure(crate::routes::admin::routes)
                .configure(crate::routes::graphql::routes)
                .default_service(web::to(not_found))
                .wrap(cors(&settings))
                .wrap(from_fn(crate::http::request::request_context))
        };
        // Built like actix-web's `HttpServer::listen`, plus an upgrade service: WebSocket
        // handshakes leave the HTTP/1 dispatcher (and its 16 KiB of buffers) for the lean socket
        // transport (`http::upgrade`, `live::wire`).
        let addr = listener.local_addr()?;
        let request_timeout = Duration::from_secs(s.server.client_request_timeout_secs);
        let mut builder = Server::build().shutdown_timeout(s.server.shutdown_timeout_secs);
        if s.server.workers > 0 {
            builder = builder.workers(s.server.workers);
        }
        let server = builder.listen("pytake-http", listener, move || {
            let upgrades = upgrades.clone();
            HttpService::build()
                // Small writes (acknowledgements, socket frames) leave at once: with Nagle's
                // algorithm a frame written while the previous one is unacknowledged waits for
                // the client's (delayed) ACK, tens of milliseconds (docs/CONSOLE.md).
                .tcp_nodelay(true)
                .client_request_timeout(request_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .upgrade(fn_factory(move || {
                    let upgrades = upgrades.clone();
                    async move {
                        Ok::<_, ()>(fn_service(move |(req, framed)| upgrade::take_over(upgrades.clone(), req, framed)))
                    }
                }))
                // The same connection config `HttpServer` gives the app (actix-web offers no other
                // public constructor for it).
                .finish(map_config(app(), move |_| AppConfig::__priv_test_new(false, addr.to_string(), addr)))
                .tcp()
        })?;
        Ok(server.run())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (or the handle stops it), lets in-flight requests finish, then
    /// closes the pools.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for arbiter in &self.state.arbiters {
            arbiter.stop();
        }
        self.state.db.close().await;
        tracing::info!("stopped");
        result
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
