//! Flow validation, run by `/validate` and on publish: one start node, every edge's ends exist,
//! every node reachable, every node that needs an exit has one, branch handles match the node's
//! options, variable names valid, node fields within WhatsApp's limits, no node type this server
//! cannot run. Errors name the node and the field. References to other objects (flows, queues,
//! departments, agents) are returned for the caller to check in the organization.

use super::model::*;
use serde::Serialize;
use std::collections::{BTreeSet, HashSet, VecDeque};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationError {
    /// The node (or edge) at fault; empty for the flow as a whole.
    pub node_id: String,
    pub field: String,
    pub message: String,
}

/// An id a node refers to, which must exist in the organization.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    Flow(String),
    Queue(String),
    Department(String),
    Agent(String),
}

#[derive(Default)]
pub struct Report {
    pub errors: Vec<ValidationError>,
    /// (node id, field, reference)
    pub references: Vec<(String, String, Reference)>,
}

fn err(errors: &mut Vec<ValidationError>, node: &str, field: &str, message: impl Into<String>) {
    errors.push(ValidationError { node_id: node.to_string(), field: field.to_string(), message: message.into() });
}

pub fn valid_variable(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Checks `flow` (read from `json`, whose raw counts reveal skipped nodes and edges).
pub fn validate(json: &FlowJson, flow: &Flow) -> Report {
    let mut r = Report::default();
    let e = &mut r.errors;
    if json.nodes.len() != flow.nodes.len() {
        err(e, "", "nodes", "every node needs an `id`");
    }
    if json.edges.len() != flow.edges.len() {
        err(e, "", "edges", "every edge needs a `source` and a `target`");
    }
    let mut ids = HashSet::new();
    for n in &flow.nodes {
        if !ids.insert(n.id.as_str()) {
            err(e, &n.id, "id", "two nodes have this id");
        }
    }
    let starts: Vec<&Node> = flow.nodes.iter().filter(|n| n.kind == NodeKind::Start).collect();
    match starts.len() {
        0 => err(e, "", "nodes", "the flow needs one start node"),
        1 => {}
        _ => {
            for s in &starts[1..] {
                err(e, &s.id, "type", "the flow has more than one start node");
            }
        }
    }
    for edge in &flow.edges {
        if !ids.contains(edge.source.as_str()) {
            err(e, &edge.id, "source", format!("edge from `{}`, which is not a node", edge.source));
        }
        if !ids.contains(edge.target.as_str()) {
            err(e, &edge.id, "target", format!("edge to `{}`, which is not a node", edge.target));
        }
    }
    // Reachability from the start node (edges, and jumps to nodes).
    if let Some(start) = starts.first() {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut todo = VecDeque::from([start.id.as_str()]);
        while let Some(id) = todo.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            for edge in flow.edges_from(id) {
                todo.push_back(edge.target.as_str());
            }
            if let Some(Node { kind: NodeKind::Jump(Jump { target, node_id: Some(t), .. }), .. }) = flow.node(id)
                && target == "node"
            {
                todo.push_back(t.as_str());
            }
        }
        for n in &flow.nodes {
            if !seen.contains(n.id.as_str()) {
                err(e, &n.id, "id", "this node cannot be reached from the start node");
            }
        }
    }
    for n in &flow.nodes {
        check_node(flow, n, &mut r);
    }
    r.errors.sort();
    r.errors.dedup();
    r
}

fn check_handles(e: &mut Vec<ValidationError>, flow: &Flow, n: &Node, allowed: &[String]) {
    let allowed: BTreeSet<String> = allowed.iter().map(|h| h.to_lowercase()).collect();
    let aliases = [
        "true", "yes", "sim", "false", "no", "não", "nao", "default", "else", "valid", "success", "next", "out",
        "output", "source",
    ];
    for edge in flow.edges_from(&n.id) {
        if let Some(h) = edge.handle.as_deref().filter(|h| !h.is_empty()) {
            let h = h.to_lowercase();
            if !allowed.contains(&h) && !aliases.contains(&h.as_str()) {
                err(
                    e,
                    &n.id,
                    "edges",
                    format!("the edge `{}` leaves by `{h}`, which this node does not have", edge.id),
                );
            }
        }
    }
}

fn check_variable(e: &mut Vec<ValidationError>, node: &str, field: &str, name: Option<&str>) {
    if let Some(v) = name
        && !valid_variable(v)
    {
        err(
            e,
            node,
            field,
            format!("`{v}` is not a valid variable name (letters, digits and _, not starting with a digit)"),
        );
    }
}

fn check_node(flow: &Flow, n: &Node, r: &mut Report) {
    let id = n.id.as_str();
    let has_exit = |handle: Option<&str>| flow.exit(id, handle).is_some();
    let e = &mut r.errors;
    check_handles(e, flow, n, &n.handles());
    match &n.kind {
        NodeKind::Start => {
            if !has_exit(None) {
                err(e, id, "edges", "the start node needs an exit");
            }
        }
        NodeKind::Message { text, media } => {
            match media {
                Some(m) => {
                    if !["image", "video", "audio", "document", "sticker"].contains(&m.media_type.as_str()) {
                        err(e, id, "mediaType", "must be image, video, audio, document or sticker");
                    }
                    if m.link.is_none() && m.id.is_none() {
                        err(e, id, "mediaUrl", "a media message needs a URL or a media id");
                    }
                }
                None if text.as_deref().is_none_or(|t| t.trim().is_empty()) => {
                    err(e, id, "content", "the message is empty")
                }
                None => {}
            }
            if text.as_deref().is_some_and(|t| t.chars().count() > 4096) {
                err(e, id, "content", "WhatsApp text messages are at most 4096 characters");
            }
        }
        NodeKind::End { .. } | NodeKind::Handoff(_) => {}
        NodeKind::Question(q) => {
            if q.text.trim().is_empty() {
                err(e, id, "content", "the question has no text");
            }
            check_variable(e, id, "variableName", q.variable.as_deref());
            if q.response == ResponseType::Options && q.options.is_empty() {
                err(e, id, "options", "an options question needs options");
            }
            if q.response == ResponseType::Regex {
                match q.pattern.as_deref() {
                    None => err(e, id, "validation.pattern", "a regex question needs a pattern"),
                    Some(p) if super::condition::compile(p).is_none() => {
                        err(e, id, "validation.pattern", "the pattern is not a valid regular expression")
                    }
                    _ => {}
                }
            }
            if q.timeout_secs.is_some_and(|t| t <= 0) {
                err(e, id, "timeoutSeconds", "must be positive");
            }
            if !has_exit(Some("valid")) {
                err(e, id, "edges", "the question needs an exit for a valid answer");
            }
        }
        NodeKind::Buttons { choice, buttons } => {
            if choice.body.trim().is_empty() {
                err(e, id, "bodyText", "the buttons need a body text");
            }
            if buttons.is_empty() || buttons.len() > 3 {
                err(e, id, "buttons", "WhatsApp allows 1 to 3 reply buttons");
            }
            let mut seen = HashSet::new();
            for (i, b) in buttons.iter().enumerate() {
                if b.title.chars().count() > 20 {
                    err(e, id, &format!("buttons[{i}].title"), "a button title is at most 20 characters");
                }
                if !seen.insert(b.id.as_str()) {
                    err(e, id, &format!("buttons[{i}].id"), "two buttons have this id");
                }
                if !has_exit(Some(&b.id)) {
                    err(e, id, &format!("buttons[{i}]"), format!("the button `{}` has no exit", b.title));
                }
            }
            check_variable(e, id, "variableName", choice.variable.as_deref());
        }
        NodeKind::List { choice, sections, button_text } => {
            if choice.body.trim().is_empty() {
                err(e, id, "bodyText", "the list needs a body text");
            }
            if button_text.chars().count() > 20 {
                err(e, id, "buttonText", "the list button text is at most 20 characters");
            }
            let rows: Vec<&ListRow> = sections.iter().flat_map(|s| s.rows.iter()).collect();
            if rows.is_empty() || rows.len() > 10 {
                err(e, id, "sections", "WhatsApp lists have 1 to 10 rows in all");
            }
            let mut seen = HashSet::new();
            for (i, row) in rows.iter().enumerate() {
                if row.title.chars().count() > 24 {
                    err(e, id, &format!("rows[{i}].title"), "a row title is at most 24 characters");
                }
                if !seen.insert(row.id.as_str()) {
                    err(e, id, &format!("rows[{i}].id"), "two rows have this id");
                }
                if !has_exit(Some(&row.id)) {
                    err(e, id, &format!("rows[{i}]"), format!("the row `{}` has no exit", row.title));
                }
            }
            check_variable(e, id, "variableName", choice.variable.as_deref());
        }
        NodeKind::Condition { branches } => {
            for (i, b) in branches.iter().enumerate() {
                if b.conditions.is_empty() {
                    err(e, id, &format!("branches[{i}].conditions"), "a branch needs at least one condition");
                }
                for (j, c) in b.conditions.iter().enumerate() {
                    const OPS: [&str; 19] = [
                        "==",
                        "!=",
                        ">",
                        "<",
                        ">=",
                        "<=",
                        "contains",
                        "not_contains",
                        "starts_with",
                        "ends_with",
                        "regex",
                        "is_empty",
                        "not_empty",
                        "in",
                        "equals",
                        "not_equals",
                        "greater_than",
                        "less_than",
                        "matches",
                    ];
                    if !OPS.contains(&c.operator.trim().to_lowercase().as_str()) {
                        err(
                            e,
                            id,
                            &format!("branches[{i}].conditions[{j}].operator"),
                            format!("`{}` is not an operator", c.operator),
                        );
                    }
                }
                if !has_exit(Some(&b.id)) {
                    err(e, id, &format!("branches[{i}]"), format!("the branch `{}` has no exit", b.id));
                }
            }
            if !has_exit(Some("default")) {
                err(e, id, "edges", "the condition needs a default exit");
            }
        }
        NodeKind::SetVariable(list) => {
            if list.is_empty() {
                err(e, id, "variables", "set at least one variable");
            }
            for (i, a) in list.iter().enumerate() {
                check_variable(e, id, &format!("variables[{i}].name"), Some(&a.name));
                if !["set", "append", "increment"].contains(&a.operation.as_str()) {
                    err(e, id, &format!("variables[{i}].operation"), "must be set, append or increment");
                }
            }
            if !has_exit(None) {
                err(e, id, "edges", "this node needs an exit");
            }
        }
        NodeKind::Random { paths, variable } => {
            if paths.is_empty() || paths.iter().all(|p| p.weight == 0) {
                err(e, id, "paths", "give at least one path a weight");
            }
            for (i, p) in paths.iter().enumerate() {
                if !has_exit(Some(&p.id)) {
                    err(e, id, &format!("paths[{i}]"), format!("the path `{}` has no exit", p.id));
                }
            }
            check_variable(e, id, "saveToVariable", variable.as_deref());
        }
        NodeKind::ApiCall(api) => {
            let url = api.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("{{")) {
                err(e, id, "url", "must be an http(s) URL");
            }
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&api.method.as_str()) {
                err(e, id, "method", "must be GET, POST, PUT, PATCH or DELETE");
            }
            check_variable(e, id, "responseVariable", Some(&api.variable));
            for (i, (var, _)) in api.mappings.iter().enumerate() {
                check_variable(e, id, &format!("mappings[{i}].variable"), Some(var));
            }
            if !has_exit(Some("success")) {
                err(e, id, "edges", "the API call needs a success exit");
            }
        }
        NodeKind::Jump(j) => match j.target.as_str() {
            "flow" => match &j.flow_id {
                Some(f) => r.references.push((id.to_string(), "targetFlowId".into(), Reference::Flow(f.clone()))),
                None => err(e, id, "targetFlowId", "a jump to a flow names the flow"),
            },
            _ => match &j.node_id {
                Some(t) if flow.node(t).is_some() => {}
                Some(t) => err(e, id, "targetNodeId", format!("`{t}` is not a node of this flow")),
                None => err(e, id, "targetNodeId", "a jump to a node names the node"),
            },
        },
        NodeKind::Delay { seconds, .. } => {
            if *seconds <= 0 || *seconds > 30 * 86_400 {
                err(e, id, "delaySeconds", "must be between 1 second and 30 days");
            }
            if !has_exit(None) {
                err(e, id, "edges", "the delay needs an exit");
            }
        }
        NodeKind::Template(t) => {
            if t.name.trim().is_empty() {
                err(e, id, "templateName", "name the template");
            }
            if t.language.trim().is_empty() {
                err(e, id, "languageCode", "give the template's language");
            }
        }
        NodeKind::Action(actions) => {
            for (i, a) in actions.iter().enumerate() {
                if !["webhook", "save_contact", "update_variable"].contains(&a.action_type.as_str()) {
                    err(e, id, &format!("actions[{i}].type"), "must be webhook, save_contact or update_variable");
                }
            }
        }
        NodeKind::DateTime(d) => {
            if !["get_current", "format", "add", "compare", "parse", "business_hours"].contains(&d.operation.as_str()) {
                err(e, id, "operation", "must be get_current, format, add, compare, parse or business_hours");
            }
            if let Some(tz) = &d.timezone
                && tz.parse::<chrono_tz::Tz>().is_err()
            {
                err(e, id, "timezone", "is not an IANA time zone");
            }
            check_variable(e, id, "outputVariable", d.variable.as_deref());
        }
        NodeKind::Analytics(a) => {
            check_variable(e, id, "saveToVariable", a.variable.as_deref());
        }
        NodeKind::Unsupported => err(
            e,
            id,
            "type",
            format!(
                "`{}` nodes are not supported yet (they need a sandbox or an LLM endpoint); remove it to publish",
                n.type_name
            ),
        ),
        NodeKind::Unknown => err(e, id, "type", format!("`{}` is not a node type", n.type_name)),
    }
    if let NodeKind::Handoff(h) = &n.kind {
        let refs = [
            ("queueId", h.queue_id.clone().map(Reference::Queue)),
            ("departmentId", h.department_id.clone().map(Reference::Department)),
            ("agentId", h.agent_id.clone().map(Reference::Agent)),
        ];
        for (field, reference) in refs {
            if let Some(reference) = reference {
                r.references.push((id.to_string(), field.into(), reference));
            }
        }
        match h.target.as_str() {
            "queue" if h.queue_id.is_none() && (h.department_id.is_some() || h.agent_id.is_some()) => {
                err(&mut r.errors, id, "queueId", "a handoff to a queue names the queue")
            }
            "department" if h.department_id.is_none() => {
                err(&mut r.errors, id, "departmentId", "a handoff to a department names it")
            }
            "agent" if h.agent_id.is_none() => {
                err(&mut r.errors, id, "agentId", "a handoff to an agent names the agent")
            }
            _ => {}
        }
    }
    if let NodeKind::DateTime(d) = &n.kind
        && !(d.operation == "compare" || d.operation == "business_hours")
        && !has_exit(None)
    {
        err(&mut r.errors, id, "edges", "this node needs an exit");
    }
    if matches!(n.kind, NodeKind::Template(_) | NodeKind::Action(_) | NodeKind::Analytics(_)) && !has_exit(None) {
        err(&mut r.errors, id, "edges", "this node needs an exit");
    }
}
