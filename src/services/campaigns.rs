//! Campaigns: an approved template sent to an audience (tags and/or contacts), with per-contact
//! parameters (`{{contact.name}}`...), now or at a time; start, pause, resume, cancel; progress per
//! recipient. The runner turns pending recipients into messages and outbox rows at the number's
//! rate, each recipient at most once (its row moves to `queued` in the same transaction as its
//! message), so a restart resumes where it stopped and never sends twice; the outbox sender then
//! sends, retries by error class and records what Meta says.

use super::audit::{self, Change};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::http::pagination::{ListQuery, Page};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::campaigns::{self, CampaignRow};
use crate::repo::contacts::{self, ContactRow};
use crate::repo::{conversations, messages, outbox, templates};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::{
    ConversationRecord, ConversationStatus, Direction, NewMessage, NewOutbox, SenderType,
};
use pytake_actors::domain::event::EventDraft;
use pytake_actors::domain::message::MessageStatus;
use pytake_actors::flow::OutMessage;
use pytake_actors::flow::template::{Scope, render};
use pytake_actors::ports::OutboxSink;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// Contacts with any of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// And these contacts.
    #[serde(default)]
    pub contact_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    pub name: String,
    pub number_id: Uuid,
    pub template_id: Uuid,
    pub audience: Audience,
    /// The template's body parameters, in order; each may use `{{contact.name}}`, `{{contact.wa_id}}`.
    #[serde(default)]
    pub parameters: Vec<String>,
    /// Send at this time (default: when started).
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl Validate for CreateCampaign {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        e.text("name", &self.name, 1, 200);
        e.check(
            !self.audience.tags.is_empty() || !self.audience.contact_ids.is_empty(),
            "audience",
            "name at least one tag or contact",
        );
        e.check(self.audience.contact_ids.len() <= 100_000, "audience.contact_ids", "at most 100000 contacts");
        e.check(self.parameters.len() <= 60, "parameters", "at most 60 parameters");
        for (i, p) in self.parameters.iter().enumerate() {
            e.text(&format!("parameters[{i}]"), p, 1, 1024);
        }
        e.finish()
    }
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Progress {
    pub total: i64,
    pub pending: i64,
    /// In our outbox, not yet accepted by Meta.
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    /// Wrote back after the campaign message.
    pub replied: i64,
    /// Opted out or blocked when the campaign started.
    pub skipped: i64,
    pub cancelled: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    pub number_id: Uuid,
    pub template_id: Option<Uuid>,
    /// draft, scheduled, running, paused, completed, cancelled
    pub status: String,
    pub audience: Audience,
    pub parameters: Vec<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<CampaignRow> for CampaignView {
    fn from(r: CampaignRow) -> Self {
        CampaignView {
            id: r.id,
            name: r.name,
            number_id: r.number_id,
            template_id: r.template_id,
            status: r.status,
            audience: serde_json::from_value(r.audience.0).unwrap_or_default(),
            parameters: serde_json::from_value(r.parameters.0).unwrap_or_default(),
            scheduled_at: r.scheduled_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            created_at: r.created_at,
        }
    }
}

async fn load(state: &AppState, org: OrgId, id: Uuid) -> Result<CampaignRow, ApiError> {
    let mut c = state.db.conn().await?;
    campaigns::get(&mut c, org, id).await?.ok_or(ApiError::NotFound("campaign"))
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    req: CreateCampaign,
) -> Result<CampaignView, ApiError> {
    p.require(Permission::CampaignsManage)?;
    let mut c = state.db.conn().await?;
    crate::repo::numbers::get(&mut c, p.org, req.number_id)
        .await?
        .ok_or_else(|| ApiError::field("number_id", "does not exist in this organization"))?;
    let template = templates::get(&mut c, p.org, req.number_id, req.template_id)
        .await?
        .ok_or_else(|| ApiError::field("template_id", "is not a template of this number"))?;
    let wanted = crate::services::templates::parameter_names(&template.components.0).len();
    if wanted != req.parameters.len() {
        return Err(ApiError::field("parameters", format!("the template takes {wanted} parameter(s)")));
    }
    let mut e = FieldErrors::default();
    for (i, id) in req.audience.contact_ids.iter().enumerate() {
        if contacts::get(&mut c, p.org, *id).await?.is_none() {
            e.add(&format!("audience.contact_ids[{i}]"), "does not exist in this organization");
        }
    }
    e.into_result()?;
    let now = state.now();
    let row = CampaignRow {
        id: Uuid::now_v7(),
        organization_id: p.org.as_uuid(),
        number_id: req.number_id,
        template_id: Some(req.template_id),
        name: req.name,
        status: "draft".into(),
        audience: Json(serde_json::to_value(&req.audience).unwrap_or_default()),
        parameters: Json(json!(req.parameters)),
        scheduled_at: req.scheduled_at,
        started_at: None,
        paused_at: None,
        completed_at: None,
        created_by: Some(p.user_id),
        created_at: now,
        updated_at: now,
    };
    drop(c);
    let mut tx = state.db.begin().await?;
    campaigns::insert(&mut tx, &row).await?;
    let view = CampaignView::from(row);
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("campaign.created", "campaign", view.id).after(&view),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn list(state: &AppState, p: &Principal, q: ListQuery) -> Result<Page<CampaignView>, ApiError> {
    p.require(Permission::CampaignsRead)?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = campaigns::list(&mut c, p.org, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |r| r.id).map(CampaignView::from))
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> Result<CampaignView, ApiError> {
    p.require(Permission::CampaignsRead)?;
    Ok(load(state, p.org, id).await?.into())
}

fn contact_scope(k: &ContactRow) -> Value {
    json!({"id": k.id, "name": k.name.clone().or_else(|| k.profile_name.clone()), "wa_id": k.wa_id, "phone": k.wa_id,
           "email": k.email, "company": k.company, "attributes": k.attributes.0})
}

/// The answer to a CSV audience upload: the import's report and the audience's size now.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudienceUpload {
    pub import: crate::services::contacts_csv::ImportReport,
    pub contacts_in_audience: usize,
}

/// Adds the contacts of a CSV (the contacts import's format: created or updated as there) to a
/// draft's audience. Bad rows are reported and left out.
pub async fn add_csv_audience(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    body: &[u8],
) -> Result<AudienceUpload, ApiError> {
    p.require(Permission::CampaignsManage)?;
    let row = load(state, p.org, id).await?;
    if row.status != "draft" {
        return Err(ApiError::conflict("campaign_started", "only a draft's audience can change"));
    }
    let report = crate::services::contacts_csv::import(state, p, body).await?;
    let mut audience: Audience = serde_json::from_value(row.audience.0).unwrap_or_default();
    for contact in &report.contact_ids {
        if !audience.contact_ids.contains(contact) {
            audience.contact_ids.push(*contact);
        }
    }
    let mut c = state.db.conn().await?;
    if !campaigns::set_audience(&mut c, p.org, id, &serde_json::to_value(&audience).unwrap_or_default(), state.now())
        .await?
    {
        return Err(ApiError::conflict("campaign_started", "only a draft's audience can change"));
    }
    Ok(AudienceUpload { contacts_in_audience: audience.contact_ids.len(), import: report })
}

/// Starts a draft: the audience is resolved now (opted-out and blocked contacts are skipped,
/// recorded with the reason), then it sends at once or at `scheduled_at`.
pub async fn start(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<CampaignView, ApiError> {
    p.require(Permission::CampaignsManage)?;
    let row = load(state, p.org, id).await?;
    if row.status != "draft" {
        return Err(ApiError::conflict("campaign_started", format!("the campaign is {}", row.status)));
    }
    let mut c = state.db.conn().await?;
    let template = match row.template_id {
        Some(t) => templates::get(&mut c, p.org, row.number_id, t).await?,
        None => None,
    };
    match template {
        Some(t) if t.status == "APPROVED" => {}
        Some(t) => {
            return Err(ApiError::Unprocessable {
                code: "template_not_approved",
                message: format!("the template is {}, not APPROVED", t.status),
                details: json!({"status": t.status}),
            });
        }
        None => return Err(ApiError::conflict("template_missing", "the campaign's template no longer exists")),
    }
    drop(c);
    let audience: Audience = serde_json::from_value(row.audience.0.clone()).unwrap_or_default();
    let parameters: Vec<String> = serde_json::from_value(row.parameters.0.clone()).unwrap_or_default();
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut people: BTreeMap<Uuid, ContactRow> = BTreeMap::new();
    for tag in &audience.tags {
        for k in campaigns::audience_contacts(&mut tx, p.org, tag).await? {
            people.insert(k.id, k);
        }
    }
    for id in &audience.contact_ids {
        if let Some(k) = contacts::get(&mut tx, p.org, *id).await? {
            people.insert(k.id, k);
        }
    }
    let empty = Map::new();
    for k in people.values() {
        let scope_contact = contact_scope(k);
        let scope = Scope { vars: &empty, contact: &scope_contact, conversation: &Value::Null };
        let rendered: Vec<String> = parameters.iter().map(|t| render(t, &scope)).collect();
        let (status, reason) = if k.is_blocked {
            ("skipped", Some("blocked"))
        } else if !k.opt_in && k.opt_out_at.is_some() {
            ("skipped", Some("opted out"))
        } else {
            ("pending", None)
        };
        campaigns::add_recipient(&mut tx, p.org, id, k.id, &k.wa_id, &json!(rendered), status, reason, now).await?;
    }
    let to = if row.scheduled_at.is_some_and(|s| s > now) { "scheduled" } else { "running" };
    campaigns::transition(&mut tx, p.org, id, &["draft"], to, now).await?;
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new("campaign.started", "campaign", id).after(&json!({"status": to, "recipients": people.len()})),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(load(state, p.org, id).await?.into())
}

async fn change(
    state: &AppState,
    p: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    from: &[&str],
    to: &str,
) -> Result<CampaignView, ApiError> {
    p.require(Permission::CampaignsManage)?;
    let row = load(state, p.org, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !campaigns::transition(&mut tx, p.org, id, from, to, now).await? {
        return Err(ApiError::conflict("campaign_state", format!("a {} campaign cannot become {to}", row.status)));
    }
    if to == "cancelled" {
        campaigns::cancel_pending(&mut tx, p.org, id, now).await?;
    }
    audit::record(
        &mut tx,
        Some(p.org.as_uuid()),
        Some(p),
        meta,
        Change::new(&format!("campaign.{to}"), "campaign", id)
            .before(&json!({"status": row.status}))
            .after(&json!({"status": to})),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(load(state, p.org, id).await?.into())
}

/// Stops enqueueing (messages already handed to the sender still go out).
pub async fn pause(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<CampaignView, ApiError> {
    change(state, p, meta, id, &["running", "scheduled"], "paused").await
}

pub async fn resume(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<CampaignView, ApiError> {
    change(state, p, meta, id, &["paused"], "running").await
}

/// Cancels: nobody else gets it.
pub async fn cancel(state: &AppState, p: &Principal, meta: &RequestMeta, id: Uuid) -> Result<CampaignView, ApiError> {
    change(state, p, meta, id, &["draft", "scheduled", "running", "paused"], "cancelled").await
}

pub async fn progress(state: &AppState, p: &Principal, id: Uuid) -> Result<Progress, ApiError> {
    p.require(Permission::CampaignsRead)?;
    load(state, p.org, id).await?;
    progress_of(state, p.org, id).await
}

async fn progress_of(state: &AppState, org: OrgId, id: Uuid) -> Result<Progress, ApiError> {
    let mut c = state.db.conn().await?;
    let mut out = Progress::default();
    for r in campaigns::progress(&mut c, org, id).await? {
        out.total += r.n;
        let slot = match (r.recipient_status.as_str(), r.message_status.as_deref()) {
            ("pending", _) => &mut out.pending,
            ("skipped", _) => &mut out.skipped,
            ("cancelled", _) => &mut out.cancelled,
            (_, Some("sent")) => &mut out.sent,
            (_, Some("delivered")) => &mut out.delivered,
            (_, Some("read" | "played")) => &mut out.read,
            (_, Some("failed")) => &mut out.failed,
            _ => &mut out.queued,
        };
        *slot += r.n;
    }
    out.replied = campaigns::replied(&mut c, org, id).await?;
    Ok(out)
}

/// Starts the runner: every half second, each due campaign hands up to its number's per-second
/// rate of recipients to the outbox, publishes its progress, and completes when none is left.
pub fn start_runner(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(500));
        loop {
            every.tick().await;
            let due = match state.db.conn().await {
                Ok(mut c) => campaigns::due(&mut c, state.now()).await.unwrap_or_default(),
                Err(_) => continue,
            };
            for campaign in due {
                if let Err(e) = run_once(&state, &campaign).await {
                    tracing::warn!(campaign = %campaign.id, error = %e, "campaign step failed; retried next tick");
                }
            }
        }
    });
}

async fn run_once(state: &AppState, campaign: &CampaignRow) -> Result<(), ApiError> {
    #[allow(clippy::disallowed_methods)] // read from the campaign's own row
    let org = OrgId::assume_verified(campaign.organization_id);
    let now = state.now();
    if campaign.status == "scheduled" {
        let mut c = state.db.conn().await?;
        campaigns::transition(&mut c, org, campaign.id, &["scheduled"], "running", now).await?;
    }
    let info = state.numbers.sending(org, campaign.number_id).await?.ok_or(ApiError::NotFound("number"))?;
    let mut c = state.db.conn().await?;
    let Some(template) = (match campaign.template_id {
        Some(t) => templates::get(&mut c, org, campaign.number_id, t).await?,
        None => None,
    }) else {
        return Ok(());
    };
    // Half a second's worth of the number's throughput per tick.
    let batch = (info.messages_per_second / 2).clamp(1, 500);
    let recipients = campaigns::pending(&mut c, org, campaign.id, batch).await?;
    drop(c);
    if recipients.is_empty() {
        let mut c = state.db.conn().await?;
        if campaigns::transition(&mut c, org, campaign.id, &["running"], "completed", now).await? {
            publish_progress(state, org, campaign.id).await;
        }
        return Ok(());
    }
    let mut queued = Vec::new();
    for r in recipients {
        let parameters: Vec<String> = serde_json::from_value(r.parameters.0.clone()).unwrap_or_default();
        let components = if parameters.is_empty() {
            json!([])
        } else {
            json!([{"type": "body", "parameters": parameters.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>()}])
        };
        let message =
            OutMessage::Template { name: template.name.clone(), language: template.language.clone(), components };
        let (kind, message_type, text) = message.stored_kind();
        let payload = serde_json::to_value(&message).map_err(ApiError::internal)?;
        let mut tx = state.db.begin().await?;
        let conversation = match conversations::find_open(&mut tx, org, campaign.number_id, r.contact_id).await? {
            Some(open) => open.id,
            None => {
                let record = ConversationRecord {
                    id: Uuid::now_v7(),
                    contact_id: r.contact_id,
                    // A reply starts the number's flow, or goes to the agents when there is none.
                    status: ConversationStatus::Open,
                    is_bot_active: true,
                    assigned_agent_id: None,
                    department_id: None,
                    queue_id: None,
                    priority: 50,
                    queued_at: None,
                    last_message_at: Some(now),
                    last_inbound_at: None,
                    window_expires_at: None,
                    unread_count: 0,
                    flow_id: None,
                    flow_version_id: None,
                    flow_state: json!({}),
                    handoff_note: None,
                    version: 0,
                    created_at: now,
                };
                if !conversations::insert_if_absent(&mut tx, org, campaign.number_id, &record, now).await? {
                    // The contact wrote at this very moment: try them on the next tick.
                    tx.rollback().await?;
                    continue;
                }
                record.id
            }
        };
        let new = NewMessage {
            id: Uuid::now_v7(),
            direction: Direction::Outbound,
            sender_type: SenderType::Campaign,
            sender_user_id: None,
            wamid: None,
            message_type,
            text,
            content: payload.clone(),
            status: MessageStatus::Pending,
            reply_to_wamid: None,
            client_id: Some(format!("campaign:{}:{}", campaign.id, r.id)),
            is_internal_note: false,
            wa_timestamp: None,
            error: None,
            created_at: now,
        };
        if !campaigns::mark_queued(&mut tx, org, r.id, new.id, now).await?
            || !messages::insert(&mut tx, org, conversation, campaign.number_id, &new, None).await?
        {
            tx.rollback().await?;
            continue;
        }
        let out = NewOutbox {
            id: Uuid::now_v7(),
            message_id: new.id,
            conversation_id: conversation,
            recipient: r.wa_id.clone(),
            kind: kind.to_string(),
            payload,
        };
        outbox::insert(&mut tx, &outbox::fresh_row(org, campaign.number_id, &out, now), now).await?;
        tx.commit().await?;
        queued.push(out);
    }
    state.sender.enqueue(org, campaign.number_id, queued);
    publish_progress(state, org, campaign.id).await;
    Ok(())
}

async fn publish_progress(state: &AppState, org: OrgId, id: Uuid) {
    if let Ok(p) = progress_of(state, org, id).await {
        state.registry.publish(EventDraft {
            org,
            event_type: "campaign.progress",
            conversation_id: None,
            data: json!({"campaign_id": id, "progress": p}),
        });
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientView {
    pub contact_id: Uuid,
    pub wa_id: String,
    /// pending, skipped, cancelled, or its message's: pending (queued), sent, delivered, read, failed.
    pub status: String,
    /// Why it was skipped, or Meta's error for a failed message.
    pub error: Option<String>,
    pub error_code: Option<i32>,
    pub message_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// Each recipient and where they are.
pub async fn recipients(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    q: ListQuery,
) -> Result<Page<RecipientView>, ApiError> {
    p.require(Permission::CampaignsRead)?;
    load(state, p.org, id).await?;
    let limit = q.limit()?;
    let mut c = state.db.conn().await?;
    let rows = campaigns::recipients(&mut c, p.org, id, q.after()?, limit).await?;
    Ok(Page::from_rows(rows, limit, |r| r.id).map(|r| RecipientView {
        contact_id: r.contact_id,
        wa_id: r.wa_id,
        status: match (r.recipient_status.as_str(), r.message_status) {
            ("queued", Some(m)) => {
                if m == "pending" {
                    "queued".into()
                } else {
                    m
                }
            }
            (s, _) => s.to_string(),
        },
        error: r.error,
        error_code: r.error_code,
        message_id: r.message_id,
        updated_at: r.updated_at,
    }))
}
