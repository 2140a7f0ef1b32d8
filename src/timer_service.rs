//! Fires stored flow timers: a due timer is claimed (pending -> fired) and turned into an inbox item
//! of its conversation in one transaction, then dispatched like a webhook item, so it runs in order
//! with the conversation's messages, exactly once, after a passivation or a restart too.

use crate::db::{Db, StoreError};
use crate::repo::inbox::{self, NewInboxItem};
use crate::repo::timers;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::ConversationKey;
use pytake_actors::domain::inbound::{InboxPayload, TimerFired};
use pytake_actors::ports::{Clock, InboxItem};
use pytake_actors::runtime::Registry;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Fires every timer due now; returns how many.
pub async fn fire_due(db: &Db, registry: &Registry, clock: &dyn Clock) -> Result<usize, StoreError> {
    let now = clock.now();
    let mut c = db.conn().await?;
    let due = timers::due(&mut c, now, 500).await?;
    drop(c);
    if due.is_empty() {
        return Ok(0);
    }
    let mut fired = Vec::new();
    let mut tx = db.begin().await?;
    for t in &due {
        if !timers::mark_fired(&mut tx, t.id, now).await? {
            continue;
        }
        let payload = InboxPayload::Timer(TimerFired {
            timer_id: t.id,
            conversation_id: t.conversation_id,
            kind: t.kind.clone(),
            node: t.payload.0.get("node").and_then(|n| n.as_str()).unwrap_or_default().to_string(),
            token: t.payload.0.get("token").and_then(|n| n.as_u64()).unwrap_or(0),
        });
        let item = NewInboxItem {
            id: Uuid::now_v7(),
            organization_id: t.organization_id,
            number_id: t.number_id,
            kind: "timer",
            dedup_key: format!("t:{}", t.id),
            contact_wa_id: t.contact_wa_id.clone(),
            payload: serde_json::to_value(&payload).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            wa_timestamp: None,
        };
        if inbox::insert_internal(&mut tx, &item, now).await? {
            fired.push((t.clone(), item.id, payload));
        }
    }
    tx.commit().await?;
    for (t, id, payload) in &fired {
        #[allow(clippy::disallowed_methods)]
        let org = OrgId::assume_verified(t.organization_id);
        let key = ConversationKey { org, number_id: t.number_id, contact_wa_id: t.contact_wa_id.clone() };
        registry.dispatch(&key, vec![InboxItem { id: *id, payload: payload.clone(), attempts: 0 }]);
    }
    Ok(fired.len())
}

/// Checks for due timers every `every`, on the current arbiter.
pub fn start(db: Db, registry: Arc<Registry>, clock: Arc<dyn Clock>, every: Duration) {
    actix::spawn(async move {
        loop {
            if let Err(e) = fire_due(&db, &registry, clock.as_ref()).await {
                tracing::warn!(error = %e, "cannot fire due timers; will retry");
            }
            tokio::time::sleep(every).await;
        }
    });
}
