//! Pools, connections and transactions for both backends. SQLite runs in WAL mode with a busy
//! timeout and foreign keys on, and write transactions start with `BEGIN IMMEDIATE` so two writers
//! never deadlock on a lock upgrade.

use crate::config::DatabaseSettings;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The store could not be reached (reported on behalf of another task).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A write failed (reported on behalf of another task).
    #[error("{0}")]
    Failed(String),
}

impl StoreError {
    /// The store could not be reached (pool exhausted, connection refused, server gone): callers
    /// answer 503 so clients (and Meta) retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
            || matches!(
                self,
                StoreError::Sqlx(
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
                )
            )
            || matches!(self, StoreError::Sqlx(sqlx::Error::Database(d)) if is_transient_db_error(d.code().as_deref()))
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sqlx(e) if super::is_unique_violation(e))
    }
}

/// PostgreSQL "admin shutdown"/"cannot connect now" and SQLite BUSY/LOCKED are transient.
fn is_transient_db_error(code: Option<&str>) -> bool {
    matches!(code, Some("57P01" | "57P02" | "57P03" | "53300" | "5" | "6" | "517" | "261"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database: a pool for one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// PostgreSQL's two pools. `pool` serves everything with PostgreSQL's default plan choice: a query
/// whose best plan depends on its parameters (optional filters, searches) is planned for the values
/// it gets. `hot` serves the hot path's batch statements (webhook ingest, the actors' commits and
/// wake-up reads) with `plan_cache_mode = force_generic_plan`: their shape never changes and their
/// parameters are arrays of keys, so a custom plan buys nothing, yet planning one cost as much as
/// running it (0.5 ms of the single-statement commit's 1 ms at 1,000 deliveries/s). Their cached
/// plans follow the tables' growth through [`super::statistics`] (an ANALYZE re-plans them).
///
/// The hot pool's connections are opened together once the schema is migrated
/// ([`Db::open_hot_path`]) and kept open (no idle timeout, no maximum lifetime); each new one runs a
/// [`WarmUp`] before its first use, so no delivery pays for a cold backend.
#[derive(Clone, Debug)]
pub struct PgDb {
    pub pool: PgPool,
    pub hot: PgPool,
}

/// Prepares a new hot-path connection before its first use (it must write nothing and never fail:
/// a connection it could not warm is still usable). A fresh PostgreSQL backend has empty catalog
/// caches and nothing parsed or planned: its first run of each hot statement took 10-30 ms
/// (measured), which every delivery of the first burst after a start waited behind.
pub type WarmUp = for<'c> fn(&'c mut PgConnection) -> futures_util::future::BoxFuture<'c, ()>;

/// A borrowed PostgreSQL connection as a [`Conn`] (for a connection hook).
pub struct PgConnRef<'c>(pub &'c mut PgConnection);

impl Conn for PgConnRef<'_> {
    fn conn(&mut self) -> ConnRef<'_> {
        ConnRef::Postgres(self.0)
    }
}

/// SQLite allows one writer at a time. Its own lock makes a waiting writer sleep and poll (1, 2, 5,
/// ... 100 ms), which wrecks latency under load; so write transactions queue here, in process, and
/// only the one holding the permit talks to SQLite's lock. Reads run concurrently beside it (WAL).
///
/// Latency-critical writers (webhook acknowledgements) go first: ordinary writers pass one at a
/// time through a gate before joining the queue, so a priority writer waits for at most the
/// transaction in progress and one more.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    writer: Arc<Semaphore>,
    ordinary_gate: Arc<Semaphore>,
}

/// How urgently a write transaction needs the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePriority {
    Normal,
    /// Someone is waiting on it with a deadline (a webhook acknowledgement).
    Urgent,
}

impl Db {
    /// Connects lazily-validated pools; for SQLite creates the file's folder and the file.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, StoreError> {
        Self::connect_with_warm_up(settings, None).await
    }

    /// [`Self::connect`], with a hook each new hot-path connection runs first (PostgreSQL).
    pub async fn connect_with_warm_up(settings: &DatabaseSettings, warm_up: Option<WarmUp>) -> Result<Db, StoreError> {
        let url = settings.url.expose();
        let acquire = Duration::from_secs(settings.acquire_timeout_secs);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("temp_store", "memory");
            let file = options.get_filename().to_path_buf();
            if let Some(parent) = file.parent()
                && !parent.as_os_str().is_empty()
                && file.to_str() != Some(":memory:")
            {
                std::fs::create_dir_all(parent)
                    .map_err(|source| StoreError::Folder { path: parent.display().to_string(), source })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(SqliteDb {
                pool,
                writer: Arc::new(Semaphore::new(1)),
                ordinary_gate: Arc::new(Semaphore::new(1)),
            }))
        } else {
            // Plans are cached per connection (PostgreSQL's default `plan_cache_mode`). A plan cached
            // while a table was nearly empty could keep scanning after it grew (a 10-minute soak fell
            // minutes behind): `statistics` re-analyzes a table once it has outgrown its statistics,
            // which re-plans those statements. Forcing a fresh plan per execution instead cost a third
            // of PostgreSQL's CPU at 3,000 deliveries/s, most of it re-planning the foreign-key
            // checks of every inserted row.
            // `min_connections` are opened (and kept open) ahead of the first burst, in each pool: a
            // connection opened under load costs its caller a handshake and a cold backend. The hot
            // path's pool (see `PgDb`) also keeps the webhooks' and actors' statements from waiting
            // behind API traffic for a connection.
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .min_connections(settings.min_connections.min(settings.max_connections))
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await?;
            let mut hot = PgPoolOptions::new()
                .max_connections(settings.hot_path_connections.max(1))
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(acquire);
            if let Some(warm_up) = warm_up {
                hot = hot.after_connect(move |conn, _| {
                    Box::pin(async move {
                        warm_up(conn).await;
                        Ok(())
                    })
                });
            }
            let hot = hot.connect_lazy_with(options.options([("plan_cache_mode", "force_generic_plan")]));
            Ok(Db::Postgres(PgDb { pool, hot }))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(p) => SQLITE_MIGRATIONS.run(&p.pool).await?,
            Db::Postgres(p) => POSTGRES_MIGRATIONS.run(&p.pool).await?,
        }
        Ok(())
    }

    /// A pooled connection for reads. Writes go through [`Self::begin`], even single statements: on
    /// SQLite that is what queues them behind the one writer instead of sleeping on its lock.
    pub async fn conn(&self) -> Result<DbConn, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => DbConn::Sqlite(p.pool.acquire().await?),
            Db::Postgres(p) => DbConn::Postgres(p.pool.acquire().await?),
        })
    }

    /// Opens every hot-path connection (each runs the warm-up hook): call once the schema is
    /// migrated. Nothing to do on SQLite.
    pub async fn open_hot_path(&self) -> Result<(), StoreError> {
        let Db::Postgres(p) = self else { return Ok(()) };
        let all = (0..p.hot.options().get_max_connections()).map(|_| p.hot.acquire());
        futures_util::future::try_join_all(all).await?;
        Ok(())
    }

    /// A connection for the hot path's batch statements (see [`PgDb`]); on SQLite, [`Self::conn`].
    pub async fn hot_conn(&self) -> Result<DbConn, StoreError> {
        match self {
            Db::Sqlite(_) => self.conn().await,
            Db::Postgres(p) => Ok(DbConn::Postgres(p.hot.acquire().await?)),
        }
    }

    /// A write transaction for the hot path's batch statements; on SQLite, [`Self::begin`].
    pub async fn hot_begin(&self) -> Result<DbTx, StoreError> {
        match self {
            Db::Sqlite(_) => self.begin().await,
            Db::Postgres(p) => Ok(DbTx::Postgres(p.hot.begin().await?)),
        }
    }

    /// A write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<DbTx, StoreError> {
        self.begin_with(WritePriority::Normal).await
    }

    /// A write transaction that jumps the SQLite writer queue when `Urgent`.
    pub async fn begin_with(&self, priority: WritePriority) -> Result<DbTx, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => {
                let closed = |_| sqlx::Error::PoolClosed;
                let permit = match priority {
                    WritePriority::Urgent => p.writer.clone().acquire_owned().await.map_err(closed)?,
                    WritePriority::Normal => {
                        let _gate = p.ordinary_gate.acquire().await.map_err(closed)?;
                        p.writer.clone().acquire_owned().await.map_err(closed)?
                    }
                };
                DbTx::Sqlite(p.pool.begin_with("BEGIN IMMEDIATE").await?, permit)
            }
            Db::Postgres(p) => DbTx::Postgres(p.pool.begin().await?),
        })
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        crate::sql_scalar!(&mut c, fetch_one, i32, "SELECT 1")?;
        Ok(())
    }

    /// Whether [`Db::close`] was called (shutdown): background loops stop taking work.
    pub fn is_closed(&self) -> bool {
        match self {
            Db::Sqlite(p) => p.pool.is_closed(),
            Db::Postgres(p) => p.pool.is_closed(),
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => {
                p.writer.close();
                p.ordinary_gate.close();
                p.pool.close().await
            }
            Db::Postgres(p) => {
                p.hot.close().await;
                p.pool.close().await
            }
        }
    }
}

/// A connection borrowed for one query, on either backend.
pub enum ConnRef<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// Anything a query can run on: a pooled connection or a transaction.
pub trait Conn: Send {
    fn conn(&mut self) -> ConnRef<'_>;
}

pub enum DbConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Conn for DbConn {
    fn conn(&mut self) -> ConnRef<'_> {
        match self {
            DbConn::Sqlite(c) => ConnRef::Sqlite(c),
            DbConn::Postgres(c) => ConnRef::Postgres(c),
        }
    }
}

pub enum DbTx {
    /// A SQLite write transaction and its place in the writer queue (released with it).
    Sqlite(Transaction<'static, Sqlite>, OwnedSemaphorePermit),
    Postgres(Transaction<'static, Postgres>),
}

impl DbTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            DbTx::Sqlite(t, _permit) => t.commit().await?,
            DbTx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            DbTx::Sqlite(t, _permit) => t.rollback().await?,
            DbTx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

impl Conn for DbTx {
    fn conn(&mut self) -> ConnRef<'_> {
        match self {
            DbTx::Sqlite(t, _) => ConnRef::Sqlite(t),
            DbTx::Postgres(t) => ConnRef::Postgres(t),
        }
    }
}
