//! Recording audit entries inside the transaction of the change they describe, with secrets
//! redacted from the snapshots.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::{Conn, StoreError};
use crate::repo::audit::{self, AuditRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

pub struct Change<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl<'a> Change<'a> {
    pub fn new(action: &'a str, entity_type: &'a str, entity_id: Uuid) -> Self {
        Change { action, entity_type, entity_id: Some(entity_id), before: None, after: None }
    }

    pub fn before(mut self, v: &impl Serialize) -> Self {
        self.before = serde_json::to_value(v).ok();
        self
    }

    pub fn after(mut self, v: &impl Serialize) -> Self {
        self.after = serde_json::to_value(v).ok();
        self
    }
}

pub async fn record(
    c: &mut dyn Conn,
    org: Option<Uuid>,
    actor: Option<&Principal>,
    meta: &RequestMeta,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::insert(
        c,
        &AuditRow {
            id: pytake_actors::domain::ids::new_id(),
            organization_id: org,
            actor_user_id: actor.map(|p| p.user_id),
            action: change.action.to_string(),
            entity_type: change.entity_type.to_string(),
            entity_id: change.entity_id,
            before_state: change.before.map(redact).map(Json),
            after_state: change.after.map(redact).map(Json),
            ip: meta.ip.clone(),
            request_id: meta.request_id.clone(),
            created_at: now,
        },
    )
    .await
}

/// Replaces the value of any key that names a secret with "[redacted]", at any depth.
pub fn redact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = ["password", "secret", "token", "api_key", "apikey", "authorization"]
                        .iter()
                        .any(|s| lower.contains(s))
                        && !lower.starts_with("has_")
                        && !lower.ends_with("_at")
                        && !lower.ends_with("_changed");
                    if secret && !v.is_null() { (k, Value::String("[redacted]".into())) } else { (k, redact(v)) }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_secret_keys_at_any_depth() {
        let v = redact(json!({"name": "n", "access_token": "EAAG", "has_access_token": true,
            "nested": [{"app_secret": "s", "ok": 1}], "password": null}));
        assert_eq!(
            v,
            json!({"name": "n", "access_token": "[redacted]", "has_access_token": true,
            "nested": [{"app_secret": "[redacted]", "ok": 1}], "password": null})
        );
    }
}
