//! The typed settings tree. Field names are the configuration keys.

use super::SecretString;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub mongodb: MongoSettings,
    pub archive: ArchiveSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    pub cors: CorsSettings,
    pub meta: MetaSettings,
    pub webhook: WebhookSettings,
    pub actors: ActorSettings,
    pub flows: FlowSettings,
    pub outbound: OutboundSettings,
    pub live: LiveSettings,
    #[serde(default)]
    pub ops: OpsSettings,
    pub bootstrap: BootstrapSettings,
    pub log: LogSettings,
    /// The JWT secret and encryption key actually in use: configured, or generated in development.
    #[serde(skip)]
    pub resolved: ResolvedSecrets,
}

#[derive(Clone, Debug, Default)]
pub struct ResolvedSecrets {
    pub jwt_secret: SecretString,
    pub encryption_key: SecretString,
    /// Secrets read from (or generated into) the data folder because they were not configured.
    pub from_data_dir: Vec<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub json_body_limit: usize,
    pub client_request_timeout_secs: u64,
    pub body_timeout_secs: u64,
    pub trust_forwarded_for: bool,
    pub public_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    /// Connections opened at start and kept open (PostgreSQL; at most `max_connections`).
    #[serde(default)]
    pub min_connections: u32,
    /// PostgreSQL connections of the hot path's own pool (webhook ingest, actor commits and reads),
    /// beside `max_connections`.
    #[serde(default = "default_hot_path_connections")]
    pub hot_path_connections: u32,
    pub acquire_timeout_secs: u64,
}

fn default_hot_path_connections() -> u32 {
    10
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Option<SecretString>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    pub url: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    pub traces: bool,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval_ms: u64,
    pub trace_retention_days: u32,
    pub delivery_retention_days: u32,
    pub audit_settle_secs: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: Option<SecretString>,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub login_rate_per_minute: u32,
    pub max_failed_logins: i32,
    pub lockout_minutes: i64,
    pub password_hash_memory_kib: u32,
    pub password_hash_iterations: u32,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub encryption_key: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    pub app_secret: Option<SecretString>,
    pub verify_token: Option<SecretString>,
    pub graph_base_url: String,
    pub graph_api_version: String,
    pub graph_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub body_limit_bytes: usize,
    pub max_batch: usize,
    pub writers: usize,
    pub queue_capacity: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSettings {
    pub arbiters: usize,
    pub idle_ttl_secs: u64,
    pub mailbox_capacity: usize,
    pub max_attempts: i32,
    pub retry_base_ms: u64,
    pub sweep_interval_secs: u64,
    pub stale_pending_secs: u64,
    pub replay_window: usize,
    pub commit_workers: usize,
    pub prewarm_window_secs: u64,
    pub prewarm_max: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    pub api_allowed_hosts: Vec<String>,
    pub api_response_max_bytes: usize,
    pub max_steps: u32,
    pub max_visits: u32,
    pub timer_poll_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSettings {
    pub max_attempts: u32,
    pub concurrency: usize,
    pub lease_secs: u64,
    pub sweep_interval_secs: u64,
    pub backoff_scale: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    pub auth_timeout_secs: u64,
    pub ping_interval_secs: u64,
    pub client_timeout_secs: u64,
    pub max_buffer_bytes: usize,
    pub presence_grace_secs: u64,
    pub requeue_offline_after_secs: u64,
    pub assignment_sweep_secs: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    pub token: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    pub admin_email: String,
    pub admin_password: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
