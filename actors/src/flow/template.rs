//! Templating: `{{name}}`, dot paths into variables (`{{api.result.items.0.id}}`), the contact and
//! the conversation (`{{contact.name}}`, `{{contact.phone}}`, `{{conversation.id}}`) and a default
//! (`{{name|fallback}}`). An unknown name renders as its default, or as nothing: a customer never
//! sees `{{...}}`.

use serde_json::{Map, Value};

/// What templates can read.
pub struct Scope<'a> {
    pub vars: &'a Map<String, Value>,
    pub contact: &'a Value,
    pub conversation: &'a Value,
}

impl Scope<'_> {
    /// The value at a dot path, if any.
    pub fn lookup(&self, path: &str) -> Option<&Value> {
        let path = path.trim().trim_start_matches("{{").trim_end_matches("}}").trim();
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut current = match first {
            "contact" => self.contact,
            "conversation" => self.conversation,
            name => self.vars.get(name)?,
        };
        for part in parts {
            current = match current {
                Value::Object(m) => m.get(part)?,
                Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

/// A value as text: strings as they are, `null` as nothing, objects and arrays as JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Renders every `{{...}}` in `template`.
pub fn render(template: &str, scope: &Scope<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let expr = &after[..end];
                let (path, fallback) = match expr.split_once('|') {
                    Some((p, f)) => (p.trim(), Some(f.trim())),
                    None => (expr.trim(), None),
                };
                let value = scope.lookup(path).map(text_of).filter(|s| !s.is_empty());
                out.push_str(&value.or_else(|| fallback.map(String::from)).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders templates inside a JSON value. A string that is exactly one `{{path}}` keeps the
/// value's type (so a number stays a number in an API body).
pub fn render_value(v: &Value, scope: &Scope<'_>) -> Value {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 && !t.contains('|') {
                scope.lookup(t).cloned().unwrap_or(Value::Null)
            } else {
                Value::String(render(s, scope))
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| render_value(x, scope)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), render_value(x, scope))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with<T>(vars: Value, f: impl FnOnce(&Scope<'_>) -> T) -> T {
        let vars = vars.as_object().cloned().unwrap_or_default();
        let contact = json!({"name": "Ana", "phone": "5511999"});
        let conversation = json!({"id": "c-1"});
        f(&Scope { vars: &vars, contact: &contact, conversation: &conversation })
    }

    #[test]
    fn renders_names_paths_defaults_and_unknowns() {
        with(json!({"name": "Bob", "api": {"result": {"items": [{"id": 7}]}}, "n": 3}), |s| {
            assert_eq!(render("Hi {{name}}!", s), "Hi Bob!");
            assert_eq!(render("{{ api.result.items.0.id }}", s), "7");
            assert_eq!(render("{{contact.name}} / {{contact.phone}} / {{conversation.id}}", s), "Ana / 5511999 / c-1");
            assert_eq!(render("{{missing|friend}} {{missing}}.", s), "friend .");
            assert_eq!(render("{{api.result.items.9.id|none}}", s), "none");
            assert_eq!(render("broken {{name", s), "broken {{name");
            assert_eq!(render_value(&json!({"count": "{{n}}", "t": "n={{n}}"}), s), json!({"count": 3, "t": "n=3"}));
        });
    }
}
