//! The SQL archive: traces in `flow_traces` (batched, pruned by age); raw deliveries and audit
//! entries are already in `webhook_deliveries` and `audit_log`, so there is nothing to copy.

use super::{ArchiveError, ArchiveSink, AuditCopy, DeliveryCopy};
use crate::db::Db;
use crate::repo::traces::{self, TraceRow};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::ports::FlowTrace;
use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

pub struct SqlSink {
    db: Db,
    retention: chrono::Duration,
}

impl SqlSink {
    pub fn new(db: Db, retention: chrono::Duration) -> Self {
        SqlSink { db, retention }
    }
}

#[async_trait::async_trait]
impl ArchiveSink for SqlSink {
    fn name(&self) -> &'static str {
        "sql"
    }

    async fn prepare(&self) -> Result<(), ArchiveError> {
        Ok(())
    }

    fn wants_deliveries(&self) -> bool {
        false
    }

    async fn write_deliveries(&self, _: &[DeliveryCopy]) -> Result<(), ArchiveError> {
        Ok(())
    }

    async fn write_traces(&self, batch: &[FlowTrace]) -> Result<(), ArchiveError> {
        let rows: Vec<TraceRow> = batch
            .iter()
            .map(|t| TraceRow {
                id: pytake_actors::domain::ids::new_id(),
                organization_id: t.org_id,
                conversation_id: t.conversation_id,
                flow_id: t.flow_id,
                version_id: t.version_id,
                input: Json(t.input.clone()),
                entered: Json(json!(t.entered)),
                effects: Json(t.effects.clone()),
                duration_us: t.duration_us.min(i64::MAX as u64) as i64,
                created_at: t.at,
            })
            .collect();
        let mut tx = self.db.begin().await?;
        traces::insert_many(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    fn wants_audit(&self) -> bool {
        false
    }

    async fn write_audit(&self, _: &[AuditCopy]) -> Result<(), ArchiveError> {
        Ok(())
    }

    async fn audit_cursor(&self) -> Result<Option<Uuid>, ArchiveError> {
        Ok(None)
    }

    async fn save_audit_cursor(&self, _: Uuid) -> Result<(), ArchiveError> {
        Ok(())
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, ArchiveError> {
        let mut tx = self.db.begin().await?;
        let n = traces::prune(&mut tx, now - self.retention).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn traces(&self, org: OrgId, conversation: Uuid, limit: u32) -> Result<Vec<Value>, ArchiveError> {
        let mut c = self.db.conn().await?;
        Ok(traces::for_conversation(&mut c, org, conversation, limit)
            .await?
            .into_iter()
            .map(|r| {
                json!({"flow_id": r.flow_id, "version_id": r.version_id, "input": r.input.0, "entered": r.entered.0,
                       "effects": r.effects.0, "duration_us": r.duration_us, "at": r.created_at})
            })
            .collect())
    }
}
