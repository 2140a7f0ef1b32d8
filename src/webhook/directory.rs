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
    by_waba: DashMap<String, (Instant, Option<Arc<NumberInfo>>)>,
}

impl NumberDirectory {
    pub fn new(db: Db, secrets: SecretBox) -> Self {
        NumberDirectory { db, secrets, cache: DashMap::new(), by_waba: DashMap::new() }
    }

    /// The live number Meta calls `phone_number_id`, if any.
    pub async fn lookup(&self, phone_number_id: &str) -> Result<Option<Arc<NumberInfo>>, StoreError> {
        if let Some(info) = cached(&self.cache, phone_number_id) {
            return Ok(info);
        }
        let mut c = self.db.conn().await?;
        let row = numbers::find_by_phone_number_id(&mut c, phone_number_id).await?;
        let info = self.info(row)?;
        remember(&self.cache, phone_number_id, info.clone());
        Ok(info)
    }

    /// A live number of the WhatsApp Business Account `waba_id` (account-level events carry no number).
    pub async fn lookup_waba(&self, waba_id: &str) -> Result<Option<Arc<NumberInfo>>, StoreError> {
        if let Some(info) = cached(&self.by_waba, waba_id) {
            return Ok(info);
        }
        let mut c = self.db.conn().await?;
        let row = numbers::find_by_waba_id(&mut c, waba_id).await?;
        let info = self.info(row)?;
        remember(&self.by_waba, waba_id, info.clone());
        Ok(info)
    }

    fn info(&self, row: Option<numbers::NumberRow>) -> Result<Option<Arc<NumberInfo>>, StoreError> {
        Ok(match row.filter(|r| r.deleted_at.is_none()) {
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
        })
    }

    /// Forgets a number (after it was created, changed or deleted).
    pub fn invalidate(&self, phone_number_id: &str) {
        self.cache.remove(phone_number_id);
        self.by_waba.clear();
    }
}

type Cache = DashMap<String, (Instant, Option<Arc<NumberInfo>>)>;

fn cached(cache: &Cache, key: &str) -> Option<Option<Arc<NumberInfo>>> {
    let hit = cache.get(key)?;
    let (at, info) = hit.value();
    let ttl = if info.is_some() { POSITIVE_TTL } else { NEGATIVE_TTL };
    (at.elapsed() < ttl).then(|| info.clone())
}

fn remember(cache: &Cache, key: &str, info: Option<Arc<NumberInfo>>) {
    if info.is_some() || cache.len() < MAX_NEGATIVE {
        cache.insert(key.to_string(), (Instant::now(), info));
    }
}
