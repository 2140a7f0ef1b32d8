//! The Graph API client: `POST {base}/{version}/{phone_number_id}/messages` with the number's token,
//! answering the message's `wamid` or Meta's error (code, title, details).

use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct GraphError {
    /// Meta's error code; 0 when the body had none (an HTTP error from a proxy, say).
    pub code: i64,
    pub title: String,
    pub details: Option<String>,
    pub http_status: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SendError {
    Graph(GraphError),
    /// Timeout, connection refused, TLS: the request may or may not have reached Meta.
    Transport(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Graph(g) => write!(f, "({}) {}", g.code, g.title),
            SendError::Transport(t) => write!(f, "transport: {t}"),
        }
    }
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    version: String,
}

impl GraphClient {
    pub fn new(base: &str, version: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(GraphClient {
            http: reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(64).build()?,
            base: base.trim_end_matches('/').to_string(),
            version: version.to_string(),
        })
    }

    async fn post(&self, phone_number_id: &str, token: &str, body: &Value) -> Result<Value, SendError> {
        self.call(reqwest::Method::POST, &format!("{phone_number_id}/messages"), token, Some(body)).await
    }

    /// A Graph call to `{base}/{version}/{path}`; Meta's error body becomes a [`SendError::Graph`].
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, SendError> {
        let url = format!("{}/{}/{}", self.base, self.version, path);
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Transport(if e.is_timeout() { "timed out".into() } else { e.to_string() }))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let e = &body["error"];
        Err(SendError::Graph(GraphError {
            code: e["code"].as_i64().unwrap_or(0),
            title: e["message"]
                .as_str()
                .or_else(|| e["error_user_title"].as_str())
                .unwrap_or("Graph API error")
                .to_string(),
            details: e["error_data"]["details"].as_str().map(String::from),
            http_status: status,
        }))
    }

    /// Sends a message body; returns its wamid.
    pub async fn send_message(&self, phone_number_id: &str, token: &str, body: &Value) -> Result<String, SendError> {
        let answer = self.post(phone_number_id, token, body).await?;
        answer["messages"][0]["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| SendError::Transport("Meta accepted the message but returned no id".into()))
    }

    /// Submits a message template for review: `{id, status, category}`.
    pub async fn create_template(&self, waba_id: &str, token: &str, body: &Value) -> Result<Value, SendError> {
        self.call(reqwest::Method::POST, &format!("{waba_id}/message_templates"), token, Some(body)).await
    }

    /// The WABA's templates (first 250) with their status and quality.
    pub async fn list_templates(&self, waba_id: &str, token: &str) -> Result<Value, SendError> {
        self.call(reqwest::Method::GET, &format!("{waba_id}/message_templates?limit=250"), token, None).await
    }

    /// Marks an inbound message (and the earlier ones) read.
    pub async fn mark_read(&self, phone_number_id: &str, token: &str, wamid: &str) -> Result<(), SendError> {
        self.post(
            phone_number_id,
            token,
            &json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid}),
        )
        .await
        .map(|_| ())
    }
}
