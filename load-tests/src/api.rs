//! A small client of PyTake's API for setup and reconciliation.

use reqwest::Client;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}: {1}")]
    Status(String, String),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

pub struct Api {
    pub base: String,
    pub client: Client,
    pub token: String,
    pub ops_token: Option<String>,
}

impl Api {
    pub async fn login(
        base: &str,
        client: Client,
        email: &str,
        password: &str,
        ops_token: Option<String>,
    ) -> Result<Api, ApiError> {
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ApiError::Status(format!("login as {email}"), body.to_string()));
        }
        let token = body["access_token"].as_str().unwrap_or_default().to_string();
        Ok(Api { base: base.trim_end_matches('/').to_string(), client, token, ops_token })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        let r = self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ApiError::Status(format!("GET {path} -> {status}"), body.to_string()));
        }
        Ok(body)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let r = self.client.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await?;
        let status = r.status();
        let out: Value = r.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ApiError::Status(format!("POST {path} -> {status}"), out.to_string()));
        }
        Ok(out)
    }

    /// `/health/actors` (with the ops token when given).
    pub async fn actor_health(&self) -> Result<Value, ApiError> {
        let mut req = self.client.get(format!("{}/health/actors", self.base));
        if let Some(t) = &self.ops_token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ApiError::Status(format!("GET /health/actors -> {status}"), body.to_string()));
        }
        Ok(body)
    }

    /// Every page of a list endpoint.
    pub async fn all(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        loop {
            let page = match &cursor {
                Some(c) => self.get(&format!("{path}{sep}limit=200&cursor={c}")).await?,
                None => self.get(&format!("{path}{sep}limit=200")).await?,
            };
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(items),
            }
        }
    }
}
