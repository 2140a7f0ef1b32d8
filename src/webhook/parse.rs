//! Parses Meta's webhook envelope into normalized inbox items, for every entry, change, message,
//! status and error it holds. Every inbound message type of the Cloud API is understood; a type we do
//! not know becomes `unsupported` with the raw object kept. Parsing never panics on any input.

use pytake_actors::domain::inbound::{InboundMessage, InboxPayload, StatusUpdate, WaError};
use serde_json::{Map, Value, json};

/// The items of one `changes[]` entry, for one phone number.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeItems {
    pub phone_number_id: String,
    pub items: Vec<ParsedItem>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParsedItem {
    /// Unique per item across redeliveries (message wamid; status wamid + status).
    pub dedup_key: String,
    /// The contact this item belongs to (the sender, or a status's recipient); empty for errors.
    pub contact_wa_id: String,
    pub timestamp: Option<i64>,
    pub payload: InboxPayload,
}

/// What a delivery contained.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedDelivery {
    pub changes: Vec<ChangeItems>,
    /// Changes of fields we do not process yet (template status, account updates, ...).
    pub other_fields: Vec<String>,
    /// Items that could not be keyed (a message without an id, ...): counted and logged.
    pub skipped: Vec<String>,
    /// Meta's review of message templates (`message_template_status_update`).
    pub template_updates: Vec<TemplateStatusUpdate>,
}

/// `{event: "APPROVED" | "REJECTED" | "PAUSED" | ..., message_template_id, reason}`.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateStatusUpdate {
    pub meta_template_id: String,
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a WhatsApp Business Account notification: {0}")]
    NotWhatsApp(&'static str),
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ts_of(v: &Value) -> Option<i64> {
    match v.get("timestamp")? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn errors_of(v: &Value) -> Vec<WaError> {
    v.get("errors").and_then(Value::as_array).map(|a| a.iter().map(wa_error).collect()).unwrap_or_default()
}

fn wa_error(e: &Value) -> WaError {
    WaError {
        code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
        title: str_of(e, "title"),
        message: str_of(e, "message"),
        details: e.get("error_data").and_then(|d| str_of(d, "details")),
    }
}

/// Parses a raw body (already signature-checked) into items.
pub fn parse_delivery(body: &[u8]) -> Result<ParsedDelivery, ParseError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    parse_value_tree(&root)
}

/// Parses an already-decoded body into items.
pub fn parse_value_tree(root: &Value) -> Result<ParsedDelivery, ParseError> {
    let Some(obj) = root.as_object() else {
        return Err(ParseError::NotWhatsApp("the body is not a JSON object"));
    };
    match obj.get("object").and_then(Value::as_str) {
        Some("whatsapp_business_account") => {}
        _ => return Err(ParseError::NotWhatsApp("`object` is not \"whatsapp_business_account\"")),
    }
    let Some(entries) = obj.get("entry").and_then(Value::as_array) else {
        return Err(ParseError::NotWhatsApp("`entry` is missing or not an array"));
    };
    let mut out = ParsedDelivery::default();
    for entry in entries {
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("");
            let value = change.get("value").unwrap_or(&Value::Null);
            if field == "message_template_status_update" {
                match (str_of(value, "message_template_id"), str_of(value, "event")) {
                    (Some(id), Some(event)) => out.template_updates.push(TemplateStatusUpdate {
                        meta_template_id: id,
                        status: event.to_ascii_uppercase(),
                        reason: str_of(value, "reason").filter(|r| r != "NONE"),
                    }),
                    _ => out.skipped.push("a template status update without message_template_id or event".into()),
                }
            }
            if field != "messages" {
                out.other_fields.push(field.to_string());
                continue;
            }
            let Some(phone_number_id) = value.get("metadata").and_then(|m| str_of(m, "phone_number_id")) else {
                out.skipped.push("a messages change without metadata.phone_number_id".into());
                continue;
            };
            let items = parse_value(&phone_number_id, value, &mut out.skipped);
            out.changes.push(ChangeItems { phone_number_id, items });
        }
    }
    Ok(out)
}

/// Who a body says it is about, read leniently (to choose the signature secret before the body is
/// trusted): the phone number ids of its changes, and the WhatsApp Business Account ids of entries
/// whose changes name no number (template and account events).
#[derive(Debug, Default, PartialEq)]
pub struct Named {
    pub phone_number_ids: Vec<String>,
    pub waba_ids: Vec<String>,
}

pub fn named_accounts(root: &Value) -> Named {
    let mut named = Named::default();
    for entry in root.get("entry").and_then(Value::as_array).into_iter().flatten() {
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            match change.get("value").and_then(|v| v.get("metadata")).and_then(|m| str_of(m, "phone_number_id")) {
                Some(id) => named.phone_number_ids.push(id),
                None => named.waba_ids.extend(str_of(entry, "id")),
            }
        }
    }
    for list in [&mut named.phone_number_ids, &mut named.waba_ids] {
        list.sort();
        list.dedup();
    }
    named
}

fn parse_value(phone_number_id: &str, value: &Value, skipped: &mut Vec<String>) -> Vec<ParsedItem> {
    let mut items = Vec::new();
    let profiles: Vec<(String, Option<String>)> = value
        .get("contacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| Some((str_of(c, "wa_id")?, c.get("profile").and_then(|p| str_of(p, "name")))))
        .collect();
    for m in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
        match parse_message(m, &profiles) {
            Some(msg) => items.push(ParsedItem {
                dedup_key: format!("m:{phone_number_id}:{}", msg.wamid),
                contact_wa_id: msg.from.clone(),
                timestamp: msg.timestamp,
                payload: InboxPayload::Message(msg),
            }),
            None => skipped.push("a message without `id` or `from`".into()),
        }
    }
    for s in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
        let (Some(wamid), Some(status), Some(recipient)) =
            (str_of(s, "id"), str_of(s, "status"), str_of(s, "recipient_id"))
        else {
            skipped.push("a status without `id`, `status` or `recipient_id`".into());
            continue;
        };
        items.push(ParsedItem {
            dedup_key: format!("s:{phone_number_id}:{wamid}:{status}"),
            contact_wa_id: recipient.clone(),
            timestamp: ts_of(s),
            payload: InboxPayload::Status(StatusUpdate {
                wamid,
                status,
                timestamp: ts_of(s),
                recipient_id: recipient,
                biz_opaque_callback_data: str_of(s, "biz_opaque_callback_data"),
                errors: errors_of(s),
                pricing: s.get("pricing").cloned(),
            }),
        });
    }
    for e in value.get("errors").and_then(Value::as_array).into_iter().flatten() {
        let error = wa_error(e);
        let fingerprint = crate::crypto::sha256_hex(e.to_string().as_bytes());
        items.push(ParsedItem {
            dedup_key: format!("e:{phone_number_id}:{}", &fingerprint[..32]),
            contact_wa_id: String::new(),
            timestamp: None,
            payload: InboxPayload::Error(error),
        });
    }
    items
}

const MEDIA_TYPES: [&str; 5] = ["image", "audio", "video", "document", "sticker"];
const KNOWN_TYPES: [&str; 14] = [
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "request_welcome",
];

fn parse_message(m: &Value, profiles: &[(String, Option<String>)]) -> Option<InboundMessage> {
    let wamid = str_of(m, "id")?;
    let from = str_of(m, "from").or_else(|| str_of(m, "from_user_id"))?;
    let declared = str_of(m, "type").unwrap_or_else(|| "unsupported".into());
    let profile_name =
        profiles.iter().find(|(wa, _)| *wa == from).or_else(|| profiles.first()).and_then(|(_, name)| name.clone());
    let body = m.get(&declared).cloned().unwrap_or(Value::Null);
    let context = m.get("context");
    let mut msg = InboundMessage {
        wamid,
        from,
        timestamp: ts_of(m),
        profile_name,
        message_type: declared.clone(),
        text: None,
        content: body.clone(),
        reply_id: None,
        context_wamid: context.and_then(|c| str_of(c, "id")),
        forwarded: context.is_some_and(|c| {
            c.get("forwarded").and_then(Value::as_bool).unwrap_or(false)
                || c.get("frequently_forwarded").and_then(Value::as_bool).unwrap_or(false)
        }),
        referral: m.get("referral").cloned(),
        errors: errors_of(m),
    };
    if !KNOWN_TYPES.contains(&declared.as_str()) || (body.is_null() && declared != "request_welcome") {
        msg.message_type = "unsupported".into();
        msg.content = json!({ "original_type": declared, "raw": m });
        return Some(msg);
    }
    match declared.as_str() {
        "text" => msg.text = str_of(&body, "body"),
        t if MEDIA_TYPES.contains(&t) => msg.text = str_of(&body, "caption"),
        "location" => msg.text = str_of(&body, "name").or_else(|| str_of(&body, "address")),
        "contacts" => {
            // `contacts` is an array of vCards: keep it under a key so content stays an object.
            msg.content = json!({ "contacts": body });
            msg.text = body
                .as_array()
                .and_then(|a| a.first())
                .and_then(|c| c.get("name"))
                .and_then(|n| str_of(n, "formatted_name"));
        }
        "interactive" => {
            let kind = str_of(&body, "type").unwrap_or_default();
            let reply = body.get(&kind).unwrap_or(&Value::Null);
            match kind.as_str() {
                "button_reply" | "list_reply" => {
                    msg.reply_id = str_of(reply, "id");
                    msg.text = str_of(reply, "title");
                }
                "nfm_reply" => {
                    msg.text = str_of(reply, "body");
                    if let Some(Value::String(raw)) = reply.get("response_json")
                        && let Ok(parsed) = serde_json::from_str::<Value>(raw)
                        && let Some(obj) = msg.content.as_object_mut()
                    {
                        obj.insert("response".into(), parsed);
                    }
                }
                _ => {}
            }
        }
        "button" => {
            msg.reply_id = str_of(&body, "payload");
            msg.text = str_of(&body, "text");
        }
        "reaction" => {
            msg.text = str_of(&body, "emoji");
            msg.context_wamid = str_of(&body, "message_id").or(msg.context_wamid);
        }
        "order" => msg.text = str_of(&body, "text"),
        "system" => msg.text = str_of(&body, "body"),
        _ => {}
    }
    msg.content = match msg.content {
        Value::Null => Value::Object(Map::new()),
        Value::Object(o) => Value::Object(o),
        other => json!({ "value": other }),
    };
    Some(msg)
}
