//! Contacts in and out as CSV. Import upserts by `wa_id` (new contacts are created, existing ones
//! get the non-empty fields of their row; unknown columns become custom attributes; `tags` is a
//! `;`-separated list) and answers with a per-row error report: a bad row is skipped, the others
//! are imported. Export writes every live contact (optionally of one tag).

use crate::auth::{Permission, Principal};
use crate::http::ApiError;
use crate::repo::contacts::{self, ContactFilter, ContactRow};
use crate::repo::tags;
use crate::state::AppState;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

/// Rows one import may hold.
pub const MAX_ROWS: usize = 10_000;
/// Contacts one export writes at most.
const MAX_EXPORT: usize = 100_000;
const KNOWN: [&str; 8] = ["wa_id", "name", "email", "phone", "company", "lifecycle_stage", "is_vip", "opt_in"];

#[derive(Debug, Serialize, ToSchema)]
pub struct RowError {
    /// The line in the file (the header is line 1).
    pub row: usize,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub failed: usize,
    pub errors: Vec<RowError>,
    /// The contacts the file named (created or updated), for a campaign's audience.
    #[serde(skip)]
    pub contact_ids: Vec<Uuid>,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "sim" => Some(true),
        "false" | "no" | "0" | "não" | "nao" => Some(false),
        _ => None,
    }
}

/// One row, checked: the fields it sets (absent or empty cells set nothing).
struct Parsed {
    wa_id: String,
    text: Map<String, Value>,
    attributes: Map<String, Value>,
    is_vip: Option<bool>,
    opt_in: Option<bool>,
    tags: Vec<String>,
}

fn parse_row(headers: &[String], record: &csv::StringRecord) -> Result<Parsed, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut parsed = Parsed {
        wa_id: String::new(),
        text: Map::new(),
        attributes: Map::new(),
        is_vip: None,
        opt_in: None,
        tags: Vec::new(),
    };
    for (h, cell) in headers.iter().zip(record.iter()) {
        let v = cell.trim();
        match h.as_str() {
            "wa_id" => parsed.wa_id = v.trim_start_matches('+').replace([' ', '-'], ""),
            _ if v.is_empty() => {}
            "is_vip" | "opt_in" => match parse_bool(v) {
                Some(b) if h == "is_vip" => parsed.is_vip = Some(b),
                Some(b) => parsed.opt_in = Some(b),
                None => errors.push((h.clone(), "must be true or false".to_string())),
            },
            "tags" => {
                parsed.tags = v.split([';', '|']).map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
            }
            "email" if !crate::http::validate::is_email(v) => {
                errors.push((h.clone(), "is not an email address".into()))
            }
            k if KNOWN.contains(&k) => {
                if v.chars().count() > 200 {
                    errors.push((h.clone(), "at most 200 characters".into()));
                } else {
                    parsed.text.insert(k.to_string(), Value::String(v.to_string()));
                }
            }
            k => {
                parsed.attributes.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    if !((6..=20).contains(&parsed.wa_id.len()) && parsed.wa_id.bytes().all(|b| b.is_ascii_digit())) {
        errors.push(("wa_id".into(), "must be the number in international form, 6-20 digits".into()));
    }
    if parsed.tags.iter().any(|t| t.chars().count() > 50) {
        errors.push(("tags".into(), "a tag is at most 50 characters".into()));
    }
    if errors.is_empty() { Ok(parsed) } else { Err(errors) }
}

fn text(p: &Parsed, k: &str) -> Option<String> {
    p.text.get(k).and_then(Value::as_str).map(String::from)
}

pub async fn import(state: &AppState, p: &Principal, body: &[u8]) -> Result<ImportReport, ApiError> {
    p.require(Permission::ContactsWrite)?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::bad_request("invalid_csv", format!("the header row is not valid CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "wa_id") {
        return Err(ApiError::field("wa_id", "the header row needs a wa_id column"));
    }
    let mut report = ImportReport::default();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if i >= MAX_ROWS {
            return Err(ApiError::field("file", format!("at most {MAX_ROWS} rows per import")));
        }
        match record {
            Ok(r) => rows.push((line, r)),
            Err(e) => {
                report.errors.push(RowError { row: line, field: "row".into(), message: format!("not valid CSV: {e}") })
            }
        }
    }
    report.rows = rows.len() + report.errors.len();
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let mut seen = std::collections::HashSet::new();
    for (line, record) in rows {
        let parsed = match parse_row(&headers, &record) {
            Ok(p) => p,
            Err(errs) => {
                report.errors.extend(errs.into_iter().map(|(field, message)| RowError { row: line, field, message }));
                continue;
            }
        };
        if !seen.insert(parsed.wa_id.clone()) {
            report.errors.push(RowError {
                row: line,
                field: "wa_id".into(),
                message: "this wa_id is on an earlier row".into(),
            });
            continue;
        }
        let id = match contacts::find_by_wa_id(&mut tx, p.org, &parsed.wa_id).await? {
            Some(mut row) => {
                apply(&mut row, &parsed, now);
                contacts::update(&mut tx, p.org, &row, now).await?;
                report.updated += 1;
                row.id
            }
            None => {
                let mut row = ContactRow {
                    id: Uuid::now_v7(),
                    organization_id: p.org.as_uuid(),
                    wa_id: parsed.wa_id.clone(),
                    name: None,
                    profile_name: None,
                    email: None,
                    phone: None,
                    company: None,
                    attributes: Json(json!({})),
                    lifecycle_stage: Some("lead".into()),
                    is_blocked: false,
                    blocked_reason: None,
                    is_vip: false,
                    opt_in: false,
                    opt_in_at: None,
                    opt_out_at: None,
                    last_inbound_at: None,
                    created_at: now,
                    updated_at: now,
                };
                apply(&mut row, &parsed, now);
                contacts::insert_manual(&mut tx, p.org, &row, now).await?;
                report.created += 1;
                contacts::find_by_wa_id(&mut tx, p.org, &row.wa_id).await?.map_or(row.id, |r| r.id)
            }
        };
        for t in &parsed.tags {
            let tag = tags::ensure(&mut tx, p.org, t, now).await?;
            contacts::tag(&mut tx, p.org, id, tag, now).await?;
        }
        report.contact_ids.push(id);
    }
    tx.commit().await?;
    let mut failed_rows: Vec<usize> = report.errors.iter().map(|e| e.row).collect();
    failed_rows.dedup();
    report.failed = failed_rows.len();
    Ok(report)
}

fn apply(row: &mut ContactRow, p: &Parsed, now: chrono::DateTime<chrono::Utc>) {
    if let Some(v) = text(p, "name") {
        row.name = Some(v);
    }
    if let Some(v) = text(p, "email") {
        row.email = Some(v);
    }
    if let Some(v) = text(p, "phone") {
        row.phone = Some(v);
    }
    if let Some(v) = text(p, "company") {
        row.company = Some(v);
    }
    if let Some(v) = text(p, "lifecycle_stage") {
        row.lifecycle_stage = Some(v);
    }
    if let Some(v) = p.is_vip {
        row.is_vip = v;
    }
    match p.opt_in {
        Some(true) if !row.opt_in => {
            row.opt_in = true;
            row.opt_in_at = Some(now);
        }
        Some(false) if row.opt_in || row.opt_out_at.is_none() => {
            row.opt_in = false;
            row.opt_out_at = Some(now);
        }
        _ => {}
    }
    if !p.attributes.is_empty() {
        let mut merged = row.attributes.0.as_object().cloned().unwrap_or_default();
        merged.extend(p.attributes.clone());
        row.attributes = Json(Value::Object(merged));
    }
}

/// Every live contact as CSV (of one tag when given), oldest first.
pub async fn export(state: &AppState, p: &Principal, tag: Option<&str>) -> Result<String, ApiError> {
    p.require(Permission::ContactsRead)?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "wa_id",
        "name",
        "profile_name",
        "email",
        "phone",
        "company",
        "lifecycle_stage",
        "is_vip",
        "opt_in",
        "is_blocked",
        "tags",
        "attributes",
        "created_at",
    ];
    let csv_error = |e: csv::Error| ApiError::internal(e);
    out.write_record(header).map_err(csv_error)?;
    let mut c = state.db.conn().await?;
    let filter = ContactFilter { wa_id: None, search: None, tag };
    let mut after = None;
    let mut written = 0;
    loop {
        let page = contacts::list(&mut c, p.org, &filter, after, 500).await?;
        let more = page.len() > 500;
        for row in page.into_iter().take(500) {
            let tag_names = contacts::tags_of(&mut c, p.org, row.id).await?.join(";");
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            out.write_record([
                row.wa_id.clone(),
                opt(&row.name),
                opt(&row.profile_name),
                opt(&row.email),
                opt(&row.phone),
                opt(&row.company),
                opt(&row.lifecycle_stage),
                row.is_vip.to_string(),
                row.opt_in.to_string(),
                row.is_blocked.to_string(),
                tag_names,
                row.attributes.0.to_string(),
                row.created_at.to_rfc3339(),
            ])
            .map_err(csv_error)?;
            after = Some(row.id);
            written += 1;
        }
        if !more || written >= MAX_EXPORT {
            break;
        }
    }
    let bytes = out.into_inner().map_err(|e| ApiError::internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(ApiError::internal)
}

/// Checks an import's content type.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    match content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
        Some(ct) if ct == "text/csv" || ct == "application/csv" => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}
