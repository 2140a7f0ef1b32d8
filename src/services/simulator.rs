//! The flow simulator (`POST /api/v1/flows/{id}/simulate`): runs a flow's **draft** through the
//! real engine, in memory. No WhatsApp traffic, nothing written to conversations: the answer lists
//! what the bot would do (messages, buttons, variables, API calls, handoffs, timers). API calls are
//! answered from `api_mocks` (by node id), never made; timers are fired by hand. Sessions live 30
//! minutes.

use crate::auth::{Permission, Principal};
use crate::http::{ApiError, FieldErrors, Validate};
use crate::repo::flows;
use crate::state::AppState;
use dashmap::DashMap;
use pytake_actors::OrgId;
use pytake_actors::flow::{ApiOutcome, Effect, Env, Flow, FlowJson, FlowSettings, FlowState, Input, UserMessage, step};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use uuid::Uuid;

const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
const MAX_SESSIONS: usize = 10_000;
/// API results fed back per request at most (a flow calling APIs in a loop stops here).
const MAX_API_ROUNDS: usize = 10;

struct Session {
    org: OrgId,
    flow_id: Uuid,
    flow: Flow,
    settings: FlowSettings,
    state: FlowState,
    /// Scheduled and not cancelled: (node, kind, token).
    timers: Vec<(String, pytake_actors::flow::TimerKind, u64)>,
    touched: Instant,
}

#[derive(Default)]
pub struct Simulations {
    sessions: DashMap<Uuid, Session>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimInput {
    /// What the customer types.
    pub text: Option<String>,
    /// A tapped button's or list row's id.
    pub reply_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// Absent: start a new session.
    pub session_id: Option<Uuid>,
    pub input: Option<SimInput>,
    /// Fire the oldest pending timer (question timeout, delay, ...).
    #[serde(default)]
    pub fire_timer: bool,
    /// `{node_id: {status, body}}`: what each `api_call` node gets back.
    #[schema(value_type = Option<Object>)]
    pub api_mocks: Option<Map<String, Value>>,
}

impl Validate for SimulateRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        if let Some(i) = &self.input {
            e.opt_text("input.text", i.text.as_deref(), 1, 4096);
            e.check(i.text.is_some() || i.reply_id.is_some(), "input", "give text or reply_id");
        }
        e.check(!(self.fire_timer && self.input.is_some()), "fire_timer", "send an input or fire a timer, not both");
        e.check(
            self.session_id.is_some() || (self.input.is_none() && !self.fire_timer),
            "session_id",
            "a new session starts with an empty body",
        );
        e.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulateResponse {
    pub session_id: Uuid,
    /// What the bot did, in order (`{"effect": "send" | "call_api" | "handoff" | "schedule_timer" | ...}`).
    #[schema(value_type = Vec<Object>)]
    pub effects: Vec<Value>,
    pub current_node: Option<String>,
    /// `running`, `waiting`, `finished`, `handed_off`.
    pub status: String,
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// Timers that can be fired: `[{node, kind}]`.
    #[schema(value_type = Vec<Object>)]
    pub pending_timers: Vec<Value>,
}

pub async fn simulate(
    state: &AppState,
    p: &Principal,
    flow_id: Uuid,
    req: SimulateRequest,
) -> Result<SimulateResponse, ApiError> {
    p.require(Permission::FlowsManage)?;
    let sims = &state.simulations;
    sims.sessions.retain(|_, s| s.touched.elapsed() < SESSION_TTL);
    let (session_id, input) = match req.session_id {
        None => {
            if sims.sessions.len() >= MAX_SESSIONS {
                return Err(ApiError::Unavailable("simulator"));
            }
            let mut c = state.db.conn().await?;
            let row = flows::get(&mut c, p.org, flow_id).await?.ok_or(ApiError::NotFound("flow"))?;
            let json: FlowJson = serde_json::from_value(row.definition.0.clone()).unwrap_or_default();
            let session = Session {
                org: p.org,
                flow_id,
                flow: Flow::from_json(&json),
                settings: serde_json::from_value(row.settings.0.clone()).unwrap_or_default(),
                state: FlowState::default(),
                timers: Vec::new(),
                touched: Instant::now(),
            };
            let id = Uuid::now_v7();
            sims.sessions.insert(id, session);
            let mut variables = Map::new();
            variables.insert("last_message".into(), Value::String(String::new()));
            (id, Input::Start { variables })
        }
        Some(id) => {
            let mut s = sims.sessions.get_mut(&id).ok_or(ApiError::NotFound("simulation session"))?;
            if s.org != p.org || s.flow_id != flow_id {
                return Err(ApiError::NotFound("simulation session"));
            }
            s.touched = Instant::now();
            let input = if req.fire_timer {
                if s.timers.is_empty() {
                    return Err(ApiError::conflict("no_timer", "no timer is pending"));
                }
                let (node, kind, token) = s.timers.remove(0);
                Input::Timer { node, kind, token }
            } else {
                let i = req.input.unwrap_or_default();
                let message_type = if i.reply_id.is_some() { "interactive" } else { "text" };
                Input::Message(UserMessage { text: i.text, reply_id: i.reply_id, message_type: message_type.into() })
            };
            (id, input)
        }
    };
    let mut entry = sims.sessions.get_mut(&session_id).ok_or(ApiError::NotFound("simulation session"))?;
    let session = &mut *entry;
    let contact = json!({"id": null, "name": "Simulator", "wa_id": "0000000000", "phone": "0000000000"});
    let conversation = json!({"id": session_id});
    let mocks = req.api_mocks.unwrap_or_default();
    let mut effects = Vec::new();
    let mut next = Some(input);
    let mut rounds = 0;
    while let Some(input) = next.take() {
        let env = Env {
            now: state.now(),
            timezone: chrono_tz::UTC,
            contact: &contact,
            conversation: &conversation,
            settings: &session.settings,
            max_steps: state.settings.flows.max_steps,
            max_visits: state.settings.flows.max_visits,
        };
        let current = std::mem::take(&mut session.state);
        let out = step(&session.flow, current, input, &env);
        session.state = out.state;
        for effect in out.effects {
            match &effect {
                Effect::CallApi { node, fire_and_forget: false, .. } if rounds < MAX_API_ROUNDS => {
                    rounds += 1;
                    let outcome = match mocks.get(node) {
                        Some(m) => ApiOutcome::Ok {
                            status: m["status"].as_u64().unwrap_or(200) as u16,
                            body: m.get("body").cloned().unwrap_or(Value::Null),
                        },
                        None => ApiOutcome::Err {
                            error: format!("the simulator makes no calls: give api_mocks.{node} to answer it"),
                        },
                    };
                    next = Some(Input::ApiResult { node: node.clone(), outcome });
                }
                Effect::ScheduleTimer { node, kind, token, .. } => session.timers.push((node.clone(), *kind, *token)),
                Effect::CancelTimers => session.timers.clear(),
                _ => {}
            }
            effects.push(serde_json::to_value(&effect).unwrap_or_default());
        }
    }
    let status =
        serde_json::to_value(session.state.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    Ok(SimulateResponse {
        session_id,
        effects,
        current_node: session.state.current.clone(),
        status,
        variables: session.state.vars.clone(),
        pending_timers: session.timers.iter().map(|(node, kind, _)| json!({"node": node, "kind": kind})).collect(),
    })
}
