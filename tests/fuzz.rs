//! Fuzzing on stable Rust: proptest-driven corpus runs of the three parsers that take hostile input
//! — the webhook parser, the flow JSON importer (read + validate) and the template renderer. Seeds
//! are the real fixtures (`tests/fixtures/`), mutated (byte flips, truncation, splices, values
//! swapped for other JSON types) and mixed with generated JSON. The property is the same for all:
//! no panic, whatever the input, and the renderer never shows a customer a `{{placeholder}}`.
//! `PROPTEST_CASES` raises the case count for a longer run (`cargo-fuzz` needs nightly, which this
//! machine does not have).

use proptest::prelude::*;
use pytake_actors::flow::model::{Flow, FlowJson};
use pytake_actors::flow::template::{Scope, render};
use pytake_actors::flow::validate::validate;
use serde_json::{Map, Value, json};
use std::path::Path;

fn fixtures(dir: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// JSON with the webhook's and the flow's own keys, nested a few levels.
fn hostile_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "object",
        "entry",
        "changes",
        "value",
        "field",
        "messages",
        "statuses",
        "metadata",
        "phone_number_id",
        "from",
        "id",
        "type",
        "text",
        "body",
        "interactive",
        "button_reply",
        "list_reply",
        "errors",
        "context",
        "timestamp",
        "nodes",
        "edges",
        "data",
        "source",
        "target",
        "sourceHandle",
        "buttons",
        "sections",
        "rows",
        "branches",
        "conditions",
        "variables",
        "position",
        "label",
        "nodeType",
        "content",
        "url",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["whatsapp_business_account", "messages", "text", "start", "question", "{{x}}", ""])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// Replaces the value at a random path of `v` with `replacement`.
fn graft(v: &mut Value, mut choice: usize, replacement: Value) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let n = map.len();
            let key = map.keys().nth(choice % n).cloned().unwrap();
            choice /= n;
            if choice.is_multiple_of(3) {
                map.insert(key, replacement);
            } else {
                graft(map.get_mut(&key).unwrap(), choice, replacement);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let n = items.len();
            let i = choice % n;
            if (choice / n).is_multiple_of(3) {
                items[i] = replacement;
            } else {
                graft(&mut items[i], choice / n, replacement);
            }
        }
        other => *other = replacement,
    }
}

/// A seed mutated at the byte level: flips, a truncation, a splice of another seed.
fn mutate_bytes(seed: &[u8], other: &[u8], flips: &[(usize, u8)], cut: usize, splice: usize) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(at, byte) in flips {
        if !b.is_empty() {
            let i = at % b.len();
            b[i] ^= byte;
        }
    }
    if cut.is_multiple_of(4) {
        b.truncate(cut % (b.len() + 1));
    }
    if splice.is_multiple_of(5) && !other.is_empty() {
        let at = splice % (b.len() + 1);
        b.splice(at..at, other[..other.len() / 2].iter().copied());
    }
    b
}

/// What POST /flows/import runs before storing (the document read and checked), then the engine's
/// reading and validation of the graph it yields — or, for a document import refuses, of its
/// top-level `nodes`/`edges` as PUT /flows/{id} would store them.
fn import_flow(v: &Value) {
    let list = |key: &str| v.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let json = match pytake::services::flows::read_import(v) {
        Ok(draft) => FlowJson { nodes: draft.nodes, edges: draft.edges },
        Err(_) => FlowJson { nodes: list("nodes"), edges: list("edges") },
    };
    let flow = Flow::from_json(&json);
    let _ = validate(&json, &flow);
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_webhook_parser_survives_mutated_fixtures(
        pick in any::<prop::sample::Index>(), other in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 0..8), cut in any::<usize>(), splice in any::<usize>(),
    ) {
        let seeds = fixtures("tests/fixtures/meta");
        let seed = &seeds[pick.index(seeds.len())];
        let bytes = mutate_bytes(seed, &seeds[other.index(seeds.len())], &flips, cut, splice);
        let _ = pytake::webhook::parse::parse_delivery(&bytes);
    }

    #[test]
    fn the_webhook_parser_survives_grafted_json(pick in any::<prop::sample::Index>(), at in any::<usize>(), graft_in in hostile_json()) {
        let seeds = fixtures("tests/fixtures/meta");
        let mut tree: Value = serde_json::from_slice(&seeds[pick.index(seeds.len())]).unwrap();
        graft(&mut tree, at, graft_in);
        if let Ok(parsed) = pytake::webhook::parse::parse_value_tree(&tree) {
            for change in parsed.changes {
                for item in change.items {
                    prop_assert!(!item.dedup_key.is_empty(), "every stored item has a dedup key");
                }
            }
        }
    }

    #[test]
    fn the_webhook_parser_survives_generated_json(tree in hostile_json()) {
        let _ = pytake::webhook::parse::parse_value_tree(&tree);
        let _ = pytake::webhook::parse::parse_delivery(tree.to_string().as_bytes());
    }

    #[test]
    fn the_flow_importer_survives_mutated_and_generated_flows(at in any::<usize>(), graft_in in hostile_json(), generated in hostile_json()) {
        let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-flow.json")).unwrap();
        let mut doc: Value = serde_json::from_slice(&seed).unwrap();
        graft(&mut doc, at, graft_in);
        import_flow(&doc);
        import_flow(&generated);
        import_flow(&json!({"nodes": [generated.clone()], "edges": [generated]}));
    }

    #[test]
    fn the_template_renderer_never_panics_on_any_text(template in "\\PC{0,64}", vars in prop::collection::btree_map("[a-z_.]{1,6}", hostile_json(), 0..4)) {
        let vars: Map<String, Value> = vars.into_iter().collect();
        let contact = json!({"name": "Ana", "phone": "5511"});
        let conversation = json!({"id": "c1"});
        let _ = render(&template, &Scope { vars: &vars, contact: &contact, conversation: &conversation });
    }

    #[test]
    fn rendered_text_never_shows_a_placeholder(
        parts in prop::collection::vec(prop_oneof!["[^{}]{0,10}".prop_map(|t| (false, t)), "[a-z_]{1,6}(\\.[a-z0-9_]{1,4}){0,2}(\\|[^{}|]{0,6})?".prop_map(|p| (true, p))], 0..8),
        vars in prop::collection::btree_map("[a-z_]{1,6}", "[^{}]{0,8}".prop_map(Value::String), 0..4),
    ) {
        let template: String = parts.iter().map(|(is_var, t)| if *is_var { format!("{{{{{t}}}}}") } else { t.clone() }).collect();
        let vars: Map<String, Value> = vars.into_iter().collect();
        let contact = json!({"name": "Ana"});
        let conversation = json!({"id": "c1"});
        let out = render(&template, &Scope { vars: &vars, contact: &contact, conversation: &conversation });
        for (is_var, name) in &parts {
            if *is_var {
                prop_assert!(!out.contains(&format!("{{{{{name}}}}}")), "{template:?} rendered {out:?}");
            }
        }
    }
}
