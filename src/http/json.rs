//! The strict JSON body extractor: checks the content type, enforces the body limit while reading
//! (413), parses with the failing field's path kept (400 for malformed JSON, 422 for a well-formed
//! body with wrong or unknown fields), then runs the body's [`Validate`] checks (422).

use super::{ApiError, Validate};
use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// The JSON body limit, set once in app data from `server.json_body_limit`.
#[derive(Clone, Copy, Debug)]
pub struct JsonLimit(pub usize);

/// How long a whole request body may take to arrive (`server.body_timeout_secs`), in app data: a
/// client that trickles its body (slowloris) gets 408 instead of holding a connection forever.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub std::time::Duration);

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Whether the request declares a JSON body (`application/json` or `application/*+json`).
pub fn is_json_content_type(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Reads a body up to `limit` bytes, failing with 413 as soon as it is exceeded.
pub async fn read_body_limited(req: &HttpRequest, mut payload: Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let deadline = req.app_data::<BodyTimeout>().map_or(std::time::Duration::from_secs(30), |t| t.0);
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::bad_request("payload_error", format!("could not read the request body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(body) => body,
        Err(_) => Err(ApiError::BodyTimeout { secs: deadline.as_secs() }),
    }
}

/// Parses JSON, mapping syntax errors to 400 and type/field errors to 422 with the field's path.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("malformed_json", "the request body is empty; a JSON object is expected"));
    }
    // Syntax first (the whole body), then shape: a trailing-garbage body is malformed even when
    // its first value would also miss a field.
    let raw: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the request body is not valid JSON: {e}")))?;
    let value = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_string() } else { path };
        ApiError::field(&field, strip_position(&e.into_inner().to_string()))
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42"; field errors read better without it.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !is_json_content_type(&req) {
                return Err(ApiError::UnsupportedMediaType);
            }
            let limit = req.app_data::<JsonLimit>().map(|l| l.0).unwrap_or(1 << 20);
            let body = read_body_limited(&req, payload, limit).await?;
            let value: T = parse_json(&body)?;
            value.validate().map_err(ApiError::Validation)?;
            Ok(Json(value))
        })
    }
}
