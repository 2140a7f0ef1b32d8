//! The number directory: `phone_number_id` -> the number's tenant, id and decrypted app secret,
//! cached briefly so a webhook delivery does not cost a query per number. Number changes invalidate
//! their entry at once on this node; other nodes see them within the TTL.

use crate::crypto::SecretBox;
use crate::db::{Db, StoreError};
use crate::repo::numbers;
use dashmap::DashMap;
use pytake_actors::OrgId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const POSITIVE_TTL: Duration = Duration::from_secs(30);
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Unknown ids are cached only up to this many, so junk deliveries cannot grow the map.
const MAX_NEGATIVE: usize = 10_000;

#[derive(Clone, Debug)]
pub struct NumberInfo {
    pub id: Uuid,
    pub org: OrgId,
    pub phone_number_id: String,
    pub app_secret: Option<String>,
}

pub struct NumberDirectory {
    db: Db,
    secrets: SecretBox,
    cache: DashMap<String, (Instant, Option<Arc<NumberInfo>>)>,
}

impl NumberDirectory {
    pub fn new(db: Db, secrets: SecretBox) -> Self {
        NumberDirectory { db, secrets, cache: DashMap::new() }
    }

    /// The live number Meta calls `phone_number_id`, if any.
    pub async fn lookup(&self, phone_number_id: &str) -> Result<Option<Arc<NumberInfo>>, StoreError> {
        if let Some(hit) = self.cache.get(phone_number_id) {
            let (at, info) = hit.value();
            let ttl = if info.is_some() { POSITIVE_TTL } else { NEGATIVE_TTL };
            if at.elapsed() < ttl {
                return Ok(info.clone());
            }
        }
        let mut c = self.db.conn().await?;
        let row = numbers::find_by_phone_number_id(&mut c, phone_number_id).await?;
        let info = match row.filter(|r| r.deleted_at.is_none()) {
            Some(r) => {
                let app_secret = match &r.app_secret_enc {
                    Some(enc) => Some(self.secrets.decrypt(enc).map_err(|e| StoreError::Corrupt(e.to_string()))?),
                    None => None,
                };
                #[allow(clippy::disallowed_methods)]
                let org = OrgId::assume_verified(r.organization_id);
                Some(Arc::new(NumberInfo { id: r.id, org, phone_number_id: r.phone_number_id, app_secret }))
            }
            None => None,
        };
        if info.is_some() || self.cache.len() < MAX_NEGATIVE {
            self.cache.insert(phone_number_id.to_string(), (Instant::now(), info.clone()));
        }
        Ok(info)
    }

    /// Forgets a number (after it was created, changed or deleted).
    pub fn invalidate(&self, phone_number_id: &str) {
        self.cache.remove(phone_number_id);
    }
}
