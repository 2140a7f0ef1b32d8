//! What changed between two flow definitions: the summary shown beside each published version.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// Counts of what a version changed against the version before it (all zero for the first).
#[derive(Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct VersionChanges {
    /// True for the flow's first version (everything in it is new).
    pub first: bool,
    pub nodes_added: usize,
    pub nodes_removed: usize,
    /// Same id, different type or fields.
    pub nodes_changed: usize,
    /// Same id and fields, another position on the canvas.
    pub nodes_moved: usize,
    pub edges_added: usize,
    pub edges_removed: usize,
}

fn nodes(definition: &Value) -> BTreeMap<String, &Value> {
    definition
        .get("nodes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|n| Some((n.get("id")?.as_str()?.to_string(), n))).collect::<BTreeMap<_, _>>())
        .unwrap_or_default()
}

/// An edge is what it connects: source, branch (handle or label) and target.
fn edges(definition: &Value) -> BTreeSet<(String, String, String)> {
    let text = |e: &Value, keys: &[&str]| {
        keys.iter().find_map(|k| e.get(*k).and_then(Value::as_str)).unwrap_or_default().to_string()
    };
    definition
        .get("edges")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| (text(e, &["source"]), text(e, &["sourceHandle", "label"]), text(e, &["target"])))
                .collect()
        })
        .unwrap_or_default()
}

/// Summarizes `after` against `before` (None: `after` is the first version).
pub fn summarize(before: Option<&Value>, after: &Value) -> VersionChanges {
    let Some(before) = before else {
        let (n, e) = (nodes(after).len(), edges(after).len());
        return VersionChanges { first: true, nodes_added: n, edges_added: e, ..Default::default() };
    };
    let (old_nodes, new_nodes) = (nodes(before), nodes(after));
    let mut changes = VersionChanges::default();
    for (id, node) in &new_nodes {
        match old_nodes.get(id) {
            None => changes.nodes_added += 1,
            Some(old) if old.get("type") != node.get("type") || old.get("data") != node.get("data") => {
                changes.nodes_changed += 1
            }
            Some(old) if old.get("position") != node.get("position") => changes.nodes_moved += 1,
            Some(_) => {}
        }
    }
    changes.nodes_removed = old_nodes.keys().filter(|id| !new_nodes.contains_key(*id)).count();
    let (old_edges, new_edges) = (edges(before), edges(after));
    changes.edges_added = new_edges.difference(&old_edges).count();
    changes.edges_removed = old_edges.difference(&new_edges).count();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_added_removed_changed_and_moved() {
        let v1 = json!({"nodes": [
            {"id": "s", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
            {"id": "m", "type": "message", "position": {"x": 1, "y": 0}, "data": {"content": "Hi"}},
            {"id": "e", "type": "end", "position": {"x": 2, "y": 0}, "data": {}}],
            "edges": [{"source": "s", "target": "m"}, {"source": "m", "target": "e"}]});
        let v2 = json!({"nodes": [
            {"id": "s", "type": "start", "position": {"x": 0, "y": 9}, "data": {}},
            {"id": "m", "type": "message", "position": {"x": 1, "y": 0}, "data": {"content": "Hello"}},
            {"id": "x", "type": "end", "position": {"x": 2, "y": 0}, "data": {}}],
            "edges": [{"source": "s", "target": "m"}, {"source": "m", "target": "x"}]});
        assert_eq!(
            summarize(Some(&v1), &v2),
            VersionChanges {
                first: false,
                nodes_added: 1,
                nodes_removed: 1,
                nodes_changed: 1,
                nodes_moved: 1,
                edges_added: 1,
                edges_removed: 1
            }
        );
        let first = summarize(None, &v1);
        assert!(first.first);
        assert_eq!((first.nodes_added, first.edges_added), (3, 2));
    }
}
