//! Conditions: `== != > < >= <= contains not_contains starts_with ends_with regex is_empty
//! not_empty in`, numeric when both sides are numbers, case-insensitive text otherwise.

use super::model::{Branch, Condition};
use super::template::{Scope, render, text_of};
use serde_json::Value;

/// Regexes from flows are size-limited: a hostile pattern cannot exhaust memory.
pub fn compile(pattern: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(pattern).size_limit(1 << 20).dfa_size_limit(1 << 20).build().ok()
}

pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', ".").parse().ok(),
        _ => None,
    }
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

pub fn evaluate(c: &Condition, scope: &Scope<'_>) -> bool {
    let left = scope.lookup(&c.variable);
    let right = match &c.value {
        Value::String(s) => Value::String(render(s, scope)),
        other => other.clone(),
    };
    let op = c.operator.trim().to_lowercase();
    match op.as_str() {
        "is_empty" => return is_empty(left),
        "not_empty" | "is_not_empty" => return !is_empty(left),
        _ => {}
    }
    let Some(left) = left else {
        return op == "!=" || op == "not_equals" || op == "not_contains";
    };
    if let (Some(a), Some(b)) = (as_number(left), as_number(&right))
        && matches!(
            op.as_str(),
            "==" | "!=" | ">" | "<" | ">=" | "<=" | "equals" | "not_equals" | "greater_than" | "less_than"
        )
    {
        return match op.as_str() {
            "==" | "equals" => (a - b).abs() < f64::EPSILON,
            "!=" | "not_equals" => (a - b).abs() >= f64::EPSILON,
            ">" | "greater_than" => a > b,
            "<" | "less_than" => a < b,
            ">=" => a >= b,
            _ => a <= b,
        };
    }
    let l = text_of(left).trim().to_lowercase();
    let r = text_of(&right).trim().to_lowercase();
    match op.as_str() {
        "==" | "equals" => l == r,
        "!=" | "not_equals" => l != r,
        ">" | "greater_than" => l > r,
        "<" | "less_than" => l < r,
        ">=" => l >= r,
        "<=" => l <= r,
        "contains" => l.contains(&r),
        "not_contains" => !l.contains(&r),
        "starts_with" => l.starts_with(&r),
        "ends_with" => l.ends_with(&r),
        "regex" | "matches" => compile(&text_of(&right)).is_some_and(|re| re.is_match(&text_of(left))),
        "in" => match &right {
            Value::Array(items) => items.iter().any(|i| text_of(i).trim().to_lowercase() == l),
            _ => r.split(',').any(|i| i.trim() == l),
        },
        _ => false,
    }
}

/// Whether a branch holds: all its conditions (AND) or any (OR). A branch without conditions never
/// holds (it would shadow the default).
pub fn branch_holds(b: &Branch, scope: &Scope<'_>) -> bool {
    if b.conditions.is_empty() {
        return false;
    }
    if b.any {
        b.conditions.iter().any(|c| evaluate(c, scope))
    } else {
        b.conditions.iter().all(|c| evaluate(c, scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn check(vars: Value, variable: &str, op: &str, value: Value) -> bool {
        let vars: Map<String, Value> = vars.as_object().cloned().unwrap_or_default();
        let contact = json!({"name": "Ana"});
        let conv = json!({});
        let scope = Scope { vars: &vars, contact: &contact, conversation: &conv };
        evaluate(&Condition { variable: variable.into(), operator: op.into(), value }, &scope)
    }

    #[test]
    fn every_operator() {
        let v = json!({"age": "21", "name": " Maria Silva ", "tags": "", "score": 7.5, "city": "Recife"});
        let table: &[(&str, &str, Value, bool)] = &[
            ("age", "==", json!(21), true),
            ("age", "==", json!("21.0"), true),
            ("age", "!=", json!(20), true),
            ("age", ">", json!("9"), true),
            ("age", "<", json!(100), true),
            ("score", ">=", json!(7.5), true),
            ("score", "<=", json!(7), false),
            ("name", "==", json!("maria silva"), true),
            ("name", "contains", json!("SILVA"), true),
            ("name", "not_contains", json!("souza"), true),
            ("name", "starts_with", json!("maria"), true),
            ("name", "ends_with", json!("silva"), true),
            ("name", "regex", json!("^\\s*Maria"), true),
            ("name", "regex", json!("(unclosed"), false),
            ("tags", "is_empty", json!(null), true),
            ("missing", "is_empty", json!(null), true),
            ("name", "not_empty", json!(null), true),
            ("city", "in", json!(["recife", "olinda"]), true),
            ("city", "in", json!("Natal, Recife"), true),
            ("missing", "==", json!("x"), false),
            ("missing", "!=", json!("x"), true),
            ("contact.name", "==", json!("ana"), true),
        ];
        for (var, op, value, want) in table {
            assert_eq!(check(v.clone(), var, op, value.clone()), *want, "{var} {op} {value}");
        }
    }
}
