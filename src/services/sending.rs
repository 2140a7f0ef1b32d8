//! Agent and API sends: `POST /conversations/{id}/messages`. The message and its outbox row are
//! stored with the conversation's versioned update in one transaction, then handed to the sender,
//! the same path the bot's replies take. Free-form messages need the 24-hour window; templates do not.

use crate::auth::{Permission, Principal};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::{conversations, messages, outbox};
use crate::state::AppState;
use pytake_actors::domain::conversation::{ConversationStatus, Direction, NewMessage, NewOutbox, SenderType};
use pytake_actors::domain::event::EventDraft;
use pytake_actors::domain::message::MessageStatus;
use pytake_actors::flow::OutMessage;
use pytake_actors::ports::OutboxSink;
use pytake_actors::views::MessageView;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];
/// Versioned-update attempts before reporting contention.
const ATTEMPTS: usize = 4;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    #[serde(default)]
    pub name: String,
    /// Language code, e.g. `pt_BR`, `en_US`.
    #[serde(default)]
    pub language: String,
    /// Body parameters, in order (`{{1}}`, `{{2}}`, ...).
    #[serde(default)]
    pub parameters: Vec<String>,
    /// Meta's `components` array as is (header/button parameters); overrides `parameters`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub components: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaSpec {
    /// A public http(s) URL Meta fetches...
    pub link: Option<String>,
    /// ...or the id of media uploaded to Meta.
    pub id: Option<String>,
    pub caption: Option<String>,
    /// Documents only.
    pub filename: Option<String>,
}

/// What to send. `type` is `text`, `template`, or a media type (`image`, `video`, `audio`,
/// `document`, `sticker`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub template: Option<TemplateSpec>,
    pub media: Option<MediaSpec>,
    /// Idempotency key: sending again with the same key returns the first message (200).
    pub client_id: Option<String>,
}

impl Validate for SendMessage {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        match self.kind.as_str() {
            "text" => match &self.text {
                Some(t) => e.text("text", t, 1, 4096),
                None => e.add("text", "is required for a text message"),
            },
            "template" => match &self.template {
                Some(t) => {
                    e.text("template.name", &t.name, 1, 512);
                    e.text("template.language", &t.language, 2, 15);
                    e.check(t.parameters.len() <= 60, "template.parameters", "at most 60 parameters");
                    for (i, p) in t.parameters.iter().enumerate() {
                        e.text(&format!("template.parameters[{i}]"), p, 1, 1024);
                    }
                    if let Some(c) = &t.components {
                        e.check(c.is_array(), "template.components", "must be an array of Meta template components");
                    }
                }
                None => e.add("template", "is required for a template message"),
            },
            kind if MEDIA_TYPES.contains(&kind) => match &self.media {
                Some(m) => {
                    match (&m.link, &m.id) {
                        (Some(_), Some(_)) | (None, None) => e.add("media", "give exactly one of `link` and `id`"),
                        (Some(link), None) => e.check(
                            (link.starts_with("https://") || link.starts_with("http://")) && link.len() <= 2048,
                            "media.link",
                            "must be an http(s) URL",
                        ),
                        (None, Some(id)) => e.text("media.id", id, 1, 256),
                    }
                    if let Some(c) = &m.caption {
                        e.text("media.caption", c, 1, 1024);
                        e.check(
                            kind != "audio" && kind != "sticker",
                            "media.caption",
                            "audio and stickers take no caption",
                        );
                    }
                    if let Some(f) = &m.filename {
                        e.text("media.filename", f, 1, 240);
                        e.check(kind == "document", "media.filename", "only documents have a file name");
                    }
                }
                None => e.add("media", "is required for a media message"),
            },
            _ => e.add("type", "must be text, template, image, video, audio, document or sticker"),
        }
        if self.kind != "text" && self.text.is_some() {
            e.add("text", "only a text message has `text` (use media.caption)");
        }
        if let Some(id) = &self.client_id {
            e.text("client_id", id, 1, 128);
        }
        e.finish()
    }
}

impl SendMessage {
    fn to_out_message(&self) -> OutMessage {
        match self.kind.as_str() {
            "text" => OutMessage::Text { body: self.text.clone().unwrap_or_default() },
            "template" => {
                let t = self.template.as_ref();
                let components = match t.and_then(|t| t.components.clone()) {
                    Some(c) => c,
                    None => {
                        let params = t.map(|t| t.parameters.as_slice()).unwrap_or_default();
                        if params.is_empty() {
                            json!([])
                        } else {
                            json!([{"type": "body", "parameters": params.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>()}])
                        }
                    }
                };
                OutMessage::Template {
                    name: t.map(|t| t.name.clone()).unwrap_or_default(),
                    language: t.map(|t| t.language.clone()).unwrap_or_default(),
                    components,
                }
            }
            media_type => {
                let m = self.media.as_ref();
                OutMessage::Media {
                    media_type: media_type.to_string(),
                    link: m.and_then(|m| m.link.clone()),
                    id: m.and_then(|m| m.id.clone()),
                    caption: m.and_then(|m| m.caption.clone()),
                    filename: m.and_then(|m| m.filename.clone()),
                }
            }
        }
    }
}

/// The result of a send: the message, and whether it was created now (false: an earlier send with
/// the same `client_id`).
pub struct Sent {
    pub message: MessageView,
    pub created: bool,
}

pub async fn send(state: &AppState, p: &Principal, conversation_id: Uuid, req: SendMessage) -> Result<Sent, ApiError> {
    p.require(Permission::ConversationsWrite)?;
    let message = req.to_out_message();
    let audience = crate::services::agent_actions::audience(state, p).await?;
    for _ in 0..ATTEMPTS {
        let mut c = state.db.conn().await?;
        let row =
            conversations::get(&mut c, p.org, conversation_id).await?.ok_or(ApiError::NotFound("conversation"))?;
        if !audience.sees(crate::services::agent_actions::placement(&row)) {
            return Err(ApiError::NotFound("conversation"));
        }
        if let Some(client_id) = &req.client_id
            && let Some(existing) = messages::by_client_id(&mut c, p.org, conversation_id, client_id).await?
        {
            return Ok(Sent { message: MessageView::from(existing), created: false });
        }
        drop(c);
        let mut record = row.conversation.record()?;
        let number_id = row.conversation.number_id;
        if record.status == ConversationStatus::Closed {
            return Err(ApiError::conflict(
                "conversation_closed",
                "the conversation is closed; a new message from the contact opens a new one",
            ));
        }
        let now = state.now();
        if !message.is_template() && record.window_expires_at.is_none_or(|w| w <= now) {
            return Err(ApiError::Unprocessable {
                code: "window_closed",
                message: "the 24-hour customer service window is closed: only a template message can be sent".into(),
                details: json!({"window_expires_at": record.window_expires_at}),
            });
        }
        if let Some(t) = &req.template {
            crate::services::templates::check_send(
                state,
                p.org,
                number_id,
                &t.name,
                &t.language,
                &t.parameters,
                t.components.as_ref(),
            )
            .await?;
        }
        let info = state.numbers.sending(p.org, number_id).await?.ok_or(ApiError::NotFound("conversation"))?;
        if info.token_invalid {
            return Err(ApiError::conflict(
                "number_token_invalid",
                "Meta rejected this number's access token; replace it before sending",
            ));
        }
        if info.access_token.is_none() {
            return Err(ApiError::conflict(
                "number_not_configured",
                "this number has no access token; set one before sending",
            ));
        }

        let (kind, message_type, text) = message.stored_kind();
        let payload = serde_json::to_value(&message).map_err(ApiError::internal)?;
        let new = NewMessage {
            id: Uuid::now_v7(),
            direction: Direction::Outbound,
            sender_type: SenderType::Agent,
            sender_user_id: Some(p.user_id),
            wamid: None,
            message_type,
            text,
            content: payload.clone(),
            status: MessageStatus::Pending,
            reply_to_wamid: None,
            client_id: req.client_id.clone(),
            is_internal_note: false,
            wa_timestamp: None,
            error: None,
            created_at: now,
        };
        let out = NewOutbox {
            id: Uuid::now_v7(),
            message_id: new.id,
            conversation_id,
            recipient: row.contact_wa_id.clone(),
            kind: kind.to_string(),
            payload,
        };
        record.last_message_at = Some(now);
        record.unread_count = 0;

        let mut tx = state.db.begin().await?;
        if !messages::insert(&mut tx, p.org, conversation_id, number_id, &new, None).await? {
            // The same client_id raced us: return the first one.
            tx.rollback().await?;
            continue;
        }
        outbox::insert(&mut tx, &outbox::fresh_row(p.org, number_id, &out, now), now).await?;
        if !conversations::update_versioned(&mut tx, p.org, &record, now).await? {
            tx.rollback().await?;
            continue;
        }
        conversations::mark_first_response(&mut tx, p.org, conversation_id, now).await?;
        tx.commit().await?;

        state.sender.enqueue(p.org, number_id, vec![out]);
        let view = MessageView::of_new(&new, conversation_id, None);
        state.registry.publish(EventDraft {
            org: p.org,
            event_type: "message.created",
            conversation_id: Some(conversation_id),
            data: serde_json::to_value(&view).unwrap_or_default(),
        });
        return Ok(Sent { message: view, created: true });
    }
    Err(ApiError::conflict("conversation_busy", "the conversation kept changing; try again"))
}
