//! The flow engine through its public API: a table test per node type and branch, validation, and
//! property tests (any flow JSON and any input: no panic, the step guard holds).

use chrono::{TimeZone, Utc};
use pytake_actors::flow::engine::{HandoffTarget, Inactivity};
use pytake_actors::flow::*;
use serde_json::{Map, Value, json};

fn flow(nodes: Value, edges: Value) -> (Flow, FlowJson) {
    let json = FlowJson {
        nodes: nodes.as_array().cloned().unwrap_or_default(),
        edges: edges.as_array().cloned().unwrap_or_default(),
    };
    (Flow::from_json(&json), json)
}

/// Edges `a->b` or `a:handle->b` from a compact list.
fn edges(list: &[&str]) -> Value {
    Value::Array(
        list.iter()
            .enumerate()
            .map(|(i, spec)| {
                let (from, to) = spec.split_once("->").expect("a->b");
                let (source, handle) = match from.split_once(':') {
                    Some((s, h)) => (s, Some(h)),
                    None => (from, None),
                };
                let mut e = json!({"id": format!("e{i}"), "source": source, "target": to});
                if let Some(h) = handle {
                    e["sourceHandle"] = json!(h);
                }
                e
            })
            .collect(),
    )
}

fn node(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": data})
}

struct Harness {
    flow: Flow,
    settings: FlowSettings,
    state: FlowState,
    now: chrono::DateTime<Utc>,
    contact: Value,
    conversation: Value,
}

impl Harness {
    fn new(f: Flow) -> Self {
        Harness {
            flow: f,
            settings: FlowSettings::default(),
            state: FlowState::default(),
            now: Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).unwrap(), // a Monday, 10:00 in São Paulo
            contact: json!({"name": "Ana", "phone": "5511999990000", "wa_id": "5511999990000"}),
            conversation: json!({"id": "conv-1"}),
        }
    }

    fn run(&mut self, input: Input) -> Vec<Effect> {
        let env = Env {
            now: self.now,
            timezone: chrono_tz::America::Sao_Paulo,
            contact: &self.contact,
            conversation: &self.conversation,
            settings: &self.settings,
            max_steps: 50,
            max_visits: 10,
        };
        let out = step(&self.flow, std::mem::take(&mut self.state), input, &env);
        self.state = out.state;
        out.effects
    }

    fn start(&mut self) -> Vec<Effect> {
        self.run(Input::Start { variables: Map::new() })
    }

    fn say(&mut self, text: &str) -> Vec<Effect> {
        self.run(Input::Message(UserMessage { text: Some(text.into()), reply_id: None, message_type: "text".into() }))
    }

    fn tap(&mut self, id: &str, title: &str) -> Vec<Effect> {
        self.run(Input::Message(UserMessage {
            text: Some(title.into()),
            reply_id: Some(id.into()),
            message_type: "interactive".into(),
        }))
    }

    fn var(&self, name: &str) -> Value {
        self.state.vars.get(name).cloned().unwrap_or(Value::Null)
    }
}

fn texts(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { message: OutMessage::Text { body }, .. } => Some(body.clone()),
            _ => None,
        })
        .collect()
}

fn finished(effects: &[Effect]) -> bool {
    effects.contains(&Effect::Finished)
}

fn handoff(effects: &[Effect]) -> Option<(HandoffTarget, i32, Option<String>, String)> {
    effects.iter().find_map(|e| match e {
        Effect::Handoff { target, priority, note, reason } => {
            Some((target.clone(), *priority, note.clone(), reason.clone()))
        }
        _ => None,
    })
}

fn timers(effects: &[Effect]) -> Vec<(TimerKind, i64, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ScheduleTimer { kind, due_at, token, .. } => Some((*kind, due_at.timestamp(), *token)),
            _ => None,
        })
        .collect()
}

#[test]
fn messages_then_end_with_templating() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("m1", "message", json!({"content": "Hi {{contact.name}}!"})),
            node("m2", "message", json!({"messageText": "Conversation {{conversation.id}}, {{nick|friend}}"})),
            node("e", "end", json!({"farewellMessage": "Bye", "close": true}))
        ]),
        edges(&["s->m1", "m1->m2", "m2->e"]),
    );
    let mut h = Harness::new(f);
    let fx = h.start();
    assert_eq!(texts(&fx), ["Hi Ana!", "Conversation conv-1, friend", "Bye"]);
    assert!(fx.contains(&Effect::CloseConversation));
    assert!(finished(&fx));
    assert_eq!(h.state.status, RunStatus::Finished);
}

#[test]
fn a_media_message_sends_the_media_with_its_caption() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "m",
                "message",
                json!({"mediaType": "image", "mediaUrl": "https://cdn.example/{{file}}.png", "caption": "For {{contact.name}}"})
            )
        ]),
        edges(&["s->m"]),
    );
    let mut h = Harness::new(f);
    let fx = h.run(Input::Start { variables: json!({"file": "menu"}).as_object().cloned().unwrap() });
    assert!(
        fx.iter().any(
            |e| matches!(e, Effect::Send { message: OutMessage::Media { link: Some(l), caption: Some(c), .. }, .. }
        if l == "https://cdn.example/menu.png" && c == "For Ana")
        )
    );
}

#[test]
fn a_question_waits_validates_retries_and_saves() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "q",
                "question",
                json!({"questionText": "How old are you?", "responseType": "number", "outputVariable": "age",
                                           "validation": {"maxAttempts": 3, "errorMessage": "A number, please"}})
            ),
            node("m", "message", json!({"content": "You are {{age}}"}))
        ]),
        edges(&["s->q", "q->m"]),
    );
    let mut h = Harness::new(f);
    assert_eq!(texts(&h.start()), ["How old are you?"]);
    assert_eq!(h.state.status, RunStatus::Waiting);
    assert_eq!(texts(&h.say("old enough")), ["A number, please"]);
    assert_eq!(texts(&h.say("42,5")), ["You are 42.5"]);
    assert_eq!(h.var("age"), json!(42.5));
}

#[test]
fn every_answer_type_is_validated() {
    let cases: &[(&str, Value, &str, Option<Value>)] = &[
        ("email", json!({}), "Ana@Example.com", Some(json!("ana@example.com"))),
        ("email", json!({}), "not an email", None),
        ("phone", json!({}), "+55 (11) 99999-0000", Some(json!("5511999990000"))),
        ("phone", json!({}), "12ab", None),
        ("date", json!({}), "01/03/2026", Some(json!("2026-03-01"))),
        ("date", json!({}), "2026-02-30", None),
        (
            "options",
            json!({"options": [{"label": "Red", "value": "r"}, {"label": "Blue", "value": "b"}]}),
            "blue",
            Some(json!("b")),
        ),
        (
            "options",
            json!({"options": [{"label": "Red", "value": "r"}, {"label": "Blue", "value": "b"}]}),
            "1",
            Some(json!("r")),
        ),
        ("options", json!({"options": ["Yes", "No"]}), "maybe", None),
        ("regex", json!({"validation": {"pattern": "^[A-Z]{3}-\\d{4}$"}}), "ABC-1234", Some(json!("ABC-1234"))),
        ("regex", json!({"validation": {"pattern": "^[A-Z]{3}-\\d{4}$"}}), "abc", None),
        ("text", json!({}), "anything", Some(json!("anything"))),
    ];
    for (kind, extra, answer, want) in cases {
        let mut data = json!({"content": "?", "responseType": kind, "variableName": "v"});
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        let (f, _) = flow(
            json!([node("s", "start", json!({})), node("q", "question", data), node("e", "end", json!({}))]),
            edges(&["s->q", "q->e"]),
        );
        let mut h = Harness::new(f);
        h.start();
        let fx = h.say(answer);
        match want {
            Some(v) => {
                assert_eq!(&h.var("v"), v, "{kind} {answer}");
                assert!(finished(&fx), "{kind} {answer}");
            }
            None => assert_eq!(h.state.status, RunStatus::Waiting, "{kind} {answer} must be refused"),
        }
    }
}

#[test]
fn after_the_last_attempt_the_invalid_exit_is_taken_or_the_bot_hands_off() {
    let q =
        node("q", "question", json!({"content": "Email?", "responseType": "email", "validation": {"maxAttempts": 2}}));
    let (with_exit, _) = flow(
        json!([
            node("s", "start", json!({})),
            q.clone(),
            node("ok", "end", json!({})),
            node("bad", "message", json!({"content": "Never mind"}))
        ]),
        edges(&["s->q", "q:valid->ok", "q:invalid->bad"]),
    );
    let mut h = Harness::new(with_exit);
    h.start();
    h.say("x");
    assert_eq!(texts(&h.say("y")), ["Never mind"]);
    let (without, _) =
        flow(json!([node("s", "start", json!({})), q, node("ok", "end", json!({}))]), edges(&["s->q", "q->ok"]));
    let mut h = Harness::new(without);
    h.start();
    h.say("x");
    let fx = h.say("y");
    assert!(handoff(&fx).unwrap().3.contains("valid answer"));
    assert_eq!(h.state.status, RunStatus::HandedOff);
}

#[test]
fn a_question_timeout_takes_its_exit_and_stale_timers_are_ignored() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("q", "question", json!({"content": "Name?", "timeoutSeconds": 300, "timeoutMessage": "Still there?"})),
            node("ok", "end", json!({})),
            node("late", "message", json!({"content": "Let's talk later"}))
        ]),
        edges(&["s->q", "q:valid->ok", "q:timeout->late"]),
    );
    let mut h = Harness::new(f);
    let fx = h.start();
    let t = timers(&fx);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].0, TimerKind::QuestionTimeout);
    assert_eq!(t[0].1, h.now.timestamp() + 300);
    let stale = h.run(Input::Timer { node: "q".into(), kind: TimerKind::QuestionTimeout, token: t[0].2 - 1 });
    assert!(stale.is_empty());
    let fx = h.run(Input::Timer { node: "q".into(), kind: TimerKind::QuestionTimeout, token: t[0].2 });
    assert_eq!(texts(&fx), ["Still there?", "Let's talk later"]);
}

#[test]
fn buttons_wait_and_branch_on_the_chosen_id_or_a_typed_title() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "b",
                "interactive_buttons",
                json!({"bodyText": "Interested, {{contact.name}}?", "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}], "variableName": "choice"})
            ),
            node("y", "message", json!({"content": "Great"})),
            node("n", "message", json!({"content": "OK"}))
        ]),
        edges(&["s->b", "b:yes->y", "b:no->n"]),
    );
    let mut h = Harness::new(f.clone());
    let fx = h.start();
    assert!(fx.iter().any(|e| matches!(e, Effect::Send { message: OutMessage::Buttons { body, buttons, .. }, .. }
        if body == "Interested, Ana?" && buttons.len() == 2)));
    assert_eq!(h.state.status, RunStatus::Waiting, "buttons wait for the reply");
    assert_eq!(texts(&h.tap("no", "No")), ["OK"]);
    assert_eq!(h.var("choice"), json!("no"));
    let mut h = Harness::new(f.clone());
    h.start();
    assert_eq!(texts(&h.say("  yes ")), ["Great"], "a typed title counts");
    let mut h = Harness::new(f);
    h.start();
    assert_eq!(texts(&h.say("what?")), ["Please choose one of the options."]);
    assert_eq!(h.state.status, RunStatus::Waiting);
}

#[test]
fn lists_branch_on_the_chosen_row() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "l",
                "interactive_list",
                json!({"bodyText": "Pick", "buttonText": "Menu", "sections": [
                   {"title": "Shipping", "rows": [{"id": "express", "title": "Express"}, {"id": "normal", "title": "Normal"}]}]})
            ),
            node("x", "message", json!({"content": "Fast!"})),
            node("y", "message", json!({"content": "Slow"}))
        ]),
        edges(&["s->l", "l:express->x", "l:normal->y"]),
    );
    let mut h = Harness::new(f);
    let fx = h.start();
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send { message: OutMessage::List { button, .. }, .. } if button == "Menu"))
    );
    assert_eq!(texts(&h.tap("normal", "Normal")), ["Slow"]);
}

#[test]
fn conditions_pick_the_first_true_branch_or_the_default() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "c",
                "condition",
                json!({"branches": [
                   {"id": "vip", "conditions": [{"variable": "score", "operator": ">=", "value": 80}]},
                   {"id": "warm", "logic": "OR", "conditions": [{"variable": "score", "operator": ">", "value": 50}, {"variable": "city", "operator": "in", "value": ["recife"]}]}]})
            ),
            node("v", "message", json!({"content": "vip"})),
            node("w", "message", json!({"content": "warm"})),
            node("d", "message", json!({"content": "cold"}))
        ]),
        edges(&["s->c", "c:vip->v", "c:warm->w", "c:default->d"]),
    );
    for (vars, want) in [
        (json!({"score": 90}), "vip"),
        (json!({"score": "60"}), "warm"),
        (json!({"score": 1, "city": "Recife"}), "warm"),
        (json!({"score": 1}), "cold"),
    ] {
        let mut h = Harness::new(f.clone());
        let fx = h.run(Input::Start { variables: vars.as_object().cloned().unwrap() });
        assert_eq!(texts(&fx), [want], "{vars}");
    }
    // The original's boolean conditions branch by edge label.
    let (legacy, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "c",
                "condition",
                json!({"conditions": [{"variable": "ok", "operator": "==", "value": "yes"}], "logicOperator": "AND"})
            ),
            node("t", "message", json!({"content": "T"})),
            node("f", "message", json!({"content": "F"}))
        ]),
        json!([{"id": "a", "source": "s", "target": "c"}, {"id": "b", "source": "c", "target": "t", "label": "Sim"}, {"id": "c", "source": "c", "target": "f", "label": "não"}]),
    );
    let mut h = Harness::new(legacy.clone());
    assert_eq!(texts(&h.run(Input::Start { variables: json!({"ok": "yes"}).as_object().cloned().unwrap() })), ["T"]);
    let mut h = Harness::new(legacy);
    assert_eq!(texts(&h.run(Input::Start { variables: json!({"ok": "no"}).as_object().cloned().unwrap() })), ["F"]);
}

#[test]
fn set_variable_supports_static_variable_expression_append_and_increment() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "v",
                "set_variable",
                json!({"variables": [
            {"name": "greeting", "valueType": "expression", "expression": "Hello {{contact.name}}"},
            {"name": "copy", "valueType": "variable", "variableSource": "greeting"},
            {"name": "n", "value": 1, "operation": "increment"},
            {"name": "n", "value": 2, "operation": "increment"},
            {"name": "list", "value": "a", "operation": "append"},
            {"name": "list", "value": "b", "operation": "append"},
            {"name": "fixed", "value": {"k": [1, 2]}}]})
            ),
            node("e", "end", json!({}))
        ]),
        edges(&["s->v", "v->e"]),
    );
    let mut h = Harness::new(f);
    h.start();
    assert_eq!(h.var("greeting"), json!("Hello Ana"));
    assert_eq!(h.var("copy"), json!("Hello Ana"));
    assert_eq!(h.var("n"), json!(3));
    assert_eq!(h.var("list"), json!(["a", "b"]));
    assert_eq!(h.var("fixed"), json!({"k": [1, 2]}));
}

#[test]
fn random_paths_follow_weights_deterministically() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "r",
                "random",
                json!({"paths": [{"id": "a", "weight": 1}, {"id": "b", "weight": 0}], "saveToVariable": "arm"})
            ),
            node("a", "message", json!({"content": "A"})),
            node("b", "message", json!({"content": "B"}))
        ]),
        edges(&["s->r", "r:a->a", "r:b->b"]),
    );
    for _ in 0..20 {
        let mut h = Harness::new(f.clone());
        assert_eq!(texts(&h.start()), ["A"], "a zero weight is never chosen");
        assert_eq!(h.var("arm"), json!("a"));
    }
    let (even, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("r", "random", json!({"paths": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1}]})),
            node("a", "message", json!({"content": "A"})),
            node("b", "message", json!({"content": "B"}))
        ]),
        edges(&["s->r", "r:a->a", "r:b->b"]),
    );
    let mut seen = std::collections::HashSet::new();
    for i in 0..50 {
        let mut h = Harness::new(even.clone());
        h.state.rng = i;
        let first = texts(&h.start());
        let mut again = Harness::new(even.clone());
        again.state.rng = i;
        assert_eq!(texts(&again.start()), first, "the same state gives the same choice");
        seen.insert(first[0].clone());
    }
    assert_eq!(seen.len(), 2, "both paths get chosen");
}

#[test]
fn api_calls_wait_for_their_result_and_branch_on_success_or_error() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "a",
                "api_call",
                json!({"method": "post", "url": "https://api.example/leads/{{id}}", "headers": {"X-Key": "k-{{id}}"},
                   "queryParams": [{"key": "q", "value": "{{contact.phone}}"}], "body": {"name": "{{contact.name}}", "n": "{{id}}"},
                   "responseVariable": "api", "mappings": [{"variable": "score", "pointer": "/data/score"}],
                   "errorHandling": {"maxRetries": 1, "retryDelay": 5}})
            ),
            node("ok", "message", json!({"content": "Score {{score}} ({{api.status}})"})),
            node("ko", "message", json!({"content": "Failed: {{api.error}}"}))
        ]),
        edges(&["s->a", "a:success->ok", "a:error->ko"]),
    );
    let mut h = Harness::new(f.clone());
    let fx = h.run(Input::Start { variables: json!({"id": 7}).as_object().cloned().unwrap() });
    let request = fx.iter().find_map(|e| match e {
        Effect::CallApi { request, fire_and_forget: false, .. } => Some(request.clone()),
        _ => None,
    });
    let request = request.expect("an API call");
    assert_eq!((request.method.as_str(), request.url.as_str()), ("POST", "https://api.example/leads/7"));
    assert_eq!(request.headers, [("X-Key".to_string(), "k-7".to_string())]);
    assert_eq!(request.query, [("q".to_string(), "5511999990000".to_string())]);
    assert_eq!(request.body, Some(json!({"name": "Ana", "n": 7})));
    assert_eq!(request.timeout_secs, 10);
    assert_eq!(h.state.status, RunStatus::Waiting);
    // A message while the API runs does not move the flow.
    assert!(texts(&h.say("hello?")).is_empty());
    let fx = h.run(Input::ApiResult {
        node: "a".into(),
        outcome: ApiOutcome::Ok { status: 200, body: json!({"data": {"score": 88}}) },
    });
    assert_eq!(texts(&fx), ["Score 88 (200)"]);

    let mut h = Harness::new(f);
    h.start();
    let fx = h.run(Input::ApiResult { node: "a".into(), outcome: ApiOutcome::Err { error: "timeout".into() } });
    let t = timers(&fx);
    assert_eq!((t[0].0, t[0].1), (TimerKind::ApiRetry, h.now.timestamp() + 5), "one retry, 5 s later");
    let fx = h.run(Input::Timer { node: "a".into(), kind: TimerKind::ApiRetry, token: t[0].2 });
    assert!(fx.iter().any(|e| matches!(e, Effect::CallApi { .. })));
    let fx = h.run(Input::ApiResult { node: "a".into(), outcome: ApiOutcome::Err { error: "HTTP 500".into() } });
    assert_eq!(texts(&fx), ["Failed: HTTP 500"]);
}

#[test]
fn handoff_sends_its_message_and_stops_the_bot() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "h",
                "handoff",
                json!({"handoffType": "queue", "queueId": "q-1", "priority": "urgent", "transferMessage": "An agent will help you, {{contact.name}}", "contextMessage": "Lead score {{score}}"})
            )
        ]),
        edges(&["s->h"]),
    );
    let mut h = Harness::new(f);
    let fx = h.run(Input::Start { variables: json!({"score": 90}).as_object().cloned().unwrap() });
    assert_eq!(texts(&fx), ["An agent will help you, Ana"]);
    let (target, priority, note, _) = handoff(&fx).unwrap();
    assert_eq!((target.kind.as_str(), target.queue_id.as_deref()), ("queue", Some("q-1")));
    assert_eq!(priority, 100);
    assert_eq!(note.as_deref(), Some("Lead score 90"));
    assert_eq!(h.state.status, RunStatus::HandedOff);
    assert!(!h.state.is_running());
}

#[test]
fn jumps_go_to_a_node_or_to_another_flow_with_variables() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("j", "jump", json!({"jumpType": "node", "targetNodeId": "m"})),
            node("m", "message", json!({"content": "landed"}))
        ]),
        edges(&["s->j"]),
    );
    assert_eq!(texts(&Harness::new(f).start()), ["landed"]);
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "j",
                "jump",
                json!({"jumpType": "flow", "targetFlowId": "flow-2", "variableMapping": {"lead": "{{name}}"}})
            )
        ]),
        edges(&["s->j"]),
    );
    let mut h = Harness::new(f);
    let fx = h.run(Input::Start { variables: json!({"name": "Zé"}).as_object().cloned().unwrap() });
    assert!(fx.contains(&Effect::JumpFlow {
        flow_id: "flow-2".into(),
        variables: json!({"lead": "Zé"}).as_object().cloned().unwrap()
    }));
}

#[test]
fn a_delay_is_a_timer_not_a_sleep() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("d", "delay", json!({"delaySeconds": 90, "delayMessage": "One moment..."})),
            node("m", "message", json!({"content": "Done"}))
        ]),
        edges(&["s->d", "d->m"]),
    );
    let mut h = Harness::new(f);
    let fx = h.start();
    assert_eq!(texts(&fx), ["One moment..."]);
    let t = timers(&fx);
    assert_eq!((t[0].0, t[0].1), (TimerKind::Delay, h.now.timestamp() + 90));
    assert_eq!(texts(&h.run(Input::Timer { node: "d".into(), kind: TimerKind::Delay, token: t[0].2 })), ["Done"]);
}

#[test]
fn templates_render_their_parameters() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "t",
                "whatsapp_template",
                json!({"templateName": "order_update", "languageCode": "en_US", "parameters": ["{{order}}", "{{contact.name}}"]})
            )
        ]),
        edges(&["s->t"]),
    );
    let mut h = Harness::new(f);
    let fx = h.run(Input::Start { variables: json!({"order": "#42"}).as_object().cloned().unwrap() });
    let expected =
        json!([{"type": "body", "parameters": [{"type": "text", "text": "#42"}, {"type": "text", "text": "Ana"}]}]);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send { message: OutMessage::Template { name, language, components }, .. }
        if name == "order_update" && language == "en_US" && *components == expected))
    );
}

#[test]
fn actions_call_webhooks_save_the_contact_and_update_variables() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "a",
                "action",
                json!({"actions": [
            {"type": "webhook", "config": {"url": "https://hooks.example/{{id}}", "method": "post", "body": {"who": "{{contact.name}}"}}},
            {"type": "save_contact", "config": {"fields": {"email": "email", "company": "{{company}}"}}},
            {"type": "update_variable", "config": {"variableName": "visits", "value": 1, "operation": "increment"}}]})
            ),
            node("e", "end", json!({}))
        ]),
        edges(&["s->a", "a->e"]),
    );
    let mut h = Harness::new(f);
    let fx = h.run(Input::Start {
        variables: json!({"id": "x", "email": "a@b.co", "company": "ACME"}).as_object().cloned().unwrap(),
    });
    assert!(fx.iter().any(|e| matches!(e, Effect::CallApi { fire_and_forget: true, request, .. } if request.url == "https://hooks.example/x")));
    assert!(fx.contains(&Effect::UpdateContact {
        fields: json!({"email": "a@b.co", "company": "ACME"}).as_object().cloned().unwrap()
    }));
    assert_eq!(h.var("visits"), json!(1));
    assert!(finished(&fx));
}

#[test]
fn datetime_formats_adds_compares_and_knows_business_hours() {
    let mk = |data: Value| {
        flow(
            json!([
                node("s", "start", json!({})),
                node("d", "datetime", data),
                node("t", "message", json!({"content": "T {{out}}"})),
                node("f", "message", json!({"content": "F {{out}}"}))
            ]),
            edges(&["s->d", "d->t", "d:true->t", "d:false->f"]),
        )
        .0
    };
    let mut h =
        Harness::new(mk(json!({"operation": "get_current", "format": "%Y-%m-%d %H:%M", "outputVariable": "out"})));
    assert_eq!(texts(&h.start()), ["T 2026-03-02 10:00"], "in the organization's time zone");
    let mut h = Harness::new(mk(
        json!({"operation": "add", "addAmount": 2, "addUnit": "days", "format": "%d/%m", "outputVariable": "out"}),
    ));
    assert_eq!(texts(&h.start()), ["T 04/03"]);
    let mut h = Harness::new(mk(json!({"operation": "get_current", "format": "%Q bad", "outputVariable": "out"})));
    assert!(
        texts(&h.start())[0].starts_with("T 2026-03-02T10:00:00"),
        "an invalid format falls back instead of panicking"
    );
    let mut h = Harness::new(mk(
        json!({"operation": "business_hours", "days": [1, 2, 3, 4, 5], "startTime": "09:00", "endTime": "18:00", "outputVariable": "out"}),
    ));
    assert_eq!(texts(&h.start()), ["T true"]);
    let mut h = Harness::new(mk(json!({"operation": "business_hours", "days": [6, 7], "outputVariable": "out"})));
    assert_eq!(texts(&h.start()), ["F false"]);
    let mut h = Harness::new(mk(
        json!({"operation": "compare", "sourceVariable": "due", "compareWith": "now", "compareOperator": "<", "outputVariable": "out"}),
    ));
    assert_eq!(
        texts(&h.run(Input::Start { variables: json!({"due": "2026-01-01"}).as_object().cloned().unwrap() })),
        ["T true"]
    );
}

#[test]
fn analytics_records_events_tags_and_counters() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node(
                "a",
                "analytics",
                json!({"eventName": "lead_qualified", "eventProperties": {"source": "{{src}}"}, "tags": ["lead", "{{src}}"], "incrementCounter": "qualified"})
            ),
            node("e", "end", json!({}))
        ]),
        edges(&["s->a", "a->e"]),
    );
    let mut h = Harness::new(f);
    let fx = h.run(Input::Start { variables: json!({"src": "ads"}).as_object().cloned().unwrap() });
    assert!(fx.iter().any(|e| matches!(e, Effect::Analytics { event, properties, .. } if event == "lead_qualified" && properties["source"] == "ads" && properties["counter"] == "qualified")));
    assert!(fx.contains(&Effect::Tag { tag: "lead".into() }) && fx.contains(&Effect::Tag { tag: "ads".into() }));
    assert_eq!(h.var("_counters"), json!({"qualified": 1}));
}

#[test]
fn loops_are_handed_off_instead_of_spinning() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("a", "message", json!({"content": "again"})),
            node("j", "jump", json!({"targetNodeId": "a"}))
        ]),
        edges(&["s->a", "a->j"]),
    );
    let mut h = Harness::new(f);
    let fx = h.start();
    assert!(texts(&fx).len() <= 10);
    assert!(handoff(&fx).unwrap().3.contains("loop"));
}

#[test]
fn nodes_this_server_cannot_run_hand_off_with_a_reason() {
    let (f, json) = flow(
        json!([node("s", "start", json!({})), node("ai", "ai_prompt", json!({"prompt": "x"}))]),
        edges(&["s->ai"]),
    );
    let fx = Harness::new(f.clone()).start();
    assert!(handoff(&fx).unwrap().3.contains("ai_prompt"));
    let report = validate(&json, &f);
    assert!(
        report.errors.iter().any(|e| e.node_id == "ai" && e.field == "type" && e.message.contains("not supported"))
    );
}

#[test]
fn inactivity_warns_then_acts() {
    let (f, _) = flow(
        json!([
            node("s", "start", json!({})),
            node("q", "question", json!({"content": "?"})),
            node("e", "end", json!({}))
        ]),
        edges(&["s->q", "q->e"]),
    );
    let mut h = Harness::new(f);
    h.settings.inactivity = Some(Inactivity {
        enabled: true,
        timeout_minutes: 30,
        warning_at_minutes: Some(20),
        warning_message: Some("Are you there, {{contact.name}}?".into()),
        action: "transfer".into(),
        fallback_flow_id: None,
        closing_message: None,
    });
    let fx = h.start();
    let t = timers(&fx);
    assert_eq!(
        t.iter().map(|x| (x.0, x.1 - h.now.timestamp())).collect::<Vec<_>>(),
        [(TimerKind::InactivityWarning, 1200), (TimerKind::Inactivity, 1800)]
    );
    let token = t[0].2;
    assert_eq!(
        texts(&h.run(Input::Timer { node: "q".into(), kind: TimerKind::InactivityWarning, token })),
        ["Are you there, Ana?"]
    );
    let fx = h.run(Input::Timer { node: "q".into(), kind: TimerKind::Inactivity, token });
    assert!(handoff(&fx).is_some());
}

#[test]
fn validation_names_the_node_and_field() {
    let (f, json) = flow(
        json!([
            node("s", "start", json!({})),
            node("s2", "start", json!({})),
            node("q", "question", json!({"content": "?", "variableName": "1bad"})),
            node(
                "b",
                "interactive_buttons",
                json!({"bodyText": "x", "buttons": [{"id": "a", "title": "This title is far too long for WhatsApp"}]})
            ),
            node("orphan", "message", json!({"content": "nobody comes here"})),
            node("h", "handoff", json!({"handoffType": "queue", "queueId": "q-9"})),
            node("j", "jump", json!({"jumpType": "flow", "targetFlowId": "f-9"})),
            node("m", "message", json!({}))
        ]),
        json!([{"id": "e1", "source": "s", "target": "q"}, {"id": "e2", "source": "q", "target": "b"}, {"id": "e3", "source": "b", "target": "h", "sourceHandle": "zzz"},
               {"id": "e4", "source": "q", "target": "nowhere"}, {"id": "e5", "source": "b", "target": "j", "sourceHandle": "a"}, {"id": "e6", "source": "j", "target": "m"}]),
    );
    let report = validate(&json, &f);
    let has = |node: &str, field: &str| report.errors.iter().any(|e| e.node_id == node && e.field == field);
    assert!(has("s2", "type"), "two starts");
    assert!(has("q", "variableName"));
    assert!(has("b", "buttons[0].title"));
    assert!(has("b", "edges"), "a handle the node does not have");
    assert!(has("e4", "target"), "a dangling edge");
    assert!(has("orphan", "id"), "unreachable");
    assert!(has("m", "content"), "an empty message");
    let refs: Vec<_> = report.references.iter().map(|(n, f, _)| (n.as_str(), f.as_str())).collect();
    assert!(refs.contains(&("h", "queueId")) && refs.contains(&("j", "targetFlowId")));
    // A good flow has no errors.
    let (ok, ok_json) =
        flow(json!([node("s", "start", json!({})), node("m", "message", json!({"content": "hi"}))]), edges(&["s->m"]));
    assert!(validate(&ok_json, &ok).errors.is_empty());
}

#[test]
fn the_ai_builder_shape_and_legacy_names_are_read() {
    let (f, json) = flow(
        json!([{"id": "1", "type": "default", "data": {"nodeType": "start"}},
               {"id": "2", "type": "default", "data": {"nodeType": "message", "messageText": "legacy text"}},
               {"id": "3", "type": "question", "data": {"questionText": "Q?", "outputVariable": "ans"}}]),
        edges(&["1->2", "2->3"]),
    );
    assert!(validate(&json, &f).errors.iter().all(|e| e.node_id != "2"));
    let mut h = Harness::new(f);
    assert_eq!(texts(&h.start()), ["legacy text", "Q?"]);
    h.say("yes");
    assert_eq!(h.var("ans"), json!("yes"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const TYPES: [&str; 22] = [
        "start",
        "message",
        "end",
        "question",
        "interactive_buttons",
        "interactive_list",
        "condition",
        "set_variable",
        "random",
        "api_call",
        "handoff",
        "jump",
        "delay",
        "whatsapp_template",
        "action",
        "datetime",
        "analytics",
        "ai_prompt",
        "default",
        "weird",
        "text",
        "",
    ];

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z{}|. 0-9]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-zA-Z]{1,14}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn any_flow() -> impl Strategy<Value = FlowJson> {
        let node = (0..6usize, prop::sample::select(TYPES.to_vec()), any_json());
        let edge = (0..6usize, 0..6usize, prop::option::of("[a-z]{1,4}"));
        (prop::collection::vec(node, 0..8), prop::collection::vec(edge, 0..12)).prop_map(|(nodes, edges)| FlowJson {
            nodes: nodes.into_iter().map(|(id, t, data)| json!({"id": id.to_string(), "type": t, "data": data})).collect(),
            edges: edges
                .into_iter()
                .enumerate()
                .map(|(i, (s, t, h))| json!({"id": format!("e{i}"), "source": s.to_string(), "target": t.to_string(), "sourceHandle": h}))
                .collect(),
        })
    }

    fn any_input() -> impl Strategy<Value = Input> {
        prop_oneof![
            Just(Input::Start { variables: Map::new() }),
            (prop::option::of(".{0,20}"), prop::option::of("[a-z0-9_]{1,6}")).prop_map(|(text, reply_id)| {
                Input::Message(UserMessage { text, reply_id, message_type: "text".into() })
            }),
            ("[0-6]", any::<bool>()).prop_map(|(node, ok)| Input::ApiResult {
                node,
                outcome: if ok {
                    ApiOutcome::Ok { status: 200, body: json!({"a": 1}) }
                } else {
                    ApiOutcome::Err { error: "x".into() }
                },
            }),
            (
                "[0-6]",
                0..4u64,
                prop::sample::select(vec![
                    TimerKind::Delay,
                    TimerKind::QuestionTimeout,
                    TimerKind::ApiRetry,
                    TimerKind::Inactivity
                ])
            )
                .prop_map(|(node, token, kind)| Input::Timer { node, kind, token }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn any_flow_and_any_input_never_panics_and_the_guard_holds(json in any_flow(), inputs in prop::collection::vec(any_input(), 1..6)) {
            let f = Flow::from_json(&json);
            let _ = validate(&json, &f);
            let mut h = Harness::new(f);
            h.settings.inactivity = Some(Inactivity { enabled: true, ..Default::default() });
            for input in inputs {
                let fx = h.run(input);
                let sends = fx.iter().filter(|e| matches!(e, Effect::Send { .. } | Effect::CallApi { .. })).count();
                prop_assert!(sends <= 50 * 2, "the step guard bounds the work of one input");
            }
        }
    }
}
