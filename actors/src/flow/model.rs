//! The flow model: React-Flow JSON (`nodes[{id,type,position,data}]`, `edges[{id,source,target,
//! sourceHandle?,label?}]`) read into typed nodes. The original builder's legacy field names are
//! accepted (`messageText`/`content`, `outputVariable`/`variableName`, `questionText`, ...), as is
//! the AI generator's `type: "default"` with the real type in `data.nodeType`. Reading never fails:
//! a node that cannot be understood becomes `Unknown` and validation reports it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FlowJson {
    #[serde(default)]
    pub nodes: Vec<Value>,
    #[serde(default)]
    pub edges: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    pub handle: Option<String>,
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: String,
    /// The type as written (after `default` + `data.nodeType` resolution).
    pub type_name: String,
    pub kind: NodeKind,
    pub data: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Button {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// image, video, audio, document, sticker
    pub media_type: String,
    pub link: Option<String>,
    pub id: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    Text,
    Number,
    Email,
    Phone,
    Date,
    Options,
    Regex,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    pub text: String,
    pub response: ResponseType,
    /// (value, label)
    pub options: Vec<(String, String)>,
    pub pattern: Option<String>,
    pub required: bool,
    pub max_attempts: u32,
    pub error_message: Option<String>,
    pub variable: Option<String>,
    pub timeout_secs: Option<i64>,
    pub timeout_message: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub body: String,
    pub header: Option<String>,
    pub footer: Option<String>,
    pub max_attempts: u32,
    pub error_message: Option<String>,
    pub variable: Option<String>,
    pub timeout_secs: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub variable: String,
    pub operator: String,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    /// The output handle this branch leaves by.
    pub id: String,
    pub any: bool,
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub name: String,
    /// static, variable, expression
    pub value_type: String,
    pub value: Value,
    /// set, append, increment
    pub operation: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RandomPath {
    pub id: String,
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiCall {
    pub method: String,
    pub url: String,
    /// (name, templated value)
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub timeout_secs: u64,
    pub variable: String,
    /// (variable, JSON pointer into the response body)
    pub mappings: Vec<(String, String)>,
    pub max_retries: u32,
    pub retry_delay_secs: u64,
    /// Legacy `errorHandling.onError`: `stop` hands off when there is no error exit.
    pub on_error_stop: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Handoff {
    /// queue, department, agent, or none (the general pool)
    pub target: String,
    pub queue_id: Option<String>,
    pub department_id: Option<String>,
    pub agent_id: Option<String>,
    pub priority: i32,
    pub message: Option<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Jump {
    /// node or flow
    pub target: String,
    pub node_id: Option<String>,
    pub flow_id: Option<String>,
    /// (variable in the target flow, templated value) passed along
    pub variables: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// Body parameters (templated), positional unless named.
    pub parameters: Vec<(Option<String>, String)>,
    /// Raw components when given as Meta's shape (templated strings inside).
    pub components: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// webhook, save_contact, update_variable
    pub action_type: String,
    pub config: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DateTimeOp {
    /// get_current, format, add, compare, parse, business_hours
    pub operation: String,
    pub timezone: Option<String>,
    pub format: Option<String>,
    pub input_format: Option<String>,
    pub add_amount: i64,
    pub add_unit: String,
    pub source: Option<String>,
    pub compare_with: Option<String>,
    pub compare_operator: String,
    pub variable: Option<String>,
    /// business_hours: weekdays 1-7 (Monday = 1) and "HH:MM" bounds
    pub days: Vec<u32>,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Analytics {
    pub event: String,
    pub value: Option<String>,
    pub properties: Value,
    pub tags: Vec<String>,
    pub counter: Option<String>,
    pub variable: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Start,
    Message {
        text: Option<String>,
        media: Option<Media>,
    },
    End {
        text: Option<String>,
        close: bool,
    },
    Question(Question),
    Buttons {
        choice: Choice,
        buttons: Vec<Button>,
    },
    List {
        choice: Choice,
        button_text: String,
        sections: Vec<ListSection>,
    },
    Condition {
        branches: Vec<Branch>,
    },
    SetVariable(Vec<Assignment>),
    Random {
        paths: Vec<RandomPath>,
        variable: Option<String>,
    },
    ApiCall(ApiCall),
    Handoff(Handoff),
    Jump(Jump),
    Delay {
        seconds: i64,
        message: Option<String>,
    },
    Template(Template),
    Action(Vec<Action>),
    DateTime(DateTimeOp),
    Analytics(Analytics),
    /// ai_prompt, script, database_query: imported, refused at publish.
    Unsupported,
    Unknown,
}

impl Node {
    /// The exits this node's kind offers (handles), besides the default.
    pub fn handles(&self) -> Vec<String> {
        match &self.kind {
            NodeKind::Question(q) => {
                let mut h = vec!["valid".to_string(), "invalid".to_string()];
                if q.timeout_secs.is_some() {
                    h.push("timeout".into());
                }
                h
            }
            NodeKind::Buttons { buttons, choice } => {
                let mut h: Vec<String> = buttons.iter().map(|b| b.id.clone()).collect();
                h.push("invalid".into());
                if choice.timeout_secs.is_some() {
                    h.push("timeout".into());
                }
                h
            }
            NodeKind::List { sections, choice, .. } => {
                let mut h: Vec<String> = sections.iter().flat_map(|s| s.rows.iter().map(|r| r.id.clone())).collect();
                h.push("invalid".into());
                if choice.timeout_secs.is_some() {
                    h.push("timeout".into());
                }
                h
            }
            NodeKind::Condition { branches } => {
                let mut h: Vec<String> = branches.iter().map(|b| b.id.clone()).collect();
                h.push("default".into());
                h
            }
            NodeKind::Random { paths, .. } => paths.iter().map(|p| p.id.clone()).collect(),
            NodeKind::ApiCall(_) => vec!["success".into(), "error".into()],
            NodeKind::DateTime(d) if d.operation == "compare" || d.operation == "business_hours" => {
                vec!["true".into(), "false".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// A flow ready to run: its nodes and edges, with lookups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Flow {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Flow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn start(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.kind == NodeKind::Start)
    }

    pub fn edges_from<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.source == id)
    }

    /// The target of `node`'s exit `handle` (or its default exit when `handle` is None). An edge
    /// matches by `sourceHandle`, or, as the original builder drew them, by `label`.
    pub fn exit(&self, node: &str, handle: Option<&str>) -> Option<&str> {
        let from = |e: &&Edge| e.source == node;
        let plain = |e: &&Edge| {
            e.handle.as_deref().is_none_or(|h| matches!(h, "" | "default" | "next" | "out" | "output" | "source"))
        };
        let Some(h) = handle else {
            return self
                .edges
                .iter()
                .filter(from)
                .find(plain)
                .or_else(|| self.edges.iter().find(from))
                .map(|e| e.target.as_str());
        };
        let h_low = h.to_lowercase();
        let aliases: &[&str] = match h_low.as_str() {
            "true" => &["true", "yes", "sim"],
            "false" | "default" => &["false", "no", "não", "nao", "default", "else"],
            _ => &[],
        };
        let matches = |e: &&Edge| {
            e.handle
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(h) || aliases.contains(&x.to_lowercase().as_str()))
                || e.label.as_deref().is_some_and(|l| {
                    let l = l.trim().to_lowercase();
                    l == h_low || aliases.contains(&l.as_str())
                })
        };
        let found = self.edges.iter().filter(from).find(matches).map(|e| e.target.as_str());
        // The "main" exits fall back to an unlabelled edge.
        found.or_else(|| {
            if matches!(h_low.as_str(), "valid" | "success" | "default" | "true") {
                self.edges
                    .iter()
                    .filter(from)
                    .find(|e| e.handle.as_deref().is_none_or(str::is_empty) && e.label.is_none())
                    .map(|e| e.target.as_str())
            } else {
                None
            }
        })
    }
}

fn s(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k) {
        Some(Value::String(x)) if !x.is_empty() => Some(x.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn obj_text(v: &Value, keys: &[&str]) -> Option<String> {
    // `content` may be {"text": ...} in older exports.
    s(v, keys).or_else(|| keys.iter().find_map(|k| v.get(*k).and_then(|c| s(c, &["text", "body"]))))
}

fn b(v: &Value, keys: &[&str], default: bool) -> bool {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_bool)).unwrap_or(default)
}

fn n(v: &Value, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| match v.get(*k) {
        Some(Value::Number(x)) => x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)),
        Some(Value::String(x)) => x.trim().parse().ok(),
        _ => None,
    })
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(m)) => {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect()
        }
        Some(Value::Array(a)) => {
            a.iter().filter_map(|e| Some((s(e, &["key", "name"])?, s(e, &["value"]).unwrap_or_default()))).collect()
        }
        _ => Vec::new(),
    }
}

fn secs(data: &Value, sec_keys: &[&str], min_keys: &[&str]) -> Option<i64> {
    n(data, sec_keys).or_else(|| n(data, min_keys).map(|m| m * 60))
}

fn choice(data: &Value) -> Choice {
    let validation = data.get("validation").cloned().unwrap_or(Value::Null);
    Choice {
        body: obj_text(data, &["bodyText", "body", "content", "messageText", "text"]).unwrap_or_default(),
        header: s(data, &["headerText", "header"]),
        footer: s(data, &["footerText", "footer"]),
        max_attempts: n(&validation, &["maxAttempts"]).or_else(|| n(data, &["maxAttempts"])).unwrap_or(3).clamp(1, 20)
            as u32,
        error_message: s(&validation, &["errorMessage"]).or_else(|| s(data, &["errorMessage"])),
        variable: s(data, &["variableName", "outputVariable", "saveToVariable"]),
        timeout_secs: secs(data, &["timeoutSeconds"], &["timeoutMinutes"]),
    }
}

fn priority(p: Option<String>) -> i32 {
    match p.as_deref().map(str::to_lowercase).as_deref() {
        Some("low") => 10,
        Some("high") => 80,
        Some("urgent") => 100,
        _ => 50,
    }
}

fn read_node(raw: &Value) -> Option<Node> {
    let id = s(raw, &["id"])?;
    let data = raw.get("data").cloned().unwrap_or(Value::Object(Map::new()));
    let mut type_name = s(raw, &["type"]).unwrap_or_default();
    if type_name.is_empty() || type_name == "default" || type_name == "custom" {
        type_name = s(&data, &["nodeType", "type"]).unwrap_or(type_name);
    }
    let d = &data;
    let kind = match type_name.as_str() {
        "start" | "input" => NodeKind::Start,
        "message" | "text" => NodeKind::Message {
            text: obj_text(d, &["content", "messageText", "text", "message"]),
            media: s(d, &["mediaType"]).map(|media_type| Media {
                media_type,
                link: s(d, &["mediaUrl", "url", "link"]),
                id: s(d, &["mediaId"]),
                caption: s(d, &["caption"]),
                filename: s(d, &["filename", "fileName"]),
            }),
        },
        "end" | "output" => NodeKind::End {
            text: obj_text(d, &["content", "farewellMessage", "messageText"]),
            close: b(d, &["close", "closeConversation"], false),
        },
        "question" => {
            let validation = d.get("validation").cloned().unwrap_or(Value::Null);
            NodeKind::Question(Question {
                text: obj_text(d, &["content", "questionText", "question", "messageText"]).unwrap_or_default(),
                response: match s(d, &["responseType", "inputType"]).as_deref().map(str::to_lowercase).as_deref() {
                    Some("number") => ResponseType::Number,
                    Some("email") => ResponseType::Email,
                    Some("phone") => ResponseType::Phone,
                    Some("date") => ResponseType::Date,
                    Some("options" | "choice" | "select") => ResponseType::Options,
                    Some("regex" | "pattern") => ResponseType::Regex,
                    _ => ResponseType::Text,
                },
                options: d
                    .get("options")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|o| match o {
                                Value::String(x) => Some((x.clone(), x.clone())),
                                _ => {
                                    let value = s(o, &["value", "id", "label"])?;
                                    Some((value.clone(), s(o, &["label", "title"]).unwrap_or(value)))
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                pattern: s(&validation, &["pattern", "regex"]).or_else(|| s(d, &["pattern", "regex"])),
                required: b(&validation, &["required"], b(d, &["required"], true)),
                max_attempts: n(&validation, &["maxAttempts"])
                    .or_else(|| n(d, &["maxAttempts"]))
                    .unwrap_or(3)
                    .clamp(1, 20) as u32,
                error_message: s(&validation, &["errorMessage"]).or_else(|| s(d, &["errorMessage"])),
                variable: s(d, &["variableName", "outputVariable", "variable"]),
                timeout_secs: secs(d, &["timeoutSeconds", "timeout"], &["timeoutMinutes"]),
                timeout_message: s(d, &["timeoutMessage"]),
            })
        }
        "interactive_buttons" | "buttons" => NodeKind::Buttons {
            choice: choice(d),
            buttons: d
                .get("buttons")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .filter_map(|(i, x)| {
                            let title = s(x, &["title", "text", "label"])?;
                            Some(Button { id: s(x, &["id", "value"]).unwrap_or_else(|| format!("button_{i}")), title })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        "interactive_list" | "list" => NodeKind::List {
            choice: choice(d),
            button_text: s(d, &["buttonText", "button"]).unwrap_or_else(|| "Options".into()),
            sections: d
                .get("sections")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|sec| ListSection {
                            title: s(sec, &["title"]),
                            rows: sec
                                .get("rows")
                                .and_then(Value::as_array)
                                .map(|rows| {
                                    rows.iter()
                                        .enumerate()
                                        .filter_map(|(i, r)| {
                                            let title = s(r, &["title", "text"])?;
                                            Some(ListRow {
                                                id: s(r, &["id", "value"]).unwrap_or_else(|| format!("row_{i}")),
                                                title,
                                                description: s(r, &["description"]),
                                            })
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        "condition" => {
            let read_conditions = |v: &Value| -> Vec<Condition> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| {
                                Some(Condition {
                                    variable: s(c, &["variable", "field", "left"])?,
                                    operator: s(c, &["operator", "op"]).unwrap_or_else(|| "==".into()),
                                    value: c.get("value").or_else(|| c.get("right")).cloned().unwrap_or(Value::Null),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let branches = match d.get("branches").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, br)| Branch {
                        id: s(br, &["id", "handle"]).unwrap_or_else(|| format!("branch_{i}")),
                        any: s(br, &["logic", "logicOperator"]).is_some_and(|l| l.eq_ignore_ascii_case("or")),
                        conditions: read_conditions(br.get("conditions").unwrap_or(&Value::Null)),
                    })
                    .collect(),
                None => vec![Branch {
                    id: "true".into(),
                    any: s(d, &["logicOperator", "logic"]).is_some_and(|l| l.eq_ignore_ascii_case("or")),
                    conditions: read_conditions(d.get("conditions").unwrap_or(&Value::Null)),
                }],
            };
            NodeKind::Condition { branches }
        }
        "set_variable" | "variable" => {
            let mut list: Vec<Assignment> = d
                .get("variables")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| {
                            let value_type = s(v, &["valueType", "type"]).unwrap_or_else(|| "static".into());
                            let value = match value_type.as_str() {
                                "variable" => v.get("variableSource").or_else(|| v.get("value")).cloned(),
                                "expression" => v.get("expression").or_else(|| v.get("value")).cloned(),
                                _ => v.get("value").cloned(),
                            }
                            .unwrap_or(Value::Null);
                            Some(Assignment {
                                name: s(v, &["name", "variableName"])?,
                                value_type,
                                value,
                                operation: s(v, &["operation"]).unwrap_or_else(|| "set".into()),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            if list.is_empty()
                && let Some(name) = s(d, &["variableName", "name"])
            {
                list.push(Assignment {
                    name,
                    value_type: s(d, &["valueType"]).unwrap_or_else(|| "static".into()),
                    value: d.get("value").cloned().unwrap_or(Value::Null),
                    operation: s(d, &["operation"]).unwrap_or_else(|| "set".into()),
                });
            }
            NodeKind::SetVariable(list)
        }
        "random" => NodeKind::Random {
            paths: d
                .get("paths")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(i, p)| RandomPath {
                            id: s(p, &["id"]).unwrap_or_else(|| format!("path_{i}")),
                            weight: n(p, &["weight"]).unwrap_or(1).clamp(0, 1_000_000) as u32,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            variable: s(d, &["saveToVariable", "variableName"]),
        },
        "api_call" | "http_request" => {
            let eh = d.get("errorHandling").cloned().unwrap_or(Value::Null);
            NodeKind::ApiCall(ApiCall {
                method: s(d, &["method"]).unwrap_or_else(|| "GET".into()).to_uppercase(),
                url: s(d, &["url"]).unwrap_or_default(),
                headers: pairs(d.get("headers")),
                query: pairs(d.get("queryParams").or_else(|| d.get("query"))),
                body: d.get("body").cloned().filter(|b| !b.is_null() && b != &Value::String(String::new())),
                timeout_secs: n(d, &["timeout", "timeoutSeconds"]).unwrap_or(10).clamp(1, 30) as u64,
                variable: s(d, &["responseVariable", "outputVariable", "variableName"])
                    .unwrap_or_else(|| "api_response".into()),
                mappings: d
                    .get("mappings")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|m| Some((s(m, &["variable", "name"])?, s(m, &["pointer", "path"])?)))
                            .collect()
                    })
                    .unwrap_or_default(),
                max_retries: n(&eh, &["maxRetries"]).or_else(|| n(d, &["maxRetries"])).unwrap_or(0).clamp(0, 5) as u32,
                retry_delay_secs: n(&eh, &["retryDelay"]).unwrap_or(2).clamp(0, 60) as u64,
                on_error_stop: s(&eh, &["onError"]).is_some_and(|o| o == "stop"),
            })
        }
        "handoff" | "transfer" => NodeKind::Handoff(Handoff {
            target: s(d, &["handoffType", "transferType", "target"]).unwrap_or_else(|| "queue".into()),
            queue_id: s(d, &["queueId"]),
            department_id: s(d, &["departmentId"]),
            agent_id: s(d, &["agentId"]),
            priority: priority(s(d, &["priority"])),
            message: if b(d, &["sendTransferMessage"], true) { s(d, &["transferMessage", "message"]) } else { None },
            note: s(d, &["contextMessage", "note"]),
        }),
        "jump" | "jump_to_flow" | "goto" => NodeKind::Jump(Jump {
            target: s(d, &["jumpType"]).unwrap_or_else(|| {
                if d.get("targetFlowId").or_else(|| d.get("target_flow_id")).is_some() {
                    "flow".into()
                } else {
                    "node".into()
                }
            }),
            node_id: s(d, &["targetNodeId", "target_node_id"]),
            flow_id: s(d, &["targetFlowId", "target_flow_id"]),
            variables: pairs(
                d.get("variableMapping").or_else(|| d.get("variable_mapping")).or_else(|| d.get("variables")),
            ),
        }),
        "delay" | "wait" => NodeKind::Delay {
            seconds: n(d, &["delaySeconds", "seconds"])
                .or_else(|| {
                    let amount = n(d, &["duration", "amount"])?;
                    Some(match s(d, &["unit"]).as_deref() {
                        Some("minutes") => amount * 60,
                        Some("hours") => amount * 3600,
                        Some("days") => amount * 86_400,
                        _ => amount,
                    })
                })
                .unwrap_or(3),
            message: s(d, &["delayMessage", "message"]),
        },
        "whatsapp_template" | "template" => NodeKind::Template(Template {
            name: s(d, &["templateName", "name"]).unwrap_or_default(),
            language: s(d, &["languageCode", "language"]).unwrap_or_else(|| "pt_BR".into()),
            parameters: match d.get("parameters") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|p| match p {
                        Value::String(x) => (None, x.clone()),
                        other => {
                            (s(other, &["name", "parameter_name"]), s(other, &["value", "text"]).unwrap_or_default())
                        }
                    })
                    .collect(),
                Some(Value::Object(m)) => {
                    m.iter().map(|(k, v)| (Some(k.clone()), v.as_str().unwrap_or_default().to_string())).collect()
                }
                _ => Vec::new(),
            },
            components: d.get("components").cloned().filter(Value::is_array),
        }),
        "action" => NodeKind::Action(
            d.get("actions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            Some(Action {
                                action_type: s(x, &["type"])?,
                                config: x.get("config").cloned().unwrap_or(Value::Null),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "datetime" | "date_time" => NodeKind::DateTime(DateTimeOp {
            operation: s(d, &["operation"]).unwrap_or_else(|| "get_current".into()),
            timezone: s(d, &["timezone"]),
            format: s(d, &["format", "outputFormat"]),
            input_format: s(d, &["inputFormat"]),
            add_amount: n(d, &["addAmount", "amount"]).unwrap_or(0),
            add_unit: s(d, &["addUnit", "unit"]).unwrap_or_else(|| "days".into()),
            source: s(d, &["sourceVariable", "source"]),
            compare_with: s(d, &["compareWith"]),
            compare_operator: s(d, &["compareOperator"]).unwrap_or_else(|| "<".into()),
            variable: s(d, &["outputVariable", "variableName"]),
            days: d
                .get("days")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_u64).map(|x| x as u32).collect())
                .unwrap_or_else(|| vec![1, 2, 3, 4, 5]),
            start: s(d, &["startTime", "start"]),
            end: s(d, &["endTime", "end"]),
        }),
        "analytics" => NodeKind::Analytics(Analytics {
            event: s(d, &["eventName", "eventType", "event"]).unwrap_or_else(|| "custom".into()),
            value: s(d, &["eventValueVariable", "eventValue", "value"]),
            properties: d.get("eventProperties").cloned().unwrap_or(Value::Object(Map::new())),
            tags: d
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect())
                .unwrap_or_default(),
            counter: s(d, &["incrementCounter", "counter"]),
            variable: s(d, &["saveToVariable"]),
        }),
        "ai_prompt" | "script" | "database_query" => NodeKind::Unsupported,
        _ => NodeKind::Unknown,
    };
    Some(Node { id, type_name, kind, data })
}

fn read_edge(raw: &Value) -> Option<Edge> {
    let source = s(raw, &["source"])?;
    let target = s(raw, &["target"])?;
    Some(Edge {
        id: s(raw, &["id"]).unwrap_or_else(|| format!("{source}->{target}")),
        handle: s(raw, &["sourceHandle", "source_handle"]),
        label: s(raw, &["label"]).or_else(|| raw.get("data").and_then(|d| s(d, &["label"]))),
        source,
        target,
    })
}

impl Flow {
    /// Reads React-Flow JSON; nodes without an id and edges without both ends are skipped (and
    /// reported by validation through the raw counts).
    pub fn from_json(json: &FlowJson) -> Flow {
        Flow {
            nodes: json.nodes.iter().filter_map(read_node).collect(),
            edges: json.edges.iter().filter_map(read_edge).collect(),
        }
    }
}
