//! After a start, wakes the actors of recently active conversations before their next message: the
//! open conversations with a message within `actors.prewarm_window_secs` (most recent first, at
//! most `actors.prewarm_max`) are read a few hundred at a time — snapshot and pending items in a
//! handful of statements per batch, one batch after another on one connection — and each actor is
//! started holding them. A deploy or a crash then costs the customers nothing on their next message.

use crate::db::Db;
use crate::repo::hydration;
use crate::store::SqlConversationStore;
use pytake_actors::runtime::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Conversations read and woken per batch.
const BATCH: usize = 500;

/// Starts the prewarm on the current arbiter (nothing to do when the window is 0).
pub fn start(db: Db, store: Arc<SqlConversationStore>, registry: Arc<Registry>, window: Duration, max: usize) {
    if window.is_zero() || max == 0 {
        return;
    }
    actix::spawn(async move {
        let started = Instant::now();
        match run(&db, &store, &registry, window, max).await {
            Ok((0, _)) => {}
            Ok((woken, read)) => tracing::info!(
                woken,
                read,
                secs = started.elapsed().as_secs_f64(),
                "prewarmed the actors of recently active conversations"
            ),
            Err(e) => tracing::warn!(error = %e, "prewarming actors stopped; they wake on their next message instead"),
        }
    });
}

/// Returns (actors woken, conversations read).
async fn run(
    db: &Db,
    store: &SqlConversationStore,
    registry: &Registry,
    window: Duration,
    max: usize,
) -> Result<(usize, usize), crate::db::StoreError> {
    let since = chrono::Utc::now() - chrono::Duration::from_std(window).unwrap_or_default();
    let keys = {
        let mut c = db.conn().await?;
        hydration::recently_active(&mut c, since, max).await?
    };
    let mut woken = 0;
    for chunk in keys.chunks(BATCH) {
        let chunk: Vec<_> = chunk.iter().filter(|k| !registry.is_active(k)).cloned().collect();
        for (key, snapshot, pending) in store.warm_batch(&chunk, registry.config().load_page).await? {
            if registry.prewarm(&key, snapshot, pending) {
                woken += 1;
            }
        }
    }
    Ok((woken, keys.len()))
}
