//! Which flow starts a new conversation on a number, cached: the number's chatbots (keywords,
//! default, fallback), each flow's published version, and the number with its organization's time
//! zone. Entries live a few seconds at most and
//! are dropped at once when this node changes a chatbot, flow or number (the services call
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

#[derive(Default)]
pub struct RoutingCache {
    epoch: AtomicU64,
    tables: DashMap<Uuid, (Instant, u64, Arc<RouteTable>)>,
    published: DashMap<Uuid, (Instant, u64, Option<Uuid>)>,
    numbers: DashMap<Uuid, (Instant, u64, NumberContext)>,
}

impl RoutingCache {
    /// Forgets everything cached (call after changing a chatbot, a flow or a number).
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn fresh(&self, at: Instant, epoch: u64) -> bool {
        at.elapsed() < TTL && epoch == self.epoch.load(Ordering::Acquire)
    }

    /// The number's routing table (None when the number does not exist).
    pub async fn table(&self, db: &Db, org: OrgId, number_id: Uuid) -> Result<Option<Arc<RouteTable>>, StoreError> {
        if let Some(hit) = self.tables.get(&number_id)
            && self.fresh(hit.0, hit.1)
        {
            return Ok(Some(hit.2.clone()));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut c = db.conn().await?;
        let Some(number) = numbers::get_any(&mut c, org, number_id).await? else { return Ok(None) };
        let bots = chatbots::for_number(&mut c, org, number_id).await?;
        let default_bot_flow = match number.default_chatbot_id {
            Some(id) => chatbots::get(&mut c, org, id).await?.filter(|b| b.is_active).and_then(|b| b.main_flow_id),
            None => None,
        };
        drop(c);
        let flag =
            |b: &chatbots::ChatbotRow, name: &str| b.triggers.0.get(name).and_then(|d| d.as_bool()).unwrap_or(false);
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
        let table = Arc::new(RouteTable {
            keyword_flows,
            defaults: [number.default_flow_id, default_bot_flow, default_trigger].into_iter().flatten().collect(),
            fallbacks: bots
                .iter()
                .filter(|b| b.main_flow_id.is_some() || flag(b, "fallback"))
                .filter_map(|b| b.fallback_flow_id)
                .collect(),
        });
        if self.tables.len() >= MAX_ENTRIES {
            self.tables.clear();
        }
        self.tables.insert(number_id, (Instant::now(), epoch, table.clone()));
        Ok(Some(table))
    }

    /// The number and its organization's time zone (None when the number is not the org's).
    pub async fn number(&self, db: &Db, org: OrgId, number_id: Uuid) -> Result<Option<NumberContext>, StoreError> {
        if let Some(hit) = self.numbers.get(&number_id)
            && self.fresh(hit.0, hit.1)
        {
            return Ok(Some(hit.2.clone()));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut c = db.conn().await?;
        let Some(number) = numbers::get_any(&mut c, org, number_id).await? else { return Ok(None) };
        let timezone = organizations::get_own(&mut c, org)
            .await?
            .and_then(|o| o.timezone.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC);
        let context = NumberContext {
            number: NumberRecord {
                id: number.id,
                phone_number_id: number.phone_number_id,
                default_chatbot_id: number.default_chatbot_id,
                default_flow_id: number.default_flow_id,
                default_department_id: number.default_department_id,
            },
            timezone,
        };
        if self.numbers.len() >= MAX_ENTRIES {
            self.numbers.clear();
        }
        self.numbers.insert(number_id, (Instant::now(), epoch, context.clone()));
        Ok(Some(context))
    }

    /// The flow's published version, if any.
    pub async fn published_version(&self, db: &Db, org: OrgId, flow_id: Uuid) -> Result<Option<Uuid>, StoreError> {
        if let Some(hit) = self.published.get(&flow_id)
            && self.fresh(hit.0, hit.1)
        {
            return Ok(hit.2);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut c = db.conn().await?;
        let version = flows::published_version_id(&mut c, org, flow_id).await?;
        if self.published.len() >= MAX_ENTRIES {
            self.published.clear();
        }
        self.published.insert(flow_id, (Instant::now(), epoch, version));
        Ok(version)
    }
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
}
