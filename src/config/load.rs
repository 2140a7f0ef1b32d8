//! Loading: merge the layers, type environment overrides by the default's type, deserialize with the
//! key path kept for errors, validate every value, then resolve the secrets.

use super::{Profile, SecretString, Settings};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The defaults, compiled in so the binary runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
const ENV_PREFIX: &str = "PYTAKE__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration: {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("cannot store the generated secret {path}: {source}")]
    SecretFile { path: PathBuf, source: std::io::Error },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), message: message.into() }
}

/// Loads the configuration from the defaults, an optional file and the process environment.
pub fn load(file: Option<&Path>, profile: Profile) -> Result<Settings, ConfigError> {
    load_from_parts(file, std::env::vars(), profile)
}

/// Loads the configuration from the defaults, an optional file and the given `PYTAKE__...` variables
/// (other names are ignored), then validates it and resolves the secrets.
pub fn load_from_parts(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    profile: Profile,
) -> Result<Settings, ConfigError> {
    let mut root: toml::Table = DEFAULT_TOML.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
        path: PathBuf::from("config/default.toml"),
        message: e.to_string(),
    })?;
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let overlay: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax { path: path.to_path_buf(), message: e.to_string() })?;
        merge_tables(&mut root, overlay);
    }
    let mut env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
    env.sort();
    for (name, value) in env {
        apply_env_override(&mut root, &name, &value)?;
    }
    let mut settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(root)).map_err(|e| {
        let key = e.path().to_string();
        invalid(&key, e.into_inner().message().to_string())
    })?;
    validate(&settings)?;
    resolve_secrets(&mut settings, profile)?;
    Ok(settings)
}

fn merge_tables(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `PYTAKE__SERVER__LISTEN=...` sets `server.listen`, parsed as the type its default has.
fn apply_env_override(root: &mut toml::Table, name: &str, raw: &str) -> Result<(), ConfigError> {
    let rest = &name[ENV_PREFIX.len()..];
    let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(name, "expected PYTAKE__<SECTION>__<KEY>"));
    }
    let (section, key) = (&parts[0], &parts[1]);
    let dotted = format!("{section}.{key}");
    let table = root.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(table) = table else {
        return Err(invalid(section, "is not a section"));
    };
    // An empty value for a key without a default (an optional secret or URL) means "unset".
    if raw.is_empty() && !table.contains_key(key.as_str()) {
        return Ok(());
    }
    let value = match table.get(key.as_str()) {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| invalid(&dotted, format!("expected an integer, got `{raw}` (from {name})")))?,
        ),
        Some(toml::Value::Float(_)) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| invalid(&dotted, format!("expected a number, got `{raw}` (from {name})")))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(invalid(&dotted, format!("expected true or false, got `{raw}` (from {name})"))),
        }),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    };
    table.insert(key.clone(), value);
    Ok(())
}

fn validate(s: &Settings) -> Result<(), ConfigError> {
    s.server
        .listen
        .parse::<SocketAddr>()
        .map_err(|e| invalid("server.listen", format!("`{}` is not a socket address: {e}", s.server.listen)))?;
    if s.server.json_body_limit < 1024 {
        return Err(invalid("server.json_body_limit", "must be at least 1024 bytes"));
    }
    if !s.server.public_url.is_empty() {
        check_http_url("server.public_url", &s.server.public_url)?;
    }
    let db_url = s.database.url.expose();
    if !(db_url.starts_with("sqlite:") || db_url.starts_with("postgres://") || db_url.starts_with("postgresql://")) {
        return Err(invalid("database.url", "must start with sqlite:, postgres:// or postgresql://"));
    }
    if s.database.max_connections == 0 {
        return Err(invalid("database.max_connections", "must be at least 1"));
    }
    if let Some(url) = &s.redis.url
        && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
    {
        return Err(invalid("redis.url", "must start with redis:// or rediss://"));
    }
    if let Some(url) = &s.mongodb.url
        && !(url.expose().starts_with("mongodb://") || url.expose().starts_with("mongodb+srv://"))
    {
        return Err(invalid("mongodb.url", "must start with mongodb:// or mongodb+srv://"));
    }
    let a = &s.auth;
    if let Some(secret) = &a.jwt_secret
        && secret.expose().len() < 32
    {
        return Err(invalid("auth.jwt_secret", "must be at least 32 characters"));
    }
    positive("auth.access_token_ttl_secs", a.access_token_ttl_secs)?;
    positive("auth.refresh_token_ttl_secs", a.refresh_token_ttl_secs)?;
    positive("auth.login_rate_per_minute", i64::from(a.login_rate_per_minute))?;
    positive("auth.max_failed_logins", i64::from(a.max_failed_logins))?;
    positive("auth.lockout_minutes", a.lockout_minutes)?;
    if a.password_hash_memory_kib < 1024 {
        return Err(invalid("auth.password_hash_memory_kib", "must be at least 1024"));
    }
    positive("auth.password_hash_iterations", i64::from(a.password_hash_iterations))?;
    if let Some(key) = &s.security.encryption_key
        && fernet::Fernet::new(key.expose()).is_none()
    {
        return Err(invalid(
            "security.encryption_key",
            "must be a Fernet key: 32 bytes in URL-safe base64 (44 characters)",
        ));
    }
    for origin in &s.cors.allowed_origins {
        if origin != "*" {
            check_http_url("cors.allowed_origins", origin)?;
        }
    }
    check_http_url("meta.graph_base_url", &s.meta.graph_base_url)?;
    if !s.meta.graph_api_version.starts_with('v') {
        return Err(invalid("meta.graph_api_version", "must look like v21.0"));
    }
    positive("meta.graph_timeout_secs", s.meta.graph_timeout_secs as i64)?;
    if s.webhook.body_limit_bytes < 1024 {
        return Err(invalid("webhook.body_limit_bytes", "must be at least 1024"));
    }
    positive("webhook.max_batch", s.webhook.max_batch as i64)?;
    positive("webhook.queue_capacity", s.webhook.queue_capacity as i64)?;
    positive("actors.idle_ttl_secs", s.actors.idle_ttl_secs as i64)?;
    positive("actors.mailbox_capacity", s.actors.mailbox_capacity as i64)?;
    positive("actors.max_attempts", i64::from(s.actors.max_attempts))?;
    positive("actors.sweep_interval_secs", s.actors.sweep_interval_secs as i64)?;
    positive("actors.replay_window", s.actors.replay_window as i64)?;
    positive("flows.max_steps", i64::from(s.flows.max_steps))?;
    positive("flows.max_visits", i64::from(s.flows.max_visits))?;
    positive("flows.timer_poll_ms", s.flows.timer_poll_ms as i64)?;
    positive("flows.api_response_max_bytes", s.flows.api_response_max_bytes as i64)?;
    positive("outbound.max_attempts", i64::from(s.outbound.max_attempts))?;
    positive("live.auth_timeout_secs", s.live.auth_timeout_secs as i64)?;
    positive("live.ping_interval_secs", s.live.ping_interval_secs as i64)?;
    positive("live.client_timeout_secs", s.live.client_timeout_secs as i64)?;
    positive("live.max_buffer_bytes", s.live.max_buffer_bytes as i64)?;
    positive("live.assignment_sweep_secs", s.live.assignment_sweep_secs as i64)?;
    positive("outbound.concurrency", s.outbound.concurrency as i64)?;
    positive("server.body_timeout_secs", s.server.body_timeout_secs as i64)?;
    positive("archive.queue_capacity", s.archive.queue_capacity as i64)?;
    positive("archive.batch_size", s.archive.batch_size as i64)?;
    positive("archive.flush_interval_ms", s.archive.flush_interval_ms as i64)?;
    positive("archive.trace_retention_days", i64::from(s.archive.trace_retention_days))?;
    positive("archive.delivery_retention_days", i64::from(s.archive.delivery_retention_days))?;
    positive("outbound.lease_secs", s.outbound.lease_secs as i64)?;
    positive("outbound.sweep_interval_secs", s.outbound.sweep_interval_secs as i64)?;
    if !(0.0..=100.0).contains(&s.outbound.backoff_scale) {
        return Err(invalid("outbound.backoff_scale", "must be between 0 and 100"));
    }
    if let Some(token) = &s.ops.token
        && token.expose().len() < 16
    {
        return Err(invalid("ops.token", "must be at least 16 characters"));
    }
    if !crate::http::validate::is_email(&s.bootstrap.admin_email) {
        return Err(invalid("bootstrap.admin_email", "must be an email address"));
    }
    if let Some(p) = &s.bootstrap.admin_password
        && p.expose().len() < crate::auth::password::MIN_PASSWORD_LEN
    {
        return Err(invalid(
            "bootstrap.admin_password",
            format!("must be at least {} characters", crate::auth::password::MIN_PASSWORD_LEN),
        ));
    }
    tracing_subscriber::EnvFilter::try_new(&s.log.level)
        .map_err(|e| invalid("log.level", format!("not a valid filter: {e}")))?;
    Ok(())
}

fn positive(key: &str, value: i64) -> Result<(), ConfigError> {
    if value <= 0 {
        return Err(invalid(key, "must be greater than 0"));
    }
    Ok(())
}

fn check_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(invalid(key, format!("`{value}` is not an http(s) URL"))),
    }
}

/// Fills `settings.resolved`: configured secrets win; in development missing ones are generated once
/// into the data folder (mode 0600) and reused; in production missing ones are an error.
fn resolve_secrets(settings: &mut Settings, profile: Profile) -> Result<(), ConfigError> {
    let data_dir = settings.storage.data_dir.clone();
    let jwt = match settings.auth.jwt_secret.clone() {
        Some(s) => s,
        None if profile == Profile::Production => {
            return Err(invalid("auth.jwt_secret", "is required with --profile production"));
        }
        None => {
            settings.resolved.from_data_dir.push(data_dir.join("jwt_secret"));
            stored_secret(&data_dir, "jwt_secret", || random_token(48))?
        }
    };
    let key = match settings.security.encryption_key.clone() {
        Some(s) => s,
        None if profile == Profile::Production => {
            return Err(invalid("security.encryption_key", "is required with --profile production"));
        }
        None => {
            settings.resolved.from_data_dir.push(data_dir.join("encryption_key"));
            let stored = stored_secret(&data_dir, "encryption_key", fernet::Fernet::generate_key)?;
            if fernet::Fernet::new(stored.expose()).is_none() {
                return Err(invalid(
                    "security.encryption_key",
                    format!("the stored key in {} is not a Fernet key", data_dir.join("encryption_key").display()),
                ));
            }
            stored
        }
    };
    settings.resolved.jwt_secret = jwt;
    settings.resolved.encryption_key = key;
    Ok(())
}

fn stored_secret(dir: &Path, name: &str, generate: impl FnOnce() -> String) -> Result<SecretString, ConfigError> {
    let path = dir.join(name);
    let io_err = |source| ConfigError::SecretFile { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(SecretString::new(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let value = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io_err)?;
    file.write_all(value.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(SecretString::new(value))
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = env(pairs);
        all.push(("PYTAKE__STORAGE__DATA_DIR".into(), dir.path().display().to_string()));
        load_from_parts(None, all, Profile::Development)
    }

    #[test]
    fn defaults_load_and_generate_secrets_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vars = env(&[("PYTAKE__STORAGE__DATA_DIR", &dir.path().display().to_string())]);
        let first = load_from_parts(None, vars.clone(), Profile::Development).expect("loads");
        assert_eq!(first.server.listen, "127.0.0.1:8000");
        assert_eq!(first.database.url.expose(), "sqlite://data/pytake.db");
        let second = load_from_parts(None, vars, Profile::Development).expect("loads");
        assert_eq!(first.resolved.jwt_secret, second.resolved.jwt_secret);
        assert_eq!(first.resolved.encryption_key, second.resolved.encryption_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt_secret")).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn env_overrides_are_typed_by_the_default() {
        let s = load_env(&[
            ("PYTAKE__SERVER__WORKERS", "3"),
            ("PYTAKE__SERVER__TRUST_FORWARDED_FOR", "true"),
            ("PYTAKE__BOOTSTRAP__ADMIN_PASSWORD", "12345678901"),
            ("PYTAKE__CORS__ALLOWED_ORIGINS", "https://a.example, https://b.example"),
            ("PYTAKE__REDIS__URL", "redis://127.0.0.1:6379"),
        ])
        .expect("loads");
        assert_eq!(s.server.workers, 3);
        assert!(s.server.trust_forwarded_for);
        assert_eq!(s.bootstrap.admin_password.as_ref().map(|p| p.expose()), Some("12345678901"));
        assert_eq!(s.cors.allowed_origins.len(), 2);
        assert!(s.redis.url.is_some());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("PYTAKE__SERVER__LISTEN", "nonsense", "server.listen"),
            ("PYTAKE__SERVER__WORKERS", "many", "server.workers"),
            ("PYTAKE__DATABASE__URL", "mysql://x", "database.url"),
            ("PYTAKE__AUTH__JWT_SECRET", "short", "auth.jwt_secret"),
            ("PYTAKE__SECURITY__ENCRYPTION_KEY", "not-a-key", "security.encryption_key"),
            ("PYTAKE__SERVER__NO_SUCH_KEY", "1", "server"),
            ("PYTAKE__LOG__FORMAT", "xml", "log.format"),
            ("PYTAKE__NOSECTION", "1", "PYTAKE__NOSECTION"),
        ];
        for (name, value, key) in cases {
            let err = load_env(&[(name, value)]).expect_err(name);
            let text = err.to_string();
            assert!(text.contains(key), "{name}: `{text}` should name {key}");
        }
    }

    #[test]
    fn production_requires_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vars = env(&[("PYTAKE__STORAGE__DATA_DIR", &dir.path().display().to_string())]);
        let err = load_from_parts(None, vars, Profile::Production).expect_err("must refuse");
        assert!(err.to_string().contains("auth.jwt_secret"));
        assert!(!dir.path().join("jwt_secret").exists(), "production never generates secrets");
    }

    #[test]
    fn file_layer_overrides_defaults_and_env_overrides_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[server]\nlisten = \"0.0.0.0:9000\"\nworkers = 2\n").expect("write");
        let vars =
            env(&[("PYTAKE__STORAGE__DATA_DIR", &dir.path().display().to_string()), ("PYTAKE__SERVER__WORKERS", "5")]);
        let s = load_from_parts(Some(&file), vars, Profile::Development).expect("loads");
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.server.workers, 5);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = load_env(&[("PYTAKE__AUTH__JWT_SECRET", "a-very-long-jwt-secret-that-is-secret-1234")]).expect("loads");
        let debug = format!("{s:?}");
        assert!(!debug.contains("a-very-long-jwt-secret"));
        assert!(debug.contains("[redacted]"));
    }
}
