//! Nothing acknowledged is lost: at start every conversation with pending inbox items is woken (its
//! actor loads them from the store in their original order), and a sweeper periodically wakes
//! conversations whose items have waited too long (a delivery that found its actor full, an actor
//! that crashed, an item whose retry was lost with a node).

use crate::db::Db;
use crate::repo::inbox;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::ConversationKey;
use pytake_actors::ports::Clock;
use pytake_actors::runtime::Registry;
use std::sync::Arc;
use std::time::Duration;

const PAGE: u32 = 1000;

/// Wakes every conversation with items pending since before `before`. Returns how many.
pub async fn wake_pending(
    db: &Db,
    registry: &Registry,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<usize, crate::db::StoreError> {
    let mut c = db.conn().await?;
    let keys = inbox::pending_keys(&mut c, before, PAGE).await?;
    drop(c);
    for k in &keys {
        #[allow(clippy::disallowed_methods)]
        let org = OrgId::assume_verified(k.organization_id);
        registry.wake(&ConversationKey { org, number_id: k.number_id, contact_wa_id: k.contact_wa_id.clone() });
    }
    Ok(keys.len())
}

/// Runs recovery now and the sweeper forever, on the current arbiter.
pub fn start(db: Db, registry: Arc<Registry>, clock: Arc<dyn Clock>, every: Duration, stale_after: Duration) {
    actix::spawn(async move {
        match wake_pending(&db, &registry, clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(conversations = n, "recovering unfinished inbox items"),
            Err(e) => tracing::warn!(error = %e, "recovery could not read the inbox; the sweeper will retry"),
        }
        loop {
            tokio::time::sleep(every).await;
            let before = clock.now() - chrono::Duration::from_std(stale_after).unwrap_or_default();
            if let Err(e) = wake_pending(&db, &registry, before).await {
                tracing::warn!(error = %e, "sweeper could not read the inbox");
            }
        }
    });
}
