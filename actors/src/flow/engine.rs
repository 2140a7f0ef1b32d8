//! The flow engine: `step(flow, state, input, env) -> (state, effects)`. Pure and deterministic:
//! no IO, no clock reads (the time comes in `env`), no ambient randomness (a seeded generator lives
//! in the state). Effects are what the conversation actor performs next (send, call an API, hand
//! off, schedule a timer, ...); the results of IO come back as inputs.

use super::condition::{as_number, branch_holds, compile};
use super::model::*;
use super::template::{Scope, render, render_value, text_of};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Flow-level settings (from the flow's `settings`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowSettings {
    #[serde(default)]
    pub inactivity: Option<Inactivity>,
    #[serde(default)]
    pub window_expiry: Option<WindowExpiry>,
}

/// What to do when the customer stops answering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inactivity {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "sixty")]
    pub timeout_minutes: i64,
    #[serde(default)]
    pub warning_at_minutes: Option<i64>,
    #[serde(default)]
    pub warning_message: Option<String>,
    /// transfer, close or fallback_flow
    #[serde(default = "transfer")]
    pub action: String,
    #[serde(default)]
    pub fallback_flow_id: Option<String>,
    #[serde(default)]
    pub closing_message: Option<String>,
}

fn sixty() -> i64 {
    60
}
fn transfer() -> String {
    "transfer".into()
}

/// What to do when the bot must send outside the 24-hour window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowExpiry {
    /// transfer (default), send_template or wait_customer
    #[serde(default = "transfer")]
    pub action: String,
    #[serde(default)]
    pub template_name: Option<String>,
    #[serde(default)]
    pub template_language: Option<String>,
}

/// Why the engine is waiting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Waiting {
    Answer { node: String },
    Api { node: String, attempt: u32 },
    Delay { node: String },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Idle,
    Running,
    Waiting,
    Finished,
    HandedOff,
}

/// Everything a running flow remembers between inputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowState {
    #[serde(default)]
    pub status: RunStatus,
    #[serde(default)]
    pub current: Option<String>,
    #[serde(default)]
    pub waiting: Option<Waiting>,
    #[serde(default)]
    pub vars: Map<String, Value>,
    #[serde(default)]
    pub attempts: BTreeMap<String, u32>,
    #[serde(default)]
    pub visits: BTreeMap<String, u32>,
    #[serde(default)]
    pub rng: u64,
    /// Timers carry the token current when they were set; a timer with an older token is stale.
    #[serde(default)]
    pub timer_token: u64,
}

impl FlowState {
    pub fn is_running(&self) -> bool {
        matches!(self.status, RunStatus::Running | RunStatus::Waiting)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    QuestionTimeout,
    Delay,
    ApiRetry,
    InactivityWarning,
    Inactivity,
}

impl TimerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TimerKind::QuestionTimeout => "question_timeout",
            TimerKind::Delay => "delay",
            TimerKind::ApiRetry => "api_retry",
            TimerKind::InactivityWarning => "inactivity_warning",
            TimerKind::Inactivity => "inactivity",
        }
    }
}

/// What the customer sent, as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserMessage {
    pub text: Option<String>,
    /// A button or list reply's id.
    pub reply_id: Option<String>,
    pub message_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApiOutcome {
    Ok { status: u16, body: Value },
    Err { error: String },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Start the flow (with variables passed by a jump).
    Start {
        variables: Map<String, Value>,
    },
    Message(UserMessage),
    ApiResult {
        node: String,
        outcome: ApiOutcome,
    },
    Timer {
        node: String,
        kind: TimerKind,
        token: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutMessage {
    Text {
        body: String,
    },
    Media {
        media_type: String,
        link: Option<String>,
        id: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
    },
    Buttons {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        buttons: Vec<(String, String)>,
    },
    List {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        button: String,
        sections: Value,
    },
    Template {
        name: String,
        language: String,
        components: Value,
    },
}

impl OutMessage {
    /// Whether WhatsApp allows it outside the 24-hour window (templates only).
    pub fn is_template(&self) -> bool {
        matches!(self, OutMessage::Template { .. })
    }

    /// How it is stored: the outbox kind (text, media, interactive, template), the message type and
    /// the text shown in the conversation.
    pub fn stored_kind(&self) -> (&'static str, String, Option<String>) {
        match self {
            OutMessage::Text { body } => ("text", "text".into(), Some(body.clone())),
            OutMessage::Media { media_type, caption, .. } => ("media", media_type.clone(), caption.clone()),
            OutMessage::Buttons { body, .. } | OutMessage::List { body, .. } => {
                ("interactive", "interactive".into(), Some(body.clone()))
            }
            OutMessage::Template { name, .. } => ("template", "template".into(), Some(name.clone())),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoffTarget {
    /// queue, department, agent or pool
    pub kind: String,
    pub queue_id: Option<String>,
    pub department_id: Option<String>,
    pub agent_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Send {
        node: String,
        message: OutMessage,
    },
    /// Call an API and feed the result back as `Input::ApiResult` (or just record it when
    /// `fire_and_forget`).
    CallApi {
        node: String,
        request: HttpRequest,
        fire_and_forget: bool,
    },
    Handoff {
        target: HandoffTarget,
        priority: i32,
        note: Option<String>,
        reason: String,
    },
    ScheduleTimer {
        node: String,
        kind: TimerKind,
        due_at: DateTime<Utc>,
        token: u64,
    },
    /// Every pending timer of this flow is obsolete.
    CancelTimers,
    /// Contact fields (name, email, phone, company, job_title, ...) and custom attributes.
    UpdateContact {
        fields: Map<String, Value>,
    },
    Analytics {
        node: String,
        event: String,
        properties: Value,
    },
    Tag {
        tag: String,
    },
    JumpFlow {
        flow_id: String,
        variables: Map<String, Value>,
    },
    CloseConversation,
    /// The flow has ended.
    Finished,
}

/// What the engine knows about the world for this step.
pub struct Env<'a> {
    pub now: DateTime<Utc>,
    pub timezone: chrono_tz::Tz,
    pub contact: &'a Value,
    pub conversation: &'a Value,
    pub settings: &'a FlowSettings,
    /// Nodes executed per input at most.
    pub max_steps: u32,
    /// Times one node may run in one flow run before the loop guard hands off.
    pub max_visits: u32,
}

pub struct Step {
    pub state: FlowState,
    pub effects: Vec<Effect>,
    /// The nodes this input ran through, in order.
    pub entered: Vec<String>,
}

struct Run<'a> {
    flow: &'a Flow,
    env: &'a Env<'a>,
    state: FlowState,
    effects: Vec<Effect>,
    steps: u32,
    entered: Vec<String>,
}

const DEFAULT_RETRY: &str = "Sorry, I didn't understand. Please try again.";
const DEFAULT_CHOICE_RETRY: &str = "Please choose one of the options.";

/// Runs the flow from `state` on `input` until it waits, finishes or hands off.
pub fn step(flow: &Flow, state: FlowState, input: Input, env: &Env<'_>) -> Step {
    let mut run = Run { flow, env, state, effects: Vec::new(), steps: 0, entered: Vec::new() };
    match input {
        Input::Start { variables } => {
            let seed = run.state.rng;
            run.state =
                FlowState { rng: seed ^ env.now.timestamp_micros() as u64, vars: variables, ..FlowState::default() };
            run.state.status = RunStatus::Running;
            match flow.start() {
                Some(start) => {
                    let next = flow.exit(&start.id, None).map(String::from);
                    run.go(next);
                }
                None => run.hand_off("the flow has no start node"),
            }
        }
        Input::Message(m) => run.on_message(m),
        Input::ApiResult { node, outcome } => run.on_api(node, outcome),
        Input::Timer { node, kind, token } => run.on_timer(node, kind, token),
    }
    Step { state: run.state, effects: run.effects, entered: run.entered }
}

impl<'a> Run<'a> {
    fn scope(&self) -> Scope<'_> {
        Scope { vars: &self.state.vars, contact: self.env.contact, conversation: self.env.conversation }
    }

    fn render(&self, s: &str) -> String {
        render(s, &self.scope())
    }

    fn send(&mut self, node: &str, message: OutMessage) {
        self.effects.push(Effect::Send { node: node.to_string(), message });
    }

    fn send_text(&mut self, node: &str, text: &str) {
        let body = self.render(text);
        if !body.trim().is_empty() {
            self.send(node, OutMessage::Text { body });
        }
    }

    fn finish(&mut self) {
        self.state.status = RunStatus::Finished;
        self.state.waiting = None;
        self.state.current = None;
        self.effects.push(Effect::CancelTimers);
        self.effects.push(Effect::Finished);
    }

    fn hand_off_to(&mut self, target: HandoffTarget, priority: i32, note: Option<String>, reason: &str) {
        self.effects.push(Effect::CancelTimers);
        self.effects.push(Effect::Handoff { target, priority, note, reason: reason.to_string() });
        self.state.status = RunStatus::HandedOff;
        self.state.waiting = None;
        // `current` stays at the node that handed off: reports count handoffs by node.
        self.effects.push(Effect::Finished);
    }

    /// Hands the conversation to the general pool, saying why (guards, dead ends, unsupported nodes).
    fn hand_off(&mut self, reason: &str) {
        let pool = HandoffTarget { kind: "pool".into(), queue_id: None, department_id: None, agent_id: None };
        self.hand_off_to(pool, 80, Some(reason.to_string()), reason);
    }

    fn next_token(&mut self) -> u64 {
        self.state.timer_token += 1;
        self.state.timer_token
    }

    fn timer(&mut self, node: &str, kind: TimerKind, after_secs: i64, token: u64) {
        self.effects.push(Effect::ScheduleTimer {
            node: node.to_string(),
            kind,
            due_at: self.env.now + Duration::seconds(after_secs.max(0)),
            token,
        });
    }

    /// Starts waiting for the customer's answer at `node`, with its timeouts.
    fn wait_answer(&mut self, node: &str, timeout_secs: Option<i64>) {
        self.state.status = RunStatus::Waiting;
        self.state.waiting = Some(Waiting::Answer { node: node.to_string() });
        self.state.current = Some(node.to_string());
        self.effects.push(Effect::CancelTimers);
        let token = self.next_token();
        if let Some(t) = timeout_secs {
            self.timer(node, TimerKind::QuestionTimeout, t, token);
        }
        if let Some(ia) = self.env.settings.inactivity.as_ref().filter(|i| i.enabled) {
            if let Some(w) = ia.warning_at_minutes.filter(|w| *w > 0 && *w < ia.timeout_minutes) {
                self.timer(node, TimerKind::InactivityWarning, w * 60, token);
            }
            self.timer(node, TimerKind::Inactivity, ia.timeout_minutes.max(1) * 60, token);
        }
    }

    /// Executes nodes from `start` until one waits or the flow ends.
    fn go(&mut self, mut next: Option<String>) {
        self.state.status = RunStatus::Running;
        self.state.waiting = None;
        while let Some(id) = next.take() {
            self.steps += 1;
            if self.steps > self.env.max_steps {
                return self.hand_off("the flow ran too many steps for one message (a loop?)");
            }
            self.entered.push(id.clone());
            let visits = self.state.visits.entry(id.clone()).or_insert(0);
            *visits += 1;
            if *visits > self.env.max_visits {
                return self.hand_off("the flow visited the same step too many times (a loop?)");
            }
            let Some(node) = self.flow.node(&id) else {
                return self.hand_off("the flow points to a node that does not exist");
            };
            self.state.current = Some(id.clone());
            next = self.execute(node);
            if next.is_none() && matches!(self.state.status, RunStatus::Running) {
                // A node without an exit ends the flow.
                self.finish();
            }
        }
    }

    /// Runs one node; returns the next node to run, or None when it waits or the flow ended.
    fn execute(&mut self, node: &'a Node) -> Option<String> {
        let flow = self.flow;
        let id = node.id.as_str();
        let default_exit = || flow.exit(id, None).map(String::from);
        match &node.kind {
            NodeKind::Start => default_exit(),
            NodeKind::Message { text, media } => {
                match media {
                    Some(m) => {
                        let message = OutMessage::Media {
                            media_type: m.media_type.clone(),
                            link: m.link.as_deref().map(|l| self.render(l)),
                            id: m.id.clone(),
                            caption: m.caption.as_deref().or(text.as_deref()).map(|c| self.render(c)),
                            filename: m.filename.clone(),
                        };
                        self.send(id, message);
                    }
                    None => self.send_text(id, text.as_deref().unwrap_or_default()),
                }
                default_exit()
            }
            NodeKind::End { text, close } => {
                if let Some(t) = text {
                    self.send_text(id, t);
                }
                if *close {
                    self.effects.push(Effect::CloseConversation);
                }
                self.finish();
                None
            }
            NodeKind::Question(q) => {
                self.state.attempts.insert(id.to_string(), 0);
                let mut text = self.render(&q.text);
                if q.response == ResponseType::Options && !q.options.is_empty() && !text.contains('\n') {
                    let list: Vec<String> =
                        q.options.iter().enumerate().map(|(i, (_, label))| format!("{}. {label}", i + 1)).collect();
                    text = format!("{text}\n{}", list.join("\n"));
                }
                self.send(id, OutMessage::Text { body: text });
                self.wait_answer(id, q.timeout_secs);
                None
            }
            NodeKind::Buttons { choice, buttons } => {
                self.state.attempts.insert(id.to_string(), 0);
                let message = OutMessage::Buttons {
                    body: self.render(&choice.body),
                    header: choice.header.as_deref().map(|h| self.render(h)),
                    footer: choice.footer.as_deref().map(|f| self.render(f)),
                    buttons: buttons.iter().map(|b| (b.id.clone(), self.render(&b.title))).collect(),
                };
                self.send(id, message);
                self.wait_answer(id, choice.timeout_secs);
                None
            }
            NodeKind::List { choice, button_text, sections } => {
                self.state.attempts.insert(id.to_string(), 0);
                let sections_json: Vec<Value> = sections
                    .iter()
                    .map(|s| {
                        json!({"title": s.title, "rows": s.rows.iter().map(|r| json!({"id": r.id, "title": self.render(&r.title), "description": r.description})).collect::<Vec<_>>()})
                    })
                    .collect();
                let message = OutMessage::List {
                    body: self.render(&choice.body),
                    header: choice.header.as_deref().map(|h| self.render(h)),
                    footer: choice.footer.as_deref().map(|f| self.render(f)),
                    button: self.render(button_text),
                    sections: Value::Array(sections_json),
                };
                self.send(id, message);
                self.wait_answer(id, choice.timeout_secs);
                None
            }
            NodeKind::Condition { branches } => {
                let scope = self.scope();
                let chosen = branches.iter().find(|b| branch_holds(b, &scope)).map(|b| b.id.clone());
                match chosen {
                    Some(handle) => flow.exit(id, Some(&handle)).map(String::from),
                    None => flow.exit(id, Some("default")).map(String::from),
                }
            }
            NodeKind::SetVariable(assignments) => {
                for a in assignments {
                    self.assign(a);
                }
                default_exit()
            }
            NodeKind::Random { paths, variable } => {
                let total: u64 = paths.iter().map(|p| u64::from(p.weight)).sum();
                if total == 0 {
                    return default_exit();
                }
                let mut pick = self.next_random() % total;
                let mut chosen = &paths[0];
                for p in paths {
                    if pick < u64::from(p.weight) {
                        chosen = p;
                        break;
                    }
                    pick -= u64::from(p.weight);
                }
                if let Some(v) = variable {
                    self.state.vars.insert(v.clone(), Value::String(chosen.id.clone()));
                }
                flow.exit(id, Some(&chosen.id)).map(String::from)
            }
            NodeKind::ApiCall(api) => {
                let request = self.request(api);
                self.effects.push(Effect::CallApi { node: id.to_string(), request, fire_and_forget: false });
                self.state.status = RunStatus::Waiting;
                self.state.waiting = Some(Waiting::Api { node: id.to_string(), attempt: 0 });
                None
            }
            NodeKind::Handoff(h) => {
                if let Some(m) = &h.message {
                    self.send_text(id, m);
                }
                let target = HandoffTarget {
                    kind: if h.queue_id.is_none() && h.department_id.is_none() && h.agent_id.is_none() {
                        "pool".into()
                    } else {
                        h.target.clone()
                    },
                    queue_id: h.queue_id.clone(),
                    department_id: h.department_id.clone(),
                    agent_id: h.agent_id.clone(),
                };
                let note = h.note.as_deref().map(|n| self.render(n));
                self.hand_off_to(target, h.priority, note, "the flow handed off");
                None
            }
            NodeKind::Jump(j) => {
                if j.target == "flow" {
                    let Some(flow_id) = j.flow_id.clone() else {
                        self.hand_off("a jump names no flow");
                        return None;
                    };
                    let mut variables = Map::new();
                    if j.variables.is_empty() {
                        variables = self.state.vars.clone();
                    } else {
                        for (name, value) in &j.variables {
                            variables.insert(name.clone(), render_value(&Value::String(value.clone()), &self.scope()));
                        }
                    }
                    self.effects.push(Effect::CancelTimers);
                    self.effects.push(Effect::JumpFlow { flow_id, variables });
                    self.state.status = RunStatus::Finished;
                    self.state.waiting = None;
                    self.state.current = None;
                    None
                } else {
                    j.node_id.clone()
                }
            }
            NodeKind::Delay { seconds, message } => {
                if let Some(m) = message {
                    self.send_text(id, m);
                }
                let token = self.next_token();
                self.timer(id, TimerKind::Delay, *seconds, token);
                self.state.status = RunStatus::Waiting;
                self.state.waiting = Some(Waiting::Delay { node: id.to_string() });
                None
            }
            NodeKind::Template(t) => {
                let components = match &t.components {
                    Some(c) => render_value(c, &self.scope()),
                    None if t.parameters.is_empty() => json!([]),
                    None => {
                        let params: Vec<Value> = t
                            .parameters
                            .iter()
                            .map(|(name, value)| {
                                let mut p = json!({"type": "text", "text": self.render(value)});
                                if let Some(n) = name {
                                    p["parameter_name"] = json!(n);
                                }
                                p
                            })
                            .collect();
                        json!([{"type": "body", "parameters": params}])
                    }
                };
                self.send(id, OutMessage::Template { name: t.name.clone(), language: t.language.clone(), components });
                default_exit()
            }
            NodeKind::Action(actions) => {
                for a in actions {
                    self.action(id, a);
                }
                default_exit()
            }
            NodeKind::DateTime(d) => self.datetime(node, d),
            NodeKind::Analytics(a) => {
                let mut properties = render_value(&a.properties, &self.scope());
                if let (Some(v), Some(obj)) = (&a.value, properties.as_object_mut()) {
                    let value = self.scope().lookup(v).cloned().unwrap_or_else(|| Value::String(self.render(v)));
                    obj.insert("value".into(), value);
                }
                if let (Some(c), Some(obj)) = (&a.counter, properties.as_object_mut()) {
                    obj.insert("counter".into(), Value::String(c.clone()));
                    let counters = self.state.vars.entry("_counters").or_insert_with(|| json!({}));
                    if let Some(m) = counters.as_object_mut() {
                        let n = m.get(c).and_then(Value::as_i64).unwrap_or(0) + 1;
                        m.insert(c.clone(), json!(n));
                    }
                }
                self.effects.push(Effect::Analytics { node: id.to_string(), event: a.event.clone(), properties });
                for tag in &a.tags {
                    self.effects.push(Effect::Tag { tag: self.render(tag) });
                }
                if let Some(v) = &a.variable {
                    self.state.vars.insert(v.clone(), Value::String(a.event.clone()));
                }
                default_exit()
            }
            NodeKind::Unsupported => {
                self.hand_off(&format!("the flow reached a {} node, which this server does not run", node.type_name));
                None
            }
            NodeKind::Unknown => {
                self.hand_off(&format!("the flow reached an unknown node type `{}`", node.type_name));
                None
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic from the stored seed.
        self.state.rng = self.state.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn request(&self, api: &ApiCall) -> HttpRequest {
        HttpRequest {
            method: api.method.clone(),
            url: self.render(&api.url),
            headers: api.headers.iter().map(|(k, v)| (k.clone(), self.render(v))).collect(),
            query: api.query.iter().map(|(k, v)| (k.clone(), self.render(v))).collect(),
            body: api.body.as_ref().map(|b| match b {
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(json) => render_value(&json, &self.scope()),
                    Err(_) => Value::String(self.render(s)),
                },
                other => render_value(other, &self.scope()),
            }),
            timeout_secs: api.timeout_secs,
        }
    }

    fn assign(&mut self, a: &Assignment) {
        let value = match a.value_type.as_str() {
            "variable" => self.scope().lookup(&text_of(&a.value)).cloned().unwrap_or(Value::Null),
            "expression" => Value::String(self.render(&text_of(&a.value))),
            _ => render_value(&a.value, &self.scope()),
        };
        let current = self.state.vars.get(&a.name).cloned();
        let new = match a.operation.as_str() {
            "append" => match current {
                Some(Value::Array(mut items)) => {
                    items.push(value);
                    Value::Array(items)
                }
                Some(Value::String(s)) => Value::String(format!("{s}{}", text_of(&value))),
                Some(Value::Null) | None => Value::Array(vec![value]),
                Some(other) => Value::Array(vec![other, value]),
            },
            "increment" => {
                let by = as_number(&value).unwrap_or(1.0);
                let base = current.as_ref().and_then(as_number).unwrap_or(0.0);
                number(base + by)
            }
            _ => value,
        };
        self.state.vars.insert(a.name.clone(), new);
    }

    fn action(&mut self, node: &str, a: &Action) {
        let cfg = &a.config;
        match a.action_type.as_str() {
            "webhook" => {
                let api = ApiCall {
                    method: cfg.get("method").and_then(Value::as_str).unwrap_or("POST").to_uppercase(),
                    url: cfg.get("url").and_then(Value::as_str).unwrap_or_default().to_string(),
                    headers: cfg
                        .get("headers")
                        .and_then(Value::as_object)
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), text_of(v))).collect())
                        .unwrap_or_default(),
                    query: Vec::new(),
                    body: cfg.get("body").cloned(),
                    timeout_secs: cfg.get("timeout").and_then(Value::as_u64).unwrap_or(10).clamp(1, 30),
                    variable: String::new(),
                    mappings: Vec::new(),
                    max_retries: 0,
                    retry_delay_secs: 0,
                    on_error_stop: false,
                };
                let request = self.request(&api);
                self.effects.push(Effect::CallApi { node: node.to_string(), request, fire_and_forget: true });
            }
            "save_contact" => {
                let mut fields = Map::new();
                if let Some(m) = cfg.get("fields").and_then(Value::as_object) {
                    for (field, source) in m {
                        let value = self
                            .scope()
                            .lookup(&text_of(source))
                            .cloned()
                            .unwrap_or_else(|| Value::String(self.render(&text_of(source))));
                        fields.insert(field.clone(), value);
                    }
                }
                if !fields.is_empty() {
                    self.effects.push(Effect::UpdateContact { fields });
                }
            }
            "update_variable" => {
                let name =
                    cfg.get("variableName").or_else(|| cfg.get("name")).and_then(Value::as_str).unwrap_or_default();
                if !name.is_empty() {
                    let a = Assignment {
                        name: name.to_string(),
                        value_type: "static".into(),
                        value: cfg.get("value").cloned().unwrap_or(Value::Null),
                        operation: cfg.get("operation").and_then(Value::as_str).unwrap_or("set").to_string(),
                    };
                    self.assign(&a);
                }
            }
            _ => {}
        }
    }

    fn local_now(&self, tz: chrono_tz::Tz) -> DateTime<chrono_tz::Tz> {
        self.env.now.with_timezone(&tz)
    }

    fn datetime(&mut self, node: &Node, d: &DateTimeOp) -> Option<String> {
        let flow = self.flow;
        let tz: chrono_tz::Tz = d.timezone.as_deref().and_then(|t| t.parse().ok()).unwrap_or(self.env.timezone);
        let source_time = |run: &Self| -> Option<DateTime<chrono_tz::Tz>> {
            match &d.source {
                None => Some(run.local_now(tz)),
                Some(v) => {
                    let raw = run.scope().lookup(v).map(text_of).unwrap_or_else(|| run.render(v));
                    parse_time(&raw, d.input_format.as_deref(), tz)
                }
            }
        };
        let save = |run: &mut Self, value: Value| {
            if let Some(var) = &d.variable {
                run.state.vars.insert(var.clone(), value);
            }
        };
        match d.operation.as_str() {
            "business_hours" => {
                let now = self.local_now(tz);
                let open = d.days.contains(&now.weekday().number_from_monday())
                    && match (d.start.as_deref().and_then(parse_hm), d.end.as_deref().and_then(parse_hm)) {
                        (Some(s), Some(e)) => {
                            let t = now.time();
                            if s <= e { t >= s && t < e } else { t >= s || t < e }
                        }
                        _ => true,
                    };
                save(self, Value::Bool(open));
                flow.exit(&node.id, Some(if open { "true" } else { "false" })).map(String::from)
            }
            "compare" => {
                let left = source_time(self);
                let right = d.compare_with.as_deref().map(|c| {
                    let raw = self.scope().lookup(c).map(text_of).unwrap_or_else(|| self.render(c));
                    if raw == "now" {
                        Some(self.local_now(tz))
                    } else {
                        parse_time(&raw, d.input_format.as_deref(), tz)
                    }
                });
                let holds = match (left, right.flatten()) {
                    (Some(l), Some(r)) => match d.compare_operator.as_str() {
                        ">" | "after" => l > r,
                        ">=" => l >= r,
                        "<=" => l <= r,
                        "==" | "same_day" => l.date_naive() == r.date_naive(),
                        _ => l < r,
                    },
                    _ => false,
                };
                save(self, Value::Bool(holds));
                flow.exit(&node.id, Some(if holds { "true" } else { "false" })).map(String::from)
            }
            op => {
                let value = match (op, source_time(self)) {
                    ("add", Some(t)) => {
                        let amount = d.add_amount;
                        let shifted = match d.add_unit.as_str() {
                            "minutes" => t + Duration::minutes(amount),
                            "hours" => t + Duration::hours(amount),
                            "weeks" => t + Duration::weeks(amount),
                            "seconds" => t + Duration::seconds(amount),
                            _ => t + Duration::days(amount),
                        };
                        Value::String(format_time(shifted, d.format.as_deref()))
                    }
                    (_, Some(t)) => Value::String(format_time(t, d.format.as_deref())),
                    (_, None) => Value::Null,
                };
                save(self, value);
                flow.exit(&node.id, None).map(String::from)
            }
        }
    }

    fn on_message(&mut self, m: UserMessage) {
        let text = m.text.clone().unwrap_or_default();
        self.state.vars.insert("last_message".into(), Value::String(text.clone()));
        let Some(Waiting::Answer { node }) = self.state.waiting.clone() else {
            // Waiting for an API or a delay, or not running: nothing to answer.
            return;
        };
        let Some(n) = self.flow.node(&node) else {
            return self.hand_off("the flow's waiting node no longer exists");
        };
        match &n.kind {
            NodeKind::Question(q) => match validate_answer(q, &m) {
                Ok(value) => {
                    let var = q.variable.clone().unwrap_or_else(|| format!("user_response_{}", node));
                    self.state.vars.insert(var, value);
                    self.effects.push(Effect::CancelTimers);
                    let next = self.flow.exit(&node, Some("valid")).map(String::from);
                    self.go(next);
                }
                Err(()) => self.retry_or_give_up(
                    &node,
                    q.max_attempts,
                    q.error_message.as_deref().unwrap_or(DEFAULT_RETRY),
                    q.timeout_secs,
                ),
            },
            NodeKind::Buttons { choice, buttons } => {
                let chosen = buttons
                    .iter()
                    .find(|b| m.reply_id.as_deref() == Some(b.id.as_str()))
                    .or_else(|| buttons.iter().find(|b| b.title.trim().eq_ignore_ascii_case(text.trim())))
                    .map(|b| (b.id.clone(), b.title.clone()));
                self.chosen(&node, choice, chosen);
            }
            NodeKind::List { choice, sections, .. } => {
                let rows: Vec<&ListRow> = sections.iter().flat_map(|s| s.rows.iter()).collect();
                let chosen = rows
                    .iter()
                    .find(|r| m.reply_id.as_deref() == Some(r.id.as_str()))
                    .or_else(|| rows.iter().find(|r| r.title.trim().eq_ignore_ascii_case(text.trim())))
                    .map(|r| (r.id.clone(), r.title.clone()));
                self.chosen(&node, choice, chosen);
            }
            _ => self.hand_off("the flow waited at a node that takes no answer"),
        }
    }

    fn chosen(&mut self, node: &str, choice: &Choice, chosen: Option<(String, String)>) {
        match chosen {
            Some((id, title)) => {
                if let Some(var) = &choice.variable {
                    self.state.vars.insert(var.clone(), Value::String(id.clone()));
                    self.state.vars.insert(format!("{var}_title"), Value::String(title));
                }
                self.effects.push(Effect::CancelTimers);
                let next = self.flow.exit(node, Some(&id)).map(String::from);
                if next.is_none() {
                    return self.finish();
                }
                self.go(next);
            }
            None => self.retry_or_give_up(
                node,
                choice.max_attempts,
                choice.error_message.as_deref().unwrap_or(DEFAULT_CHOICE_RETRY),
                choice.timeout_secs,
            ),
        }
    }

    /// A wrong answer: ask again, or after the last attempt take the `invalid` exit (or hand off).
    fn retry_or_give_up(&mut self, node: &str, max_attempts: u32, error: &str, timeout_secs: Option<i64>) {
        let attempts = self.state.attempts.entry(node.to_string()).or_insert(0);
        *attempts += 1;
        if *attempts >= max_attempts {
            self.effects.push(Effect::CancelTimers);
            match self.flow.exit(node, Some("invalid")) {
                Some(next) => {
                    let next = next.to_string();
                    self.go(Some(next));
                }
                None => self.hand_off("the customer did not give a valid answer"),
            }
        } else {
            self.send_text(node, error);
            self.wait_answer(node, timeout_secs);
        }
    }

    fn on_api(&mut self, node: String, outcome: ApiOutcome) {
        let Some(Waiting::Api { node: waiting, attempt }) = self.state.waiting.clone() else { return };
        if waiting != node {
            return;
        }
        let Some(NodeKind::ApiCall(api)) = self.flow.node(&node).map(|n| &n.kind) else {
            return self.hand_off("the flow's API step no longer exists");
        };
        match outcome {
            ApiOutcome::Ok { status, body } => {
                self.state.vars.insert(api.variable.clone(), json!({"status": status, "body": body.clone()}));
                for (var, pointer) in &api.mappings {
                    let p = if pointer.starts_with('/') {
                        pointer.clone()
                    } else {
                        format!("/{}", pointer.replace('.', "/"))
                    };
                    self.state.vars.insert(var.clone(), body.pointer(&p).cloned().unwrap_or(Value::Null));
                }
                let next = self.flow.exit(&node, Some("success")).map(String::from);
                self.go(next);
            }
            ApiOutcome::Err { error } => {
                if attempt < api.max_retries {
                    self.state.waiting = Some(Waiting::Api { node: node.clone(), attempt: attempt + 1 });
                    let token = self.next_token();
                    self.timer(&node, TimerKind::ApiRetry, api.retry_delay_secs as i64, token);
                    return;
                }
                self.state.vars.insert(api.variable.clone(), json!({"error": error}));
                match self.flow.exit(&node, Some("error")) {
                    Some(next) => {
                        let next = next.to_string();
                        self.go(Some(next));
                    }
                    None if api.on_error_stop => self.hand_off("an API call failed"),
                    None => {
                        let next = self.flow.exit(&node, Some("success")).map(String::from);
                        self.go(next);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, node: String, kind: TimerKind, token: u64) {
        if token != self.state.timer_token || !self.state.is_running() {
            return; // a stale timer: the flow moved on
        }
        match kind {
            TimerKind::Delay => {
                if self.state.waiting == Some(Waiting::Delay { node: node.clone() }) {
                    let next = self.flow.exit(&node, None).map(String::from);
                    self.go(next);
                }
            }
            TimerKind::ApiRetry => {
                if let (Some(Waiting::Api { node: w, .. }), Some(NodeKind::ApiCall(api))) =
                    (self.state.waiting.clone(), self.flow.node(&node).map(|n| &n.kind))
                    && w == node
                {
                    let request = self.request(api);
                    self.effects.push(Effect::CallApi { node: node.clone(), request, fire_and_forget: false });
                }
            }
            TimerKind::QuestionTimeout => {
                if self.state.waiting != Some(Waiting::Answer { node: node.clone() }) {
                    return;
                }
                if let Some(NodeKind::Question(Question { timeout_message: Some(m), .. })) =
                    self.flow.node(&node).map(|n| &n.kind)
                {
                    let m = m.clone();
                    self.send_text(&node, &m);
                }
                self.effects.push(Effect::CancelTimers);
                match self.flow.exit(&node, Some("timeout")) {
                    Some(next) => {
                        let next = next.to_string();
                        self.go(Some(next));
                    }
                    None => self.hand_off("the customer did not answer in time"),
                }
            }
            TimerKind::InactivityWarning => {
                if let Some(m) = self.env.settings.inactivity.as_ref().and_then(|i| i.warning_message.clone()) {
                    self.send_text(&node, &m);
                }
            }
            TimerKind::Inactivity => {
                let Some(ia) = self.env.settings.inactivity.clone() else { return };
                match ia.action.as_str() {
                    "close" => {
                        if let Some(m) = &ia.closing_message {
                            self.send_text(&node, m);
                        }
                        self.effects.push(Effect::CloseConversation);
                        self.finish();
                    }
                    "fallback_flow" if ia.fallback_flow_id.is_some() => {
                        self.effects.push(Effect::CancelTimers);
                        self.effects.push(Effect::JumpFlow {
                            flow_id: ia.fallback_flow_id.clone().unwrap_or_default(),
                            variables: self.state.vars.clone(),
                        });
                        self.state.status = RunStatus::Finished;
                        self.state.waiting = None;
                    }
                    _ => self.hand_off("the customer stopped answering"),
                }
            }
        }
    }
}

fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 { json!(x as i64) } else { json!(x) }
}

fn parse_hm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok().or_else(|| NaiveTime::parse_from_str(s.trim(), "%H:%M:%S").ok())
}

/// A strftime format made safe: an invalid specifier falls back to RFC 3339 instead of panicking.
fn format_time(t: DateTime<chrono_tz::Tz>, format: Option<&str>) -> String {
    use chrono::format::{Item, StrftimeItems};
    match format {
        Some(f) if !StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) => t.format(f).to_string(),
        _ => t.to_rfc3339(),
    }
}

fn parse_time(raw: &str, format: Option<&str>, tz: chrono_tz::Tz) -> Option<DateTime<chrono_tz::Tz>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&tz));
    }
    let date = match format {
        Some(f) => NaiveDate::parse_from_str(raw, f).ok(),
        None => None,
    }
    .or_else(|| parse_date(raw))?;
    tz.from_local_datetime(&date.and_hms_opt(0, 0, 0)?).earliest()
}

/// Dates as people type them: 2026-03-01, 01/03/2026, 01-03-2026, 01.03.2026 (day first).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    for f in ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y"] {
        if let Ok(d) = NaiveDate::parse_from_str(raw.trim(), f) {
            return Some(d);
        }
    }
    None
}

/// Validates a question's answer; Ok carries the value to store.
fn validate_answer(q: &Question, m: &UserMessage) -> Result<Value, ()> {
    let text = m.text.clone().unwrap_or_default();
    let t = text.trim();
    if t.is_empty() && m.reply_id.is_none() {
        return if q.required { Err(()) } else { Ok(Value::Null) };
    }
    match q.response {
        ResponseType::Text => Ok(Value::String(t.to_string())),
        ResponseType::Number => as_number(&Value::String(t.to_string())).map(number).ok_or(()),
        ResponseType::Email => {
            let ok = t
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
                && !t.contains(char::is_whitespace);
            if ok { Ok(Value::String(t.to_lowercase())) } else { Err(()) }
        }
        ResponseType::Phone => {
            let digits: String = t.chars().filter(char::is_ascii_digit).collect();
            let clean = t.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
            if clean && (8..=15).contains(&digits.len()) { Ok(Value::String(digits)) } else { Err(()) }
        }
        ResponseType::Date => parse_date(t).map(|d| Value::String(d.format("%Y-%m-%d").to_string())).ok_or(()),
        ResponseType::Options => {
            let by_reply = m.reply_id.as_deref().and_then(|r| q.options.iter().find(|(v, _)| v == r));
            let by_text = q.options.iter().find(|(v, l)| v.eq_ignore_ascii_case(t) || l.eq_ignore_ascii_case(t));
            let by_index = t.parse::<usize>().ok().and_then(|i| i.checked_sub(1)).and_then(|i| q.options.get(i));
            by_reply.or(by_text).or(by_index).map(|(v, _)| Value::String(v.clone())).ok_or(())
        }
        ResponseType::Regex => {
            let re = q.pattern.as_deref().and_then(compile).ok_or(())?;
            if re.is_match(t) { Ok(Value::String(t.to_string())) } else { Err(()) }
        }
    }
}

/// Seconds since midnight in the organization's time zone (for tests of business hours).
pub fn local_seconds(now: DateTime<Utc>, tz: chrono_tz::Tz) -> u32 {
    now.with_timezone(&tz).num_seconds_from_midnight()
}
