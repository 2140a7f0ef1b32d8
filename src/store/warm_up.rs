//! Warms a new hot-path PostgreSQL connection (see [`crate::db::PgDb`]) before its first use: runs
//! each hot statement once with nothing to write or find (empty batches, a key nobody has), so the
//! backend has parsed and planned them and loaded the catalog entries of their tables and indexes.
//! Without it, the first burst after a start waited 10-30 ms behind each statement's first run on
//! each connection (the first 100 ms of deliveries had frames at 40-90 ms).

use crate::db::{PgConnRef, StoreError};
use crate::repo::hydration::{self, KeyRef};
use crate::repo::{inbox, messages};
use futures_util::future::BoxFuture;
use pytake_actors::OrgId;
use sqlx::PgConnection;
use std::time::Instant;
use uuid::Uuid;

/// The [`crate::db::WarmUp`] hook: never fails (a connection it could not warm still works).
pub fn hot_path_connection(conn: &mut PgConnection) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let started = Instant::now();
        match run(conn).await {
            Ok(()) => tracing::debug!(ms = started.elapsed().as_secs_f64() * 1000.0, "hot-path connection warmed up"),
            Err(e) => tracing::warn!(error = %e, "cannot warm up a hot-path connection"),
        }
    })
}

// The nil organization cannot exist: every lookup below finds nothing, and the empty batches write nothing.
#[allow(clippy::disallowed_methods)]
async fn run(conn: &mut PgConnection) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    let nobody = OrgId::assume_verified(Uuid::nil());
    inbox::insert_batch(&mut PgConnRef(&mut *conn), &[], &[], now).await?;
    super::single_statement::commit(&mut *conn, &[], now).await?;
    let mut c = PgConnRef(conn);
    hydration::pending(&mut c, &[KeyRef { org: nobody, number_id: Uuid::nil(), wa_id: "" }], 1).await?;
    hydration::contacts(&mut c, &[(nobody, "")]).await?;
    hydration::open_conversations(&mut c, &[(nobody, Uuid::nil(), Uuid::nil())]).await?;
    messages::find_status_targets(&mut c, nobody, Uuid::nil(), &[String::new()]).await?;
    Ok(())
}
