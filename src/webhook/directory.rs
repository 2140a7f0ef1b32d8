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

/// What sending needs to know about a number.
#[derive(Clone, Debug)]
pub struct SendingInfo {
    pub phone_number_id: String,
    pub access_token: Option<String>,
    pub messages_per_second: u32,
    /// Meta rejected the token (error 190): sends fail until it is replaced.
    pub token_invalid: bool,
}

pub struct NumberDirectory {
    db: Db,
    secrets: SecretBox,
    sending: DashMap<Uuid, (Instant, Arc<SendingInfo>)>,
    cache: DashMap<String, (Instant, Option<Arc<NumberInfo>>)>,
    by_waba: DashMap<String, (Instant, Option<Arc<NumberInfo>>)>,
}

impl NumberDirectory {
    pub fn new(db: Db, secrets: SecretBox) -> Self {
        NumberDirectory { db, secrets, cache: DashMap::new(), by_waba: DashMap::new(), sending: DashMap::new() }
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
        self.sending.clear();
    }

    /// The number's sending details (its decrypted token), cached briefly.
    pub async fn sending(&self, org: OrgId, number_id: Uuid) -> Result<Option<Arc<SendingInfo>>, StoreError> {
        if let Some(hit) = self.sending.get(&number_id)
            && hit.0.elapsed() < POSITIVE_TTL
        {
            return Ok(Some(hit.1.clone()));
        }
        let mut c = self.db.conn().await?;
        let Some(row) = numbers::get_any(&mut c, org, number_id).await? else { return Ok(None) };
        let access_token = match &row.access_token_enc {
            Some(enc) => Some(self.secrets.decrypt(enc).map_err(|e| StoreError::Corrupt(e.to_string()))?),
            None => None,
        };
        let info = Arc::new(SendingInfo {
            phone_number_id: row.phone_number_id,
            access_token,
            messages_per_second: row.messages_per_second.max(1) as u32,
            token_invalid: row.token_invalid_at.is_some(),
        });
        self.sending.insert(number_id, (Instant::now(), info.clone()));
        Ok(Some(info))
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
