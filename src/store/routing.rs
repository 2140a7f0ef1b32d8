//! Which flow starts a new conversation on a number, cached: the number's chatbots (keywords,
//! default, fallback), each flow's published version, and the number with its organization's time
//! zone. Entries live a few seconds at most, are keyed by organization, are read once however many
//! conversations miss them at the same time, and are dropped at once when this node changes a chatbot, flow or number (the services call
//! [`RoutingCache::invalidate`]); another node sees a change within the time to live.

use crate::db::{Db, StoreError};
use crate::repo::{chatbots, flows, numbers, organizations};
use dashmap::DashMap;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::NumberRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

/// A number's routing, in order of precedence.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Active chatbots' keywords (lowercase) and their main flow.
    keyword_flows: Vec<(Vec<String>, Uuid)>,
    /// The number's default flow, its default chatbot's flow, a chatbot with the default trigger.
    defaults: Vec<Uuid>,
    /// Fallback flows, used when none of the above can run.
    fallbacks: Vec<Uuid>,
}

impl RouteTable {
    /// The flows to try for a conversation whose first message is `first_text`, best first.
    pub fn candidates(&self, first_text: Option<&str>) -> Vec<Uuid> {
        let by_keyword = first_text.and_then(|t| {
            self.keyword_flows
                .iter()
                .find(|(keywords, _)| keywords.iter().any(|k| keyword_matches(t, k)))
                .map(|(_, f)| *f)
        });
        by_keyword.into_iter().chain(self.defaults.iter().copied()).chain(self.fallbacks.iter().copied()).collect()
    }
}

/// Whether `text` calls for a keyword: the whole message, or one of its words, case-insensitively.
pub fn keyword_matches(text: &str, keyword: &str) -> bool {
    let text = text.trim().to_lowercase();
    let keyword = keyword.trim().to_lowercase();
    !keyword.is_empty()
        && (text == keyword
            || text.split(|c: char| !c.is_alphanumeric()).any(|w| w == keyword)
            || (keyword.contains(' ') && text.contains(&keyword)))
}

/// A number as its conversations see it, with its organization's time zone.
#[derive(Clone, Debug)]
pub struct NumberContext {
    pub number: NumberRecord,
    pub timezone: chrono_tz::Tz,
}

/// Entries kept for [`TTL`] and while the cache's epoch is unchanged, by (organization, id): a
/// lookup is answered only from what was read for the same organization. Concurrent misses of one
/// key share one read: the first burst after a start, or after an entry expires, would otherwise
/// send every waking conversation to the database for the same rows.
struct Entries<V> {
    entries: DashMap<(Uuid, Uuid), (Instant, u64, V)>,
    loading: DashMap<(Uuid, Uuid), Arc<tokio::sync::Mutex<()>>>,
}

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries { entries: DashMap::new(), loading: DashMap::new() }
    }
}

impl<V: Clone> Entries<V> {
    fn fresh(&self, epoch: &AtomicU64, key: (Uuid, Uuid)) -> Option<V> {
        let hit = self.entries.get(&key)?;
        (hit.0.elapsed() < TTL && hit.1 == epoch.load(Ordering::Acquire)).then(|| hit.2.clone())
    }

    async fn get_or_load<F, Fut>(&self, epoch: &AtomicU64, org: OrgId, id: Uuid, load: F) -> Result<V, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, StoreError>>,
    {
        let key = (org.as_uuid(), id);
        if let Some(v) = self.fresh(epoch, key) {
            return Ok(v);
        }
        if self.loading.len() >= MAX_ENTRIES {
            self.loading.clear();
        }
        let gate = self.loading.entry(key).or_default().clone();
        let _turn = gate.lock().await;
        if let Some(v) = self.fresh(epoch, key) {
            return Ok(v);
        }
        let read_at = epoch.load(Ordering::Acquire);
        let value = load().await?;
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(key, (Instant::now(), read_at, value.clone()));
        Ok(value)
    }
}

#[derive(Default)]
pub struct RoutingCache {
    epoch: AtomicU64,
    tables: Entries<Option<Arc<RouteTable>>>,
    published: Entries<Option<Uuid>>,
    numbers: Entries<Option<NumberContext>>,
}

impl RoutingCache {
    /// Forgets everything cached (call after changing a chatbot, a flow or a number).
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The number's routing table (None when the number is not the organization's).
    pub async fn table(&self, db: &Db, org: OrgId, number_id: Uuid) -> Result<Option<Arc<RouteTable>>, StoreError> {
        self.tables.get_or_load(&self.epoch, org, number_id, || read_table(db, org, number_id)).await
    }

    /// The number and its organization's time zone (None when the number is not the org's).
    pub async fn number(&self, db: &Db, org: OrgId, number_id: Uuid) -> Result<Option<NumberContext>, StoreError> {
        self.numbers.get_or_load(&self.epoch, org, number_id, || read_number(db, org, number_id)).await
    }

    /// The flow's published version, if any.
    pub async fn published_version(&self, db: &Db, org: OrgId, flow_id: Uuid) -> Result<Option<Uuid>, StoreError> {
        self.published
            .get_or_load(&self.epoch, org, flow_id, || async move {
                let mut c = db.conn().await?;
                flows::published_version_id(&mut c, org, flow_id).await
            })
            .await
    }
}

async fn read_table(db: &Db, org: OrgId, number_id: Uuid) -> Result<Option<Arc<RouteTable>>, StoreError> {
    let mut c = db.conn().await?;
    let Some(number) = numbers::get_any(&mut c, org, number_id).await? else { return Ok(None) };
    let bots = chatbots::for_number(&mut c, org, number_id).await?;
    let default_bot_flow = match number.default_chatbot_id {
        Some(id) => chatbots::get(&mut c, org, id).await?.filter(|b| b.is_active).and_then(|b| b.main_flow_id),
        None => None,
    };
    drop(c);
    let flag = |b: &chatbots::ChatbotRow, name: &str| b.triggers.0.get(name).and_then(|d| d.as_bool()).unwrap_or(false);
    let keyword_flows = bots
        .iter()
        .filter_map(|b| {
            let keywords: Vec<String> = b
                .triggers
                .0
                .get("keywords")?
                .as_array()?
                .iter()
                .filter_map(|k| k.as_str())
                .map(str::to_lowercase)
                .collect();
            Some((keywords, b.main_flow_id?))
        })
        .collect();
    let default_trigger = bots.iter().find(|b| flag(b, "default")).and_then(|b| b.main_flow_id);
    Ok(Some(Arc::new(RouteTable {
        keyword_flows,
        defaults: [number.default_flow_id, default_bot_flow, default_trigger].into_iter().flatten().collect(),
        fallbacks: bots
            .iter()
            .filter(|b| b.main_flow_id.is_some() || flag(b, "fallback"))
            .filter_map(|b| b.fallback_flow_id)
            .collect(),
    })))
}

async fn read_number(db: &Db, org: OrgId, number_id: Uuid) -> Result<Option<NumberContext>, StoreError> {
    let mut c = db.conn().await?;
    let Some(number) = numbers::get_any(&mut c, org, number_id).await? else { return Ok(None) };
    let timezone = organizations::get_own(&mut c, org)
        .await?
        .and_then(|o| o.timezone.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::UTC);
    Ok(Some(NumberContext {
        number: NumberRecord {
            id: number.id,
            phone_number_id: number.phone_number_id,
            default_chatbot_id: number.default_chatbot_id,
            default_flow_id: number.default_flow_id,
            default_department_id: number.default_department_id,
        },
        timezone,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_messages_words_and_phrases() {
        assert!(keyword_matches("BUY", "buy"));
        assert!(keyword_matches("I want to buy now", "buy"));
        assert!(!keyword_matches("buyer", "buy"));
        assert!(keyword_matches("send the price list please", "price list"));
        assert!(!keyword_matches("anything", ""));
    }

    #[test]
    fn candidates_put_a_keyword_first_then_defaults_then_fallbacks() {
        let (sales, general, fallback) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let table = RouteTable {
            keyword_flows: vec![(vec!["buy".into()], sales)],
            defaults: vec![general],
            fallbacks: vec![fallback],
        };
        assert_eq!(table.candidates(Some("buy")), [sales, general, fallback]);
        assert_eq!(table.candidates(Some("hello")), [general, fallback]);
    }

    #[tokio::test]
    #[allow(clippy::disallowed_methods)] // made-up organizations for the cache alone
    async fn concurrent_misses_share_one_read_and_organizations_never_share_entries() {
        let entries: Entries<Option<u32>> = Entries::default();
        let epoch = AtomicU64::new(0);
        let reads = AtomicU64::new(0);
        let (org_a, org_b, id) =
            (OrgId::assume_verified(Uuid::now_v7()), OrgId::assume_verified(Uuid::now_v7()), Uuid::now_v7());
        let read = |value| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(value)
            }
        };
        let misses = (0..50).map(|_| entries.get_or_load(&epoch, org_a, id, read(Some(7))));
        let answers = futures_util::future::join_all(misses).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(Some(7)))));
        assert_eq!(reads.load(Ordering::SeqCst), 1, "fifty concurrent misses, one read");
        // The same id in another organization is read for that organization.
        assert_eq!(entries.get_or_load(&epoch, org_b, id, read(None)).await.unwrap(), None);
        assert_eq!(entries.get_or_load(&epoch, org_a, id, read(None)).await.unwrap(), Some(7));
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // A new epoch (a change on this node) reads again.
        epoch.fetch_add(1, Ordering::SeqCst);
        assert_eq!(entries.get_or_load(&epoch, org_a, id, read(Some(8))).await.unwrap(), Some(8));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
