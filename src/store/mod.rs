//! The conversation actors' store: implements `pytake_actors::ports::ConversationStore`. Reads go
//! straight to the database; writes go through the [`committer::Committer`], which commits the
//! writes of many actors together. Every write first claims its inbox item (pending -> done,
//! conditionally), so an item's effects are written exactly once however often it is attempted.

pub mod committer;
pub mod steps;

use crate::db::{Db, StoreError};
use crate::repo::{chatbots, contacts, conversations, flows, inbox, numbers, organizations};
use async_trait::async_trait;
use committer::{Committer, Op};
use dashmap::DashMap;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{Changes, Committed, ConversationKey, NumberRecord, Snapshot, StatusApplied};
use pytake_actors::domain::inbound::{InboxPayload, StatusUpdate};
use pytake_actors::flow::{Flow, FlowJson, FlowSettings, LoadedFlow};
use pytake_actors::ports::{CommitError, ConversationStore, InboxItem, StoreFailure};
use std::sync::Arc;
use steps::{ChangesOutcome, StatusOutcome};
use uuid::Uuid;

pub struct SqlConversationStore {
    db: Db,
    committer: Committer,
    /// Parsed flow versions by id (versions never change).
    versions: DashMap<Uuid, Arc<LoadedFlow>>,
}

const VERSION_CACHE: usize = 2_000;

impl SqlConversationStore {
    pub fn new(db: Db, committer: Committer) -> Self {
        SqlConversationStore { db, committer, versions: DashMap::new() }
    }

    async fn load_version(&self, org: OrgId, version_id: Uuid) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        if let Some(hit) = self.versions.get(&version_id) {
            return Ok(Some(hit.clone()));
        }
        let mut c = self.db.conn().await.map_err(failure)?;
        let Some(row) = flows::get_version(&mut c, org, version_id).await.map_err(failure)? else { return Ok(None) };
        let json: FlowJson = serde_json::from_value(row.definition.0).unwrap_or_default();
        let loaded = Arc::new(LoadedFlow {
            flow_id: row.flow_id,
            version_id: row.id,
            flow: Flow::from_json(&json),
            settings: serde_json::from_value::<FlowSettings>(row.settings.0).unwrap_or_default(),
        });
        if self.versions.len() >= VERSION_CACHE {
            self.versions.clear();
        }
        self.versions.insert(version_id, loaded.clone());
        Ok(Some(loaded))
    }

    async fn published(&self, org: OrgId, flow_id: Uuid) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        let version = flows::published_version_id(&mut c, org, flow_id).await.map_err(failure)?;
        drop(c);
        match version {
            Some(v) => self.load_version(org, v).await,
            None => Ok(None),
        }
    }
}

/// Whether `text` calls for a keyword: the whole message, or one of its words, case-insensitively.
fn keyword_matches(text: &str, keyword: &str) -> bool {
    let text = text.trim().to_lowercase();
    let keyword = keyword.trim().to_lowercase();
    !keyword.is_empty()
        && (text == keyword
            || text.split(|c: char| !c.is_alphanumeric()).any(|w| w == keyword)
            || (keyword.contains(' ') && text.contains(&keyword)))
}

fn failure(e: StoreError) -> StoreFailure {
    StoreFailure(e.to_string())
}

#[async_trait]
impl ConversationStore for SqlConversationStore {
    async fn pending_items(
        &self,
        key: &ConversationKey,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboxItem>, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        let rows = inbox::pending_for(&mut c, key.org, key.number_id, &key.contact_wa_id, after, limit)
            .await
            .map_err(failure)?;
        drop(c);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match serde_json::from_value::<InboxPayload>(row.payload.0) {
                Ok(payload) => items.push(InboxItem { id: row.id, payload, attempts: row.attempts }),
                Err(e) => {
                    // Unreadable (written by an incompatible version): park it rather than loop.
                    tracing::error!(item = %row.id, error = %e, "unreadable inbox item parked");
                    self.record_failure(row.id, &format!("unreadable payload: {e}"), true).await?;
                }
            }
        }
        Ok(items)
    }

    async fn snapshot(&self, key: &ConversationKey) -> Result<Snapshot, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        let number = numbers::get_any(&mut c, key.org, key.number_id)
            .await
            .map_err(failure)?
            .ok_or_else(|| StoreFailure(format!("number {} is not in organization {}", key.number_id, key.org)))?;
        let contact = contacts::find_by_wa_id(&mut c, key.org, &key.contact_wa_id).await.map_err(failure)?;
        let conversation = match &contact {
            Some(k) => conversations::find_open(&mut c, key.org, key.number_id, k.id)
                .await
                .map_err(failure)?
                .map(|row| row.record())
                .transpose()
                .map_err(failure)?,
            None => None,
        };
        let timezone = organizations::get_own(&mut c, key.org)
            .await
            .map_err(failure)?
            .and_then(|o| o.timezone.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC);
        Ok(Snapshot {
            timezone,
            number: NumberRecord {
                id: number.id,
                phone_number_id: number.phone_number_id,
                default_chatbot_id: number.default_chatbot_id,
                default_flow_id: number.default_flow_id,
                default_department_id: number.default_department_id,
            },
            contact: contact.as_ref().map(steps::contact_record),
            conversation,
        })
    }

    async fn commit(&self, key: &ConversationKey, changes: Changes) -> Result<Committed, CommitError> {
        let key = key.clone();
        match self
            .committer
            .submit(|reply| Op::Changes { key, changes: Box::new(changes), reply })
            .await
            .map_err(failure)?
        {
            ChangesOutcome::Committed(c) => Ok(*c),
            ChangesOutcome::AlreadyProcessed => Err(CommitError::AlreadyProcessed),
            ChangesOutcome::Conflict => Err(CommitError::Conflict),
        }
    }

    async fn apply_status(
        &self,
        key: &ConversationKey,
        item: Uuid,
        status: &StatusUpdate,
    ) -> Result<Option<StatusApplied>, CommitError> {
        let (key, status) = (key.clone(), status.clone());
        match self.committer.submit(|reply| Op::Status { key, item, status, reply }).await.map_err(failure)? {
            StatusOutcome::Applied(a) => Ok(Some(a)),
            StatusOutcome::Orphan => Ok(None),
            StatusOutcome::AlreadyProcessed => Err(CommitError::AlreadyProcessed),
        }
    }

    async fn finish_item(&self, item: Uuid, note: Option<&str>) -> Result<bool, StoreFailure> {
        let note = note.map(str::to_string);
        self.committer.submit(|reply| Op::Finish { item, note, reply }).await.map_err(failure)
    }

    async fn record_failure(&self, item: Uuid, error: &str, park: bool) -> Result<i32, StoreFailure> {
        let error = error.to_string();
        self.committer.submit(|reply| Op::Failure { item, error, park, reply }).await.map_err(failure)
    }

    async fn route(
        &self,
        key: &ConversationKey,
        first_text: Option<&str>,
    ) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        let mut c = self.db.conn().await.map_err(failure)?;
        let Some(number) = numbers::get_any(&mut c, key.org, key.number_id).await.map_err(failure)? else {
            return Ok(None);
        };
        let bots = chatbots::for_number(&mut c, key.org, key.number_id).await.map_err(failure)?;
        let default_bot_flow = match number.default_chatbot_id {
            Some(id) => chatbots::get(&mut c, key.org, id)
                .await
                .map_err(failure)?
                .filter(|b| b.is_active)
                .and_then(|b| b.main_flow_id),
            None => None,
        };
        drop(c);
        let keywords = |b: &chatbots::ChatbotRow| -> Vec<String> {
            b.triggers
                .0
                .get("keywords")
                .and_then(|k| k.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let by_keyword = first_text.and_then(|t| {
            bots.iter().find(|b| keywords(b).iter().any(|k| keyword_matches(t, k))).and_then(|b| b.main_flow_id)
        });
        let default_trigger = bots
            .iter()
            .find(|b| b.triggers.0.get("default").and_then(|d| d.as_bool()).unwrap_or(false))
            .and_then(|b| b.main_flow_id);
        // A bot's fallback flow answers when none of the main flows can run (unpublished, deleted).
        let fallbacks = bots.iter().filter(|b| {
            b.main_flow_id.is_some() || b.triggers.0.get("fallback").and_then(|f| f.as_bool()).unwrap_or(false)
        });
        let fallbacks: Vec<Uuid> = fallbacks.filter_map(|b| b.fallback_flow_id).collect();
        let candidates = [by_keyword, number.default_flow_id, default_bot_flow, default_trigger]
            .into_iter()
            .flatten()
            .chain(fallbacks);
        for candidate in candidates {
            if let Some(flow) = self.published(key.org, candidate).await? {
                return Ok(Some(flow));
            }
        }
        Ok(None)
    }

    async fn flow_version(
        &self,
        key: &ConversationKey,
        version_id: Uuid,
    ) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        self.load_version(key.org, version_id).await
    }

    async fn published_flow(
        &self,
        key: &ConversationKey,
        flow_id: Uuid,
    ) -> Result<Option<Arc<LoadedFlow>>, StoreFailure> {
        self.published(key.org, flow_id).await
    }
}
