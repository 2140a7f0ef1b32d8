//! The MongoDB archive (official driver): collections `deliveries`, `traces` and `audit`, with TTL
//! indexes on the first two (`archive.*_retention_days`), and `archive_state` for the audit cursor.
//! Ids are kept as fields (`delivery_id`, `audit_id`) and `_id` is left to the driver, so any
//! server that accepts ObjectIds works.

use super::{ArchiveError, ArchiveOptions, ArchiveSink, AuditCopy, DeliveryCopy};
use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Database, IndexModel};
use pytake_actors::OrgId;
use pytake_actors::ports::FlowTrace;
use serde_json::Value;
use uuid::Uuid;

const DELIVERIES: &str = "deliveries";
const TRACES: &str = "traces";
const AUDIT: &str = "audit";
const STATE: &str = "archive_state";

fn mongo(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Mongo(e.to_string())
}

fn date(t: DateTime<Utc>) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(t.timestamp_millis()))
}

/// A serde value as a BSON document, with the time field `at_key` as a BSON date (TTL indexes need one).
fn document(value: &impl serde::Serialize, at_key: &str, at: DateTime<Utc>) -> Result<Document, ArchiveError> {
    let mut d = bson::serialize_to_document(value).map_err(mongo)?;
    d.insert(at_key, date(at));
    Ok(d)
}

pub struct MongoSink {
    db: Database,
    trace_ttl: std::time::Duration,
    delivery_ttl: std::time::Duration,
}

impl MongoSink {
    /// Reads the URL (the database is its path, default `pytake`). Connections are made lazily: a
    /// MongoDB that is down delays the archive, never the server's start.
    pub async fn connect(url: &str, options: &ArchiveOptions) -> Result<MongoSink, ArchiveError> {
        let mut client_options = mongodb::options::ClientOptions::parse(url).await.map_err(mongo)?;
        if client_options.server_selection_timeout.is_none() {
            client_options.server_selection_timeout = Some(std::time::Duration::from_secs(5));
        }
        let client = Client::with_options(client_options).map_err(mongo)?;
        let db = client.default_database().unwrap_or_else(|| client.database("pytake"));
        let days = |d: chrono::Duration| std::time::Duration::from_secs(d.num_seconds().max(1) as u64);
        Ok(MongoSink { db, trace_ttl: days(options.trace_retention), delivery_ttl: days(options.delivery_retention) })
    }

    async fn insert(&self, collection: &str, docs: Vec<Document>) -> Result<(), ArchiveError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.db.collection::<Document>(collection).insert_many(docs).ordered(false).await.map_err(mongo)?;
        Ok(())
    }
}

fn index(keys: Document, ttl: Option<std::time::Duration>, name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().name(name.to_string()).expire_after(ttl).build())
        .build()
}

#[async_trait::async_trait]
impl ArchiveSink for MongoSink {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    async fn prepare(&self) -> Result<(), ArchiveError> {
        let create = |collection: &str, model: IndexModel| {
            let c = self.db.collection::<Document>(collection);
            async move { c.create_index(model).await.map(drop).map_err(mongo) }
        };
        create(DELIVERIES, index(doc! {"received_at": 1}, Some(self.delivery_ttl), "received_at_ttl")).await?;
        create(TRACES, index(doc! {"at": 1}, Some(self.trace_ttl), "at_ttl")).await?;
        create(TRACES, index(doc! {"org_id": 1, "conversation_id": 1, "at": 1}, None, "conversation")).await?;
        create(AUDIT, index(doc! {"org_id": 1, "at": -1}, None, "org_at")).await?;
        create(AUDIT, index(doc! {"audit_id": 1}, None, "audit_id")).await?;
        Ok(())
    }

    fn wants_deliveries(&self) -> bool {
        true
    }

    async fn write_deliveries(&self, batch: &[DeliveryCopy]) -> Result<(), ArchiveError> {
        let docs = batch.iter().map(|d| document(d, "received_at", d.received_at)).collect::<Result<_, _>>()?;
        self.insert(DELIVERIES, docs).await
    }

    async fn write_traces(&self, batch: &[FlowTrace]) -> Result<(), ArchiveError> {
        let docs = batch.iter().map(|t| document(t, "at", t.at)).collect::<Result<_, _>>()?;
        self.insert(TRACES, docs).await
    }

    fn wants_audit(&self) -> bool {
        true
    }

    async fn write_audit(&self, batch: &[AuditCopy]) -> Result<(), ArchiveError> {
        // A batch may be shipped again after a crash before its cursor was saved: skip what is there.
        let ids: Vec<String> = batch.iter().map(|a| a.audit_id.to_string()).collect();
        let mut present = std::collections::HashSet::new();
        let mut cursor =
            self.db.collection::<Document>(AUDIT).find(doc! {"audit_id": {"$in": ids}}).await.map_err(mongo)?;
        while cursor.advance().await.map_err(mongo)? {
            if let Ok(id) = cursor.deserialize_current().map(|d| d.get_str("audit_id").map(String::from)) {
                present.extend(id.ok());
            }
        }
        let docs = batch
            .iter()
            .filter(|a| !present.contains(&a.audit_id.to_string()))
            .map(|a| document(a, "at", a.at))
            .collect::<Result<_, _>>()?;
        self.insert(AUDIT, docs).await
    }

    async fn audit_cursor(&self) -> Result<Option<Uuid>, ArchiveError> {
        let state = self.db.collection::<Document>(STATE).find_one(doc! {"name": "audit"}).await.map_err(mongo)?;
        Ok(state.and_then(|d| d.get_str("last_id").ok().and_then(|s| s.parse().ok())))
    }

    async fn save_audit_cursor(&self, id: Uuid) -> Result<(), ArchiveError> {
        self.db
            .collection::<Document>(STATE)
            .update_one(doc! {"name": "audit"}, doc! {"$set": {"last_id": id.to_string()}})
            .upsert(true)
            .await
            .map_err(mongo)?;
        Ok(())
    }

    async fn prune(&self, _: DateTime<Utc>) -> Result<u64, ArchiveError> {
        Ok(0) // TTL indexes expire documents on the server.
    }

    async fn traces(&self, org: OrgId, conversation: Uuid, limit: u32) -> Result<Vec<Value>, ArchiveError> {
        let filter = doc! {"org_id": org.as_uuid().to_string(), "conversation_id": conversation.to_string()};
        let mut cursor = self
            .db
            .collection::<Document>(TRACES)
            .find(filter)
            .sort(doc! {"at": 1})
            .limit(i64::from(limit))
            .await
            .map_err(mongo)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(mongo)? {
            let mut d = cursor.deserialize_current().map_err(mongo)?;
            d.remove("_id");
            if let Ok(at) = d.get_datetime("at") {
                let at = at.try_to_rfc3339_string().unwrap_or_default();
                d.insert("at", at);
            }
            out.push(serde_json::to_value(&d).map_err(mongo)?);
        }
        Ok(out)
    }
}
