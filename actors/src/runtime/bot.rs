//! The bot inside a conversation actor: chooses the flow a new conversation runs, feeds the engine
//! (a message, a timer, an API result, a jump to another flow), performs the engine's IO effects
//! (HTTP calls) and turns the rest into changes to commit with the item: outgoing messages and
//! their outbox rows, timers, the handoff, contact fields, analytics and tags. Free-form messages
//! outside the 24-hour window are never sent: the flow's window-expiry action applies instead.

use super::handling::{HandleError, Ports};
use crate::domain::conversation::{
    AnalyticsRecord, Changes, ConversationKey, ConversationRecord, ConversationStatus, Direction, NewMessage,
    NewOutbox, SenderType, Snapshot, TimerChange,
};
use crate::domain::inbound::{InboundMessage, TimerFired};
use crate::domain::message::MessageStatus;
use crate::flow::engine::{Effect, Env, FlowState, Input, OutMessage, RunStatus, TimerKind, UserMessage};
use crate::flow::{LoadedFlow, step};
use crate::ports::FlowTrace;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Bounds on one input's work.
#[derive(Clone, Copy, Debug)]
pub struct FlowLimits {
    pub max_steps: u32,
    pub max_visits: u32,
    /// Jumps between flows per input.
    pub max_jumps: u32,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits { max_steps: 50, max_visits: 25, max_jumps: 5 }
    }
}

struct Bot<'a> {
    ports: &'a Ports,
    key: &'a ConversationKey,
    snap: &'a Snapshot,
    now: DateTime<Utc>,
    contact: Value,
    /// Set once the window rule stopped the flow: later sends of this input are dropped.
    stopped: bool,
    template_sent: bool,
}

fn timer_kind(s: &str) -> Option<TimerKind> {
    Some(match s {
        "question_timeout" => TimerKind::QuestionTimeout,
        "delay" => TimerKind::Delay,
        "api_retry" => TimerKind::ApiRetry,
        "inactivity_warning" => TimerKind::InactivityWarning,
        "inactivity" => TimerKind::Inactivity,
        _ => return None,
    })
}

/// An input as a trace records it.
fn input_json(input: &Input) -> Value {
    match input {
        Input::Start { variables } => json!({"type": "start", "variables": variables}),
        Input::Message(m) => {
            json!({"type": "message", "text": m.text, "reply_id": m.reply_id, "message_type": m.message_type})
        }
        Input::ApiResult { node, outcome } => json!({"type": "api_result", "node": node, "outcome": outcome}),
        Input::Timer { node, kind, token } => {
            json!({"type": "timer", "node": node, "kind": kind.as_str(), "token": token})
        }
    }
}

fn contact_json(snap: &Snapshot, key: &ConversationKey, profile_name: Option<&str>) -> Value {
    let c = snap.contact.as_ref();
    json!({
        "id": c.map(|c| c.id),
        "name": c.and_then(|c| c.name.clone()).or_else(|| profile_name.map(String::from)).or_else(|| c.and_then(|c| c.profile_name.clone())),
        "profile_name": profile_name.map(String::from).or_else(|| c.and_then(|c| c.profile_name.clone())),
        "phone": key.contact_wa_id,
        "wa_id": key.contact_wa_id,
    })
}

impl Bot<'_> {
    fn window_open(&self, conv: &ConversationRecord) -> bool {
        conv.window_expires_at.is_some_and(|w| w > self.now)
    }

    fn analytics(&self, changes: &mut Changes, flow: Option<Uuid>, node: Option<&str>, event: &str, properties: Value) {
        changes.analytics.push(AnalyticsRecord {
            id: self.ports.ids.new_id(),
            flow_id: flow,
            node_id: node.map(String::from),
            event: event.to_string(),
            properties,
        });
    }

    /// Queues a bot message (and its outbox row), unless the window forbids it.
    fn send(
        &mut self,
        changes: &mut Changes,
        conv: &mut ConversationRecord,
        flow: &LoadedFlow,
        state: &mut FlowState,
        message: OutMessage,
    ) {
        if self.stopped {
            return;
        }
        let mut message = message;
        if !message.is_template() && !self.window_open(conv) {
            let expiry = flow.settings.window_expiry.clone().unwrap_or_default();
            match expiry.action.as_str() {
                "wait_customer" => return,
                "send_template" if expiry.template_name.is_some() && !self.template_sent => {
                    self.template_sent = true;
                    message = OutMessage::Template {
                        name: expiry.template_name.clone().unwrap_or_default(),
                        language: expiry.template_language.clone().unwrap_or_else(|| "pt_BR".into()),
                        components: json!([]),
                    };
                }
                "send_template" => return,
                _ => {
                    self.stopped = true;
                    self.hand_off(
                        changes,
                        conv,
                        state,
                        None,
                        None,
                        None,
                        80,
                        Some("the 24-hour window closed before the bot could answer".into()),
                    );
                    return;
                }
            }
        }
        let (kind, message_type, text) = message.stored_kind();
        let payload = serde_json::to_value(&message).unwrap_or(Value::Null);
        let message_id = self.ports.ids.new_id();
        changes.messages.push(NewMessage {
            id: message_id,
            direction: Direction::Outbound,
            sender_type: SenderType::Bot,
            sender_user_id: None,
            wamid: None,
            message_type,
            text,
            content: payload.clone(),
            status: MessageStatus::Pending,
            reply_to_wamid: None,
            client_id: None,
            is_internal_note: false,
            wa_timestamp: None,
            error: None,
            created_at: self.now,
        });
        changes.outbox.push(NewOutbox {
            id: self.ports.ids.new_id(),
            message_id,
            conversation_id: conv.id,
            recipient: self.key.contact_wa_id.clone(),
            kind: kind.to_string(),
            payload,
        });
        conv.last_message_at = Some(self.now);
    }

    #[allow(clippy::too_many_arguments)]
    fn hand_off(
        &mut self,
        changes: &mut Changes,
        conv: &mut ConversationRecord,
        state: &mut FlowState,
        queue: Option<Uuid>,
        department: Option<Uuid>,
        agent: Option<Uuid>,
        priority: i32,
        note: Option<String>,
    ) {
        conv.is_bot_active = false;
        conv.queue_id = queue.or(conv.queue_id);
        conv.department_id = department.or(conv.department_id);
        conv.priority = priority;
        conv.handoff_note = note.clone();
        match agent {
            Some(a) => {
                conv.status = ConversationStatus::Assigned;
                conv.assigned_agent_id = Some(a);
            }
            None => {
                conv.status = ConversationStatus::Queued;
                conv.queued_at = Some(self.now);
            }
        }
        state.status = RunStatus::HandedOff;
        state.waiting = None;
        changes.timers.push(TimerChange::CancelAll);
        self.analytics(
            changes,
            conv.flow_id,
            state.current.as_deref(),
            "handoff",
            json!({"note": note, "priority": priority}),
        );
    }

    /// Feeds `input` to the flow and performs what follows, until the flow waits or stops.
    async fn drive(
        &mut self,
        changes: &mut Changes,
        conv: &mut ConversationRecord,
        mut flow: Arc<LoadedFlow>,
        mut state: FlowState,
        input: Input,
    ) -> Result<(), HandleError> {
        let limits = self.ports.limits;
        let mut next = Some(input);
        let mut jumps = 0;
        while let Some(input) = next.take() {
            let conversation = json!({"id": conv.id, "status": conv.status.as_str()});
            let env = Env {
                now: self.now,
                timezone: self.snap.timezone,
                contact: &self.contact,
                conversation: &conversation,
                settings: &flow.settings,
                max_steps: limits.max_steps,
                max_visits: limits.max_visits,
            };
            let traced = self.ports.archive.traces_enabled().then(|| (input_json(&input), std::time::Instant::now()));
            let out = step(&flow.flow, state, input, &env);
            if let Some((input, started)) = traced {
                changes.traces.push(FlowTrace {
                    org_id: self.key.org.as_uuid(),
                    conversation_id: conv.id,
                    flow_id: flow.flow_id,
                    version_id: Some(flow.version_id),
                    input,
                    entered: out.entered.clone(),
                    effects: serde_json::to_value(&out.effects).unwrap_or(Value::Null),
                    duration_us: started.elapsed().as_micros() as u64,
                    at: self.now,
                });
            }
            state = out.state;
            for effect in out.effects {
                match effect {
                    Effect::Send { message, .. } => self.send(changes, conv, &flow, &mut state, message),
                    Effect::CallApi { node, request, fire_and_forget } => {
                        let outcome = self.ports.http.call(self.key.org, &request).await;
                        if fire_and_forget {
                            let result = serde_json::to_value(&outcome).unwrap_or(Value::Null);
                            self.analytics(
                                changes,
                                Some(flow.flow_id),
                                Some(&node),
                                "webhook_action",
                                json!({"url": request.url, "result": result}),
                            );
                        } else {
                            next = Some(Input::ApiResult { node, outcome });
                        }
                    }
                    Effect::Handoff { target, priority, note, reason } => {
                        let id = |s: &Option<String>| s.as_deref().and_then(|x| x.parse::<Uuid>().ok());
                        let note = note.or(Some(reason));
                        let queue = id(&target.queue_id);
                        let mut department = id(&target.department_id);
                        if let (Some(q), None) = (queue, department) {
                            department = self.ports.store.queue_department(self.key, q).await?;
                        }
                        self.hand_off(
                            changes,
                            conv,
                            &mut state,
                            queue,
                            department,
                            id(&target.agent_id),
                            priority,
                            note,
                        );
                    }
                    Effect::ScheduleTimer { node, kind, due_at, token } => changes.timers.push(TimerChange::Schedule {
                        id: self.ports.ids.new_id(),
                        kind: kind.as_str().to_string(),
                        node,
                        due_at,
                        token,
                    }),
                    Effect::CancelTimers => changes.timers.push(TimerChange::CancelAll),
                    Effect::UpdateContact { fields } => {
                        let target = changes.contact_fields.get_or_insert_with(Map::new);
                        target.extend(fields);
                    }
                    Effect::Analytics { node, event, properties } => {
                        self.analytics(changes, Some(flow.flow_id), Some(&node), &event, properties)
                    }
                    Effect::Tag { tag } => {
                        if !tag.trim().is_empty() && !changes.tags.contains(&tag) {
                            changes.tags.push(tag);
                        }
                    }
                    Effect::JumpFlow { flow_id, variables } => {
                        let target = match flow_id.parse::<Uuid>() {
                            Ok(id) if jumps < limits.max_jumps => self.ports.store.published_flow(self.key, id).await?,
                            _ => None,
                        };
                        match target {
                            Some(target) => {
                                jumps += 1;
                                self.analytics(
                                    changes,
                                    Some(flow.flow_id),
                                    state.current.as_deref(),
                                    "flow_jump",
                                    json!({"to": target.flow_id}),
                                );
                                conv.flow_id = Some(target.flow_id);
                                conv.flow_version_id = Some(target.version_id);
                                flow = target;
                                state = FlowState {
                                    rng: state.rng,
                                    timer_token: state.timer_token,
                                    ..FlowState::default()
                                };
                                next = Some(Input::Start { variables });
                            }
                            None => {
                                let note = Some(format!(
                                    "the flow jumps to {flow_id}, which has no published version (or the jump limit was reached)"
                                ));
                                self.hand_off(changes, conv, &mut state, None, None, None, 80, note);
                            }
                        }
                    }
                    Effect::CloseConversation => {
                        conv.status = ConversationStatus::Closed;
                        conv.is_bot_active = false;
                        changes.timers.push(TimerChange::CancelAll);
                    }
                    Effect::Finished => {
                        if state.status == RunStatus::Finished {
                            self.analytics(changes, Some(flow.flow_id), None, "flow_completed", json!({}));
                        }
                    }
                }
            }
            if self.stopped {
                break;
            }
        }
        conv.flow_state = serde_json::to_value(&state).unwrap_or(Value::Null);
        Ok(())
    }
}

fn flow_state(conv: &ConversationRecord) -> FlowState {
    serde_json::from_value(conv.flow_state.clone()).unwrap_or_default()
}

/// The bot's part in handling an inbound message.
pub async fn on_message(
    ports: &Ports,
    key: &ConversationKey,
    snap: &Snapshot,
    changes: &mut Changes,
    conv: &mut ConversationRecord,
    m: &InboundMessage,
    is_new: bool,
) -> Result<(), HandleError> {
    if snap.contact.as_ref().is_some_and(|c| c.is_blocked) {
        // Stored, but neither the bot nor the agents' queue takes it (once unblocked, the bot
        // starts with the next message).
        if is_new {
            conv.status = ConversationStatus::Open;
            conv.is_bot_active = true;
            conv.queued_at = None;
        }
        return Ok(());
    }
    let now = ports.clock.now();
    let mut bot = Bot {
        ports,
        key,
        snap,
        now,
        contact: contact_json(snap, key, m.profile_name.as_deref()),
        stopped: false,
        template_sent: false,
    };
    let state = flow_state(conv);
    let human = matches!(conv.status, ConversationStatus::Queued | ConversationStatus::Assigned) && !is_new;
    if human || (!conv.is_bot_active && !is_new) {
        return Ok(());
    }
    if state.is_running()
        && let Some(version) = conv.flow_version_id
    {
        return match ports.store.flow_version(key, version).await? {
            Some(flow) => {
                let input = Input::Message(UserMessage {
                    text: m.text.clone(),
                    reply_id: m.reply_id.clone(),
                    message_type: m.message_type.clone(),
                });
                bot.drive(changes, conv, flow, state, input).await
            }
            None => {
                let mut state = state;
                bot.hand_off(
                    changes,
                    conv,
                    &mut state,
                    None,
                    None,
                    None,
                    80,
                    Some("the conversation's flow version is gone".into()),
                );
                conv.flow_state = serde_json::to_value(&state).unwrap_or(Value::Null);
                Ok(())
            }
        };
    }
    // Not running a flow: the first message of a new conversation, or a bot conversation whose flow
    // ended. Pick the flow to start.
    match ports.store.route(key, m.text.as_deref()).await? {
        Some(flow) => {
            conv.status = ConversationStatus::Open;
            conv.is_bot_active = true;
            conv.queued_at = None;
            conv.flow_id = Some(flow.flow_id);
            conv.flow_version_id = Some(flow.version_id);
            bot.analytics(changes, Some(flow.flow_id), None, "flow_started", json!({"version_id": flow.version_id}));
            let state = FlowState { rng: conv.id.as_u64_pair().0, ..FlowState::default() };
            // The message that started the flow is its first `last_message`.
            let mut variables = Map::new();
            variables.insert("last_message".into(), Value::String(m.text.clone().unwrap_or_default()));
            bot.drive(changes, conv, flow, state, Input::Start { variables }).await
        }
        None if !is_new => {
            // A bot conversation with nothing left to run goes to the agents.
            conv.status = ConversationStatus::Queued;
            conv.is_bot_active = false;
            conv.queued_at = Some(now);
            Ok(())
        }
        None => Ok(()),
    }
}

/// The bot's part in a timer that came due. Returns false when the timer no longer applies.
pub async fn on_timer(
    ports: &Ports,
    key: &ConversationKey,
    snap: &Snapshot,
    changes: &mut Changes,
    conv: &mut ConversationRecord,
    t: &TimerFired,
) -> Result<bool, HandleError> {
    let state = flow_state(conv);
    let (Some(kind), Some(version)) = (timer_kind(&t.kind), conv.flow_version_id) else { return Ok(false) };
    if conv.id != t.conversation_id || !conv.is_bot_active || !state.is_running() || state.timer_token != t.token {
        return Ok(false);
    }
    let Some(flow) = ports.store.flow_version(key, version).await? else { return Ok(false) };
    let now = ports.clock.now();
    let mut bot =
        Bot { ports, key, snap, now, contact: contact_json(snap, key, None), stopped: false, template_sent: false };
    bot.drive(changes, conv, flow, state, Input::Timer { node: t.node.clone(), kind, token: t.token }).await?;
    Ok(true)
}
