//! Keeps PostgreSQL's planner statistics in step with tables that grow fast (a fresh install under
//! load): a table is analyzed again once it has changed by more rows than it held when last
//! analyzed. Statements keep their cached plans between analyses, and an ANALYZE re-plans them, so
//! a plan chosen while a table was nearly empty cannot outlive the table's growth.

use super::{ConnRef, Db, StoreError};
use std::time::Duration;

/// Tables changed by at least `max(MIN_CHANGES, rows at the last analysis)` rows since then, among
/// those this role may analyze (an owner's or a superuser's; another table's ANALYZE would only warn,
/// every round).
const STALE_TABLES: &str = "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze >= GREATEST($1, c.reltuples)
       AND pg_has_role(current_user, c.relowner, 'MEMBER')
     ORDER BY s.relname";

/// Below this many changes, autovacuum's own analysis (every minute) is soon enough.
const MIN_CHANGES: f32 = 1000.0;

/// The keeper's analyses sample 3,000 rows (300 x this) instead of 30,000: enough for row counts and
/// the keys' distributions, which is what a growing table's plans need, at a tenth of the cost (an
/// ANALYZE competes with the traffic that made the table grow). Autovacuum's own analyses, once a
/// minute at most, use the configured target.
const SAMPLE_TARGET: u32 = 10;

/// Checks every `every` and analyzes the tables that have outgrown their statistics (PostgreSQL only;
/// SQLite plans without statistics).
pub fn start(db: Db, every: Duration) {
    if !matches!(db.backend(), super::Backend::Postgres) {
        return;
    }
    actix::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match analyze_stale(&db).await {
                Ok(tables) if !tables.is_empty() => tracing::debug!(?tables, "planner statistics refreshed"),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "cannot refresh planner statistics"),
            }
        }
    });
}

/// Analyzes every table whose statistics are stale by the rule above; returns their names.
pub async fn analyze_stale(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut c = db.conn().await?;
    let ConnRef::Postgres(conn) = super::Conn::conn(&mut c) else { return Ok(Vec::new()) };
    let tables: Vec<String> = sqlx::query_scalar(STALE_TABLES).bind(MIN_CHANGES).fetch_all(&mut *conn).await?;
    for table in &tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        // One simple-protocol round trip; SET LOCAL ends with the implicit transaction.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET LOCAL default_statistics_target = {SAMPLE_TARGET}; ANALYZE {quoted}"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(tables)
}
