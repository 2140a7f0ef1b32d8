//! Graph API request bodies for the messages flows and agents send.

use pytake_actors::flow::OutMessage;
use serde_json::{Value, json};
use uuid::Uuid;

/// The body of `POST /messages` for `message` to `wa_id`. Our message id rides along in
/// `biz_opaque_callback_data`, so a status can find its message even before we know the wamid.
pub fn message_body(message: &OutMessage, wa_id: &str, message_id: Uuid) -> Value {
    let to = if wa_id.starts_with('+') { wa_id.to_string() } else { format!("+{wa_id}") };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "biz_opaque_callback_data": message_id.to_string(),
    });
    let object = |b: &mut Value, kind: &str, content: Value| {
        b["type"] = json!(kind);
        b[kind] = content;
    };
    match message {
        OutMessage::Text { body: text } => {
            object(&mut body, "text", json!({"body": text, "preview_url": text.contains("https://")}))
        }
        OutMessage::Media { media_type, link, id, caption, filename } => {
            let mut media = json!({});
            if let Some(id) = id {
                media["id"] = json!(id);
            } else if let Some(link) = link {
                media["link"] = json!(link);
            }
            if let Some(c) = caption.as_ref().filter(|_| media_type != "audio" && media_type != "sticker") {
                media["caption"] = json!(c);
            }
            if let Some(f) = filename.as_ref().filter(|_| media_type == "document") {
                media["filename"] = json!(f);
            }
            object(&mut body, media_type, media);
        }
        OutMessage::Buttons { body: text, header, footer, buttons } => {
            let mut interactive = json!({
                "type": "button",
                "body": {"text": text},
                "action": {"buttons": buttons.iter().map(|(id, title)| json!({"type": "reply", "reply": {"id": id, "title": title}})).collect::<Vec<_>>()},
            });
            if let Some(h) = header {
                interactive["header"] = json!({"type": "text", "text": h});
            }
            if let Some(f) = footer {
                interactive["footer"] = json!({"text": f});
            }
            object(&mut body, "interactive", interactive);
        }
        OutMessage::List { body: text, header, footer, button, sections } => {
            let mut interactive =
                json!({"type": "list", "body": {"text": text}, "action": {"button": button, "sections": sections}});
            if let Some(h) = header {
                interactive["header"] = json!({"type": "text", "text": h});
            }
            if let Some(f) = footer {
                interactive["footer"] = json!({"text": f});
            }
            object(&mut body, "interactive", interactive);
        }
        OutMessage::Template { name, language, components } => {
            let mut template = json!({"name": name, "language": {"code": language}});
            if components.as_array().is_some_and(|c| !c.is_empty()) {
                template["components"] = components.clone();
            }
            object(&mut body, "template", template);
        }
    }
    body
}
