//! The Meta webhook: the verification handshake and the delivery path (signature on the raw bytes,
//! parse, store durably in one group-committed transaction, then acknowledge; the items go to their
//! conversation actors after the commit).

pub mod directory;
pub mod ingest;
pub mod parse;
pub mod signature;

use crate::crypto::{constant_time_eq, sha256_hex};
use crate::http::ApiError;
use crate::repo::inbox::{DeliveryRow, NewInboxItem};
use crate::state::AppState;
use directory::NumberInfo;
use ingest::{IngestError, PreparedItem, Stored};
use parse::ParsedDelivery;
use pytake_actors::domain::conversation::ConversationKey;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VerifyQuery {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    pub mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// Meta's handshake: the challenge back when the mode is `subscribe` and the token is the global
/// one or any number's.
pub async fn verify(state: &AppState, q: &VerifyQuery) -> Result<Option<String>, ApiError> {
    let (Some("subscribe"), Some(token), Some(challenge)) =
        (q.mode.as_deref(), q.verify_token.as_deref(), q.challenge.as_deref())
    else {
        return Ok(None);
    };
    if token.is_empty() || challenge.len() > 1024 {
        return Ok(None);
    }
    let global = state
        .settings
        .meta
        .verify_token
        .as_ref()
        .is_some_and(|g| constant_time_eq(g.expose().as_bytes(), token.as_bytes()));
    let known = global || {
        let mut c = state.db.conn().await?;
        crate::repo::numbers::verify_token_exists(&mut c, &sha256_hex(token.as_bytes())).await?
    };
    Ok(known.then(|| challenge.to_string()))
}

/// The result of a delivery, for the response body.
#[derive(Debug, serde::Serialize)]
pub struct Receipt {
    pub received: usize,
    pub duplicates: usize,
    pub unknown_numbers: usize,
}

fn signature_error(e: signature::SignatureError) -> ApiError {
    ApiError::unauthorized("invalid_signature", e.to_string())
}

/// Checks the signature with the secret of every number the body names (a number without its own
/// secret, or an unknown one, uses the global app secret). Nothing is stored when it fails.
async fn check_signature(
    state: &AppState,
    body: &[u8],
    tree: Option<&serde_json::Value>,
    header: Option<&str>,
) -> Result<Vec<(String, Option<Arc<NumberInfo>>)>, ApiError> {
    let signature = signature::parse_header(header).map_err(signature_error)?;
    let global = state.settings.meta.app_secret.as_ref().map(|s| s.expose().to_string());
    let named = tree.map(parse::named_accounts).unwrap_or_default();
    let mut numbers = Vec::new();
    for phone_number_id in named.phone_number_ids {
        let info = state.numbers.lookup(&phone_number_id).await?;
        numbers.push((phone_number_id, info));
    }
    let mut accounts = Vec::new();
    for waba_id in &named.waba_ids {
        accounts.push(state.numbers.lookup_waba(waba_id).await?);
    }
    let mut secrets: Vec<Option<String>> = numbers
        .iter()
        .map(|(_, info)| info)
        .chain(accounts.iter())
        .map(|info| info.as_ref().and_then(|i| i.app_secret.clone()).or_else(|| global.clone()))
        .collect();
    if secrets.is_empty() {
        secrets.push(global);
    }
    secrets.sort();
    secrets.dedup();
    for secret in &secrets {
        let Some(secret) = secret else {
            return Err(signature_error(signature::SignatureError::NoSecret));
        };
        if !signature::verify(secret.as_bytes(), body, &signature) {
            return Err(signature_error(signature::SignatureError::Mismatch));
        }
    }
    Ok(numbers)
}

fn delivery_row(
    body: &[u8],
    outcome: &str,
    keep_body: bool,
    error: Option<String>,
    ip: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> DeliveryRow {
    DeliveryRow {
        id: Uuid::now_v7(),
        received_at: now,
        outcome: outcome.to_string(),
        body_sha256: sha256_hex(body),
        body_size: i32::try_from(body.len()).unwrap_or(i32::MAX),
        body: keep_body.then(|| String::from_utf8_lossy(body).into_owned()),
        item_count: 0,
        duplicate_count: 0,
        error,
        source_ip: ip,
    }
}

/// Hands the raw delivery, once stored, to the archive (a no-op when the archive is the SQL database).
fn archive_copy(
    state: &AppState,
    delivery_id: Uuid,
    body: &[u8],
    outcome: &str,
    ip: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) {
    state.archive.delivery(|| crate::archive::DeliveryCopy {
        delivery_id,
        received_at: now,
        body: String::from_utf8_lossy(body).into_owned(),
        outcome: outcome.to_string(),
        source_ip: ip,
    });
}

fn store_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Unavailable(_) | IngestError::Stopped => ApiError::Unavailable("database"),
        IngestError::Failed(message) => ApiError::internal(message),
    }
}

/// Receives one delivery. `Ok` means it is durably stored (or needs no storing).
pub async fn receive(
    state: &AppState,
    body: &[u8],
    signature_header: Option<&str>,
    ip: Option<String>,
) -> Result<Receipt, ApiError> {
    let metrics = &state.metrics;
    // One JSON decode serves both the choice of signing secret and the items.
    let tree = serde_json::from_slice::<serde_json::Value>(body).map_err(|e| parse::ParseError::NotJson(e.to_string()));
    let numbers = match check_signature(state, body, tree.as_ref().ok(), signature_header).await {
        Ok(n) => n,
        Err(e) => {
            metrics.add("pytake_webhook_deliveries_total", "unauthorized", 1);
            return Err(e);
        }
    };
    let now = state.now();
    let parsed: ParsedDelivery = match tree.and_then(|t| parse::parse_value_tree(&t)) {
        Ok(p) => p,
        Err(e) => {
            metrics.add("pytake_webhook_deliveries_total", "malformed", 1);
            let row = delivery_row(body, "malformed", true, Some(e.to_string()), ip.clone(), now);
            let delivery_id = row.id;
            state.ingest.store(row, Vec::new()).await.map_err(store_error)?;
            archive_copy(state, delivery_id, body, "malformed", ip, now);
            return Err(ApiError::bad_request("malformed_payload", e.to_string()));
        }
    };
    for reason in &parsed.skipped {
        tracing::warn!(reason, "webhook item skipped");
        metrics.add("pytake_webhook_items_total", "skipped", 1);
    }
    let mut items = Vec::new();
    let mut unknown = 0;
    for change in parsed.changes {
        let info = numbers.iter().find(|(id, _)| *id == change.phone_number_id).and_then(|(_, info)| info.clone());
        let Some(info) = info else {
            unknown += change.items.len();
            tracing::warn!(phone_number_id = %change.phone_number_id, items = change.items.len(), "delivery for an unknown phone_number_id");
            continue;
        };
        for item in change.items {
            let payload_json = serde_json::to_value(&item.payload).map_err(ApiError::internal)?;
            items.push(PreparedItem {
                row: NewInboxItem {
                    id: Uuid::now_v7(),
                    organization_id: info.org.as_uuid(),
                    number_id: info.id,
                    kind: item.payload.kind(),
                    dedup_key: item.dedup_key,
                    contact_wa_id: item.contact_wa_id.clone(),
                    payload: payload_json,
                    wa_timestamp: item.timestamp.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
                },
                key: ConversationKey { org: info.org, number_id: info.id, contact_wa_id: item.contact_wa_id },
                payload: item.payload,
            });
        }
    }
    if unknown > 0 {
        metrics.add("pytake_webhook_unknown_number_items_total", "", unknown as u64);
    }
    let outcome = match (items.is_empty(), unknown > 0, parsed.other_fields.is_empty()) {
        (false, _, _) => "accepted",
        (true, true, _) => "unknown_number",
        (true, false, false) => "ignored",
        (true, false, true) => "empty",
    };
    metrics.add("pytake_webhook_deliveries_total", outcome, 1);
    let mut row = delivery_row(body, outcome, outcome != "accepted" && outcome != "empty", None, ip.clone(), now);
    row.item_count = items.len() as i32;
    let delivery_id = row.id;
    let Stored { new_items, duplicates } = state.ingest.store(row, items).await.map_err(store_error)?;
    archive_copy(state, delivery_id, body, outcome, ip, now);
    if duplicates > 0 {
        metrics.add("pytake_webhook_dedup_hits_total", "", duplicates as u64);
    }
    if !parsed.template_updates.is_empty() {
        // Rare and idempotent: applied at once (the raw delivery is stored above).
        let mut c = state.db.conn().await?;
        for u in &parsed.template_updates {
            crate::repo::templates::apply_review(&mut c, &u.meta_template_id, &u.status, u.reason.as_deref(), now)
                .await?;
        }
    }
    Ok(Receipt { received: new_items, duplicates, unknown_numbers: unknown })
}
