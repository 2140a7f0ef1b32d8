//! Socket commands: `{"type": "<command>", "id": "<command id>", ...fields}`, each answered by
//! `{"type": "ack", "id", "data"}` or `{"type": "error", "id", "code", "message"}`. Each runs as its
//! own task, so a slow command never holds up the socket's events; they call the same services
//! as the REST API, with the same rules.

use super::session::Outlet;
use crate::auth::Permission;
use crate::auth::principal::Principal;
use crate::http::{ApiError, Validate};
use crate::services::agent_actions::{self, Transfer};
use crate::services::sending::{self, SendMessage, TemplateSpec};
use crate::state::AppState;
use actix_web::web;
use pytake_actors::domain::event::EventDraft;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Command {
    Ping {
        id: String,
    },
    SendMessage {
        id: String,
        conversation_id: Uuid,
        text: Option<String>,
        template: Option<TemplateSpec>,
        client_id: Option<String>,
    },
    Typing {
        id: String,
        conversation_id: Uuid,
    },
    MarkRead {
        id: String,
        conversation_id: Uuid,
    },
    SetStatus {
        id: String,
        status: String,
    },
    TakeNext {
        id: String,
    },
    Assign {
        id: String,
        conversation_id: Uuid,
        agent_id: Option<Uuid>,
    },
    Transfer {
        id: String,
        conversation_id: Uuid,
        agent_id: Option<Uuid>,
        queue_id: Option<Uuid>,
        department_id: Option<Uuid>,
        note: Option<String>,
    },
    Close {
        id: String,
        conversation_id: Uuid,
    },
    Reopen {
        id: String,
        conversation_id: Uuid,
    },
    Note {
        id: String,
        conversation_id: Uuid,
        text: String,
    },
}

impl Command {
    fn id(&self) -> &str {
        match self {
            Command::Ping { id }
            | Command::SendMessage { id, .. }
            | Command::Typing { id, .. }
            | Command::MarkRead { id, .. }
            | Command::SetStatus { id, .. }
            | Command::TakeNext { id }
            | Command::Assign { id, .. }
            | Command::Transfer { id, .. }
            | Command::Close { id, .. }
            | Command::Reopen { id, .. }
            | Command::Note { id, .. } => id,
        }
    }
}

fn error_frame(id: Option<&str>, e: &ApiError) -> Value {
    let mut body = json!({"type": "error", "id": id, "code": e.code(), "message": e.to_string()});
    if let ApiError::Validation(fields) = e {
        body["details"] = json!({"fields": fields.errors()});
    }
    body
}

/// Parses and runs one client frame in its own task.
pub fn dispatch(state: web::Data<AppState>, p: Principal, outlet: Arc<Outlet>, text: String) {
    actix_web::rt::spawn(async move {
        let command: Command = match serde_json::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                // Answer with the frame's id when it has one, so the client can match the error.
                let id = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(String::from));
                let err = ApiError::bad_request("invalid_command", format!("not a command this server knows: {e}"));
                outlet.reply(error_frame(id.as_deref(), &err));
                return;
            }
        };
        let id = command.id().to_string();
        match run(&state, &p, command).await {
            Ok(data) => outlet.reply(json!({"type": "ack", "id": id, "data": data})),
            Err(e) => outlet.reply(error_frame(Some(&id), &e)),
        }
    });
}

async fn run(state: &AppState, p: &Principal, command: Command) -> Result<Value, ApiError> {
    if !matches!(command, Command::Ping { .. }) {
        p.require(Permission::ConversationsWrite)?;
    }
    Ok(match command {
        Command::Ping { .. } => json!({"pong": true}),
        Command::SendMessage { conversation_id, text, template, client_id, .. } => {
            let req = SendMessage {
                kind: if template.is_some() { "template".into() } else { "text".into() },
                text,
                template,
                media: None,
                client_id,
            };
            req.validate().map_err(ApiError::Validation)?;
            let sent = sending::send(state, p, conversation_id, req).await?;
            json!({"message": sent.message, "created": sent.created})
        }
        Command::Typing { conversation_id, .. } => {
            let audience = agent_actions::audience(state, p).await?;
            agent_actions::load_visible(state, p, &audience, conversation_id).await?;
            state.registry.publish(EventDraft {
                org: p.org,
                event_type: "typing",
                conversation_id: Some(conversation_id),
                data: json!({"conversation_id": conversation_id, "user_id": p.user_id}),
            });
            json!({})
        }
        Command::MarkRead { conversation_id, .. } => {
            to_json(&agent_actions::mark_read(state, p, conversation_id).await?)
        }
        Command::SetStatus { status, .. } => {
            let changed = state
                .live
                .presence
                .set(p.org, p.user_id, &status)
                .map_err(|_| ApiError::field("status", "must be available, busy, away or offline"))?;
            if let Some(s) = changed {
                super::announce_presence(state, p.org, p.user_id, s).await;
            }
            json!({"status": state.live.presence.status(p.org, p.user_id)})
        }
        Command::TakeNext { .. } => json!({"conversation": agent_actions::take_next(state, p).await?}),
        Command::Assign { conversation_id, agent_id, .. } => {
            to_json(&agent_actions::assign(state, p, conversation_id, agent_id.unwrap_or(p.user_id)).await?)
        }
        Command::Transfer { conversation_id, agent_id, queue_id, department_id, note, .. } => to_json(
            &agent_actions::transfer(state, p, conversation_id, Transfer { agent_id, queue_id, department_id, note })
                .await?,
        ),
        Command::Close { conversation_id, .. } => to_json(&agent_actions::close(state, p, conversation_id).await?),
        Command::Reopen { conversation_id, .. } => to_json(&agent_actions::reopen(state, p, conversation_id).await?),
        Command::Note { conversation_id, text, .. } => {
            to_json(&agent_actions::note(state, p, conversation_id, &text).await?)
        }
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}
