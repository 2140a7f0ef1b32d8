//! A local fake of Meta's Graph API send endpoint, faithful to `reference/meta-cloud-api.md` §6–9:
//! `POST /{version}/{phone_number_id}/messages` with a bearer token, validating the body as Meta
//! does (messages and mark-as-read), answering `wamid`s, and able to inject every error class
//! (a Meta code synchronously, a `failed` status later, a slow answer, a bare HTTP error), to
//! revoke tokens (190) and to limit throughput per number (130429). It can send the signed status
//! webhooks Meta would (sent, delivered, read; optionally shuffled) to a server under test.
//!
//! It runs its own actix system on its own thread, so it serves whatever runtime the caller uses.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the next matching send gets instead of a normal acceptance.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Meta rejects the request with this error code (HTTP status as Meta would use).
    Meta(i64),
    /// Meta accepts the request, then reports a `failed` status with this code by webhook.
    FailedStatus(i64),
    /// The answer (an acceptance) comes after this long: longer than the client's timeout, it is
    /// the ambiguous case where Meta may have sent the message.
    Slow(Duration),
    /// A bare HTTP error without a Graph body (a proxy or load balancer failing).
    Http(u16),
}

struct FaultRule {
    fault: Fault,
    recipient: Option<String>,
    remaining: u32,
}

/// Where and how to send status webhooks for accepted messages.
#[derive(Clone, Debug)]
pub struct StatusWebhook {
    /// The server's webhook URL, e.g. `http://127.0.0.1:8000/api/v1/webhooks/meta`.
    pub url: String,
    /// Signs each delivery (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// In order: usually `sent`, `delivered`, `read`.
    pub statuses: Vec<String>,
    /// Deliver the statuses in a random order (Meta does not guarantee order).
    pub shuffle: bool,
    /// Wait this long after accepting before the first status.
    pub delay: Duration,
    pub display_phone_number: String,
    pub waba_id: String,
}

impl StatusWebhook {
    pub fn new(url: impl Into<String>, app_secret: impl Into<String>) -> Self {
        StatusWebhook {
            url: url.into(),
            app_secret: app_secret.into(),
            statuses: vec!["sent".into(), "delivered".into(), "read".into()],
            shuffle: false,
            delay: Duration::from_millis(5),
            display_phone_number: "15550783881".into(),
            waba_id: "102290129340398".into(),
        }
    }
}

/// One request the fake received, with what it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub phone_number_id: String,
    pub version: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    pub body: Value,
    pub http_status: u16,
    /// The wamid answered for an accepted message.
    pub wamid: Option<String>,
    /// The Meta error code answered, if any.
    pub error_code: Option<i64>,
    pub received_at: Instant,
}

impl Recorded {
    /// A message send (not a mark-as-read) that Meta accepted.
    pub fn is_accepted_message(&self) -> bool {
        self.wamid.is_some()
    }

    /// The recipient (`to` without the `+`).
    pub fn recipient(&self) -> String {
        self.body["to"].as_str().unwrap_or("").trim_start_matches('+').to_string()
    }

    /// The text a message shows: text body, interactive body, media caption, or template name.
    pub fn text(&self) -> String {
        let b = &self.body;
        let kind = b["type"].as_str().unwrap_or("");
        let t = match kind {
            "text" => &b["text"]["body"],
            "interactive" => &b["interactive"]["body"]["text"],
            "template" => &b["template"]["name"],
            media => &b[media]["caption"],
        };
        t.as_str().unwrap_or("").to_string()
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    faults: Vec<FaultRule>,
    revoked: HashSet<String>,
    rate_limit: Option<u32>,
    windows: HashMap<String, (Instant, u32)>,
    webhook: Option<StatusWebhook>,
    callbacks_sent: u64,
    callback_failures: u64,
    /// Message templates per WABA, as Meta keeps them.
    templates: Vec<FakeTemplate>,
}

/// A message template the fake holds for a WABA.
#[derive(Clone, Debug)]
pub struct FakeTemplate {
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub quality: String,
    pub components: Value,
}

struct Shared {
    state: Mutex<State>,
    counter: AtomicU64,
    client: reqwest::Client,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running fake; stopped when dropped.
pub struct FakeGraph {
    /// Use as the server's `meta.graph_base_url`.
    pub base_url: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeGraph {
    /// Starts the fake on an ephemeral loopback port.
    pub fn start() -> std::io::Result<FakeGraph> {
        FakeGraph::start_on("127.0.0.1:0".parse().map_err(std::io::Error::other)?, 2)
    }

    /// Starts the fake on `addr` with `workers` threads.
    pub fn start_on(addr: std::net::SocketAddr, workers: usize) -> std::io::Result<FakeGraph> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            counter: AtomicU64::new(0),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(std::io::Error::other)?,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let for_server = shared.clone();
        std::thread::Builder::new().name("fake-graph".into()).spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let data = web::Data::from(for_server);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                        .route("/{version}/{phone_number_id}/messages", web::post().to(messages))
                        .route("/{version}/{waba_id}/message_templates", web::post().to(create_template))
                        .route("/{version}/{waba_id}/message_templates", web::get().to(list_templates))
                })
                .workers(workers.max(1))
                .disable_signals()
                .shutdown_timeout(1)
                .bind(addr);
                let server = match server {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let port = server.addrs().first().map_or(0, |a| a.port());
                let server = server.run();
                let _ = tx.send(Ok((port, server.handle())));
                let _ = server.await;
            });
        })?;
        let (port, handle) = rx.recv().map_err(std::io::Error::other)??;
        Ok(FakeGraph { base_url: format!("http://127.0.0.1:{port}"), shared, handle })
    }

    /// The templates the fake holds (all WABAs).
    pub fn templates(&self) -> Vec<FakeTemplate> {
        self.shared.lock().templates.clone()
    }

    /// Meta's review: sets a template's status (and quality), as Meta would before its webhook.
    pub fn review_template(&self, name: &str, status: &str, quality: &str) {
        for t in self.shared.lock().templates.iter_mut().filter(|t| t.name == name) {
            t.status = status.to_string();
            t.quality = quality.to_string();
        }
    }

    /// The next `times` sends (to `recipient` only, when given) get `fault`.
    pub fn inject(&self, fault: Fault, recipient: Option<&str>, times: u32) {
        let recipient = recipient.map(|r| r.trim_start_matches('+').to_string());
        self.shared.lock().faults.push(FaultRule { fault, recipient, remaining: times });
    }

    /// Requests with this token are rejected with 190 from now on.
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().revoked.insert(token.to_string());
    }

    /// At most this many requests per second per number; beyond, 130429.
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        self.shared.lock().rate_limit = per_second;
    }

    /// Status webhooks for accepted messages (None stops them).
    pub fn set_status_webhook(&self, webhook: Option<StatusWebhook>) {
        self.shared.lock().webhook = webhook;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The accepted message sends so far.
    pub fn accepted(&self) -> Vec<Recorded> {
        self.shared.lock().requests.iter().filter(|r| r.is_accepted_message()).cloned().collect()
    }

    /// Status webhooks delivered (acknowledged with 200) and failed.
    pub fn callbacks(&self) -> (u64, u64) {
        let s = self.shared.lock();
        (s.callbacks_sent, s.callback_failures)
    }

    /// Waits until `check` holds for the requests received, or `timeout` passes; returns them.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        check: impl Fn(&[Recorded]) -> bool,
    ) -> Result<Vec<Recorded>, Vec<Recorded>> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if check(&requests) {
                return Ok(requests);
            }
            if Instant::now() >= deadline {
                return Err(requests);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for `n` accepted message sends in all.
    pub async fn wait_accepted(&self, n: usize, timeout: Duration) -> Result<Vec<Recorded>, Vec<Recorded>> {
        self.wait_until(timeout, |r| r.iter().filter(|r| r.is_accepted_message()).count() >= n)
            .await
            .map(|all| all.into_iter().filter(Recorded::is_accepted_message).collect())
    }
}

/// Meta's error body for a code, and the HTTP status it comes with.
pub fn meta_error(code: i64, details: &str) -> (u16, Value) {
    let (status, title) = match code {
        190 => (401, "Error validating access token: The session has been invalidated"),
        0 => (401, "AuthException"),
        4 => (429, "Application request limit reached"),
        80007 => (429, "Rate limit issues"),
        130429 => (429, "Rate limit hit"),
        131056 => (429, "(Business Account, Consumer Account) pair rate limit hit"),
        131048 => (400, "Spam rate limit hit"),
        131049 => (400, "This message was not delivered to maintain healthy ecosystem engagement"),
        131047 => (400, "Re-engagement message"),
        131026 => (400, "Message Undeliverable"),
        131051 => (400, "Unsupported message type"),
        131008 => (400, "Required parameter is missing"),
        131009 => (400, "Parameter value is not valid"),
        131021 => (400, "Recipient cannot be sender"),
        131057 => (503, "Account in maintenance mode"),
        132000 => (400, "Number of parameters does not match the expected number of params"),
        132001 => (404, "Template name does not exist in the translation"),
        100 => (400, "Invalid parameter"),
        1 => (500, "An unknown error occurred"),
        2 => (503, "Service temporarily unavailable"),
        131000 => (500, "Something went wrong"),
        131016 => (503, "Service unavailable"),
        _ => (400, "Error"),
    };
    let body = json!({"error": {
        "message": format!("(#{code}) {title}"),
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": if details.is_empty() { title } else { details }},
        "fbtrace_id": "AFakeTraceId",
    }});
    (status, body)
}

/// Checks a send body as Meta would; the error code and details when it is wrong.
pub fn check_body(body: &Value) -> Result<(), (i64, String)> {
    let missing = |what: &str| Err((131008, format!("The parameter {what} is required.")));
    let invalid = |what: &str| Err((100, format!("Invalid parameter: {what}")));
    if body["messaging_product"] != "whatsapp" {
        return missing("messaging_product");
    }
    if body.get("status").is_some() {
        // Mark as read (and typing indicator).
        if body["status"] != "read" {
            return invalid("status");
        }
        return match body["message_id"].as_str() {
            Some(id) if id.starts_with("wamid.") => Ok(()),
            Some(_) => Err((131009, "Invalid message_id".into())),
            None => missing("message_id"),
        };
    }
    let Some(to) = body["to"].as_str() else { return missing("to") };
    let digits = to.trim_start_matches('+');
    if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return invalid("to");
    }
    let kind = body["type"].as_str().unwrap_or("text");
    let object = &body[kind];
    if !object.is_object() {
        return missing(kind);
    }
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    match kind {
        "text" => {
            let n = len(&object["body"]);
            if n == 0 {
                return missing("text.body");
            }
            if n > 4096 {
                return invalid("text.body is longer than 4096 characters");
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            let (id, link) = (object.get("id"), object.get("link"));
            if id.is_some() == link.is_some() {
                return invalid(&format!("{kind} needs exactly one of id and link"));
            }
            if let Some(l) = link.and_then(Value::as_str)
                && !(l.starts_with("https://") || l.starts_with("http://"))
            {
                return invalid(&format!("{kind}.link"));
            }
            if object.get("caption").is_some() && (kind == "audio" || kind == "sticker") {
                return invalid(&format!("{kind}.caption"));
            }
        }
        "interactive" => {
            let n = len(&object["body"]["text"]);
            if n == 0 {
                return missing("interactive.body.text");
            }
            if n > 1024 {
                return invalid("interactive.body.text is longer than 1024 characters");
            }
            match object["type"].as_str() {
                Some("button") => {
                    let buttons = object["action"]["buttons"].as_array().cloned().unwrap_or_default();
                    if buttons.is_empty() || buttons.len() > 3 {
                        return invalid("interactive.action.buttons (1 to 3)");
                    }
                    let mut ids = HashSet::new();
                    for b in &buttons {
                        let title = len(&b["reply"]["title"]);
                        if title == 0 || title > 20 || !ids.insert(b["reply"]["id"].as_str().unwrap_or("").to_string())
                        {
                            return invalid("interactive.action.buttons[].reply (title 1-20 characters, unique ids)");
                        }
                    }
                }
                Some("list") => {
                    let button = len(&object["action"]["button"]);
                    if button == 0 || button > 20 {
                        return invalid("interactive.action.button (1-20 characters)");
                    }
                    let sections = object["action"]["sections"].as_array().cloned().unwrap_or_default();
                    let rows: Vec<Value> =
                        sections.iter().flat_map(|s| s["rows"].as_array().cloned().unwrap_or_default()).collect();
                    if sections.is_empty() || sections.len() > 10 || rows.is_empty() || rows.len() > 10 {
                        return invalid("interactive.action.sections (1-10 rows in all)");
                    }
                    if rows.iter().any(|r| len(&r["title"]) == 0 || len(&r["title"]) > 24 || len(&r["id"]) == 0) {
                        return invalid("interactive.action.sections[].rows[] (id, title 1-24 characters)");
                    }
                }
                Some("cta_url")
                | Some("flow")
                | Some("location_request_message")
                | Some("product")
                | Some("product_list") => {}
                _ => return invalid("interactive.type"),
            }
        }
        "template" => {
            if len(&object["name"]) == 0 {
                return missing("template.name");
            }
            if len(&object["language"]["code"]) == 0 {
                return missing("template.language.code");
            }
            if let Some(c) = object.get("components")
                && !c.is_array()
            {
                return invalid("template.components");
            }
        }
        "location" | "contacts" | "reaction" => {}
        _ => return invalid("type"),
    }
    Ok(())
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    h.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// Takes the first fault rule matching the recipient, if any.
fn take_fault(state: &mut State, recipient: &str) -> Option<Fault> {
    let at = state
        .faults
        .iter()
        .position(|r| r.remaining > 0 && r.recipient.as_deref().is_none_or(|want| want == recipient))?;
    let rule = &mut state.faults[at];
    rule.remaining -= 1;
    let fault = rule.fault.clone();
    if rule.remaining == 0 {
        state.faults.remove(at);
    }
    Some(fault)
}

/// Counts a request against the number's one-second window; false when over the limit.
fn within_rate(state: &mut State, pnid: &str) -> bool {
    let Some(limit) = state.rate_limit else { return true };
    let now = Instant::now();
    let window = state.windows.entry(pnid.to_string()).or_insert((now, 0));
    if now.duration_since(window.0) >= Duration::from_secs(1) {
        *window = (now, 0);
    }
    window.1 += 1;
    window.1 <= limit
}

async fn messages(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (version, pnid) = path.into_inner();
    let token = bearer(&req);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut record = Recorded {
        phone_number_id: pnid.clone(),
        version: version.clone(),
        token: token.clone(),
        body: parsed.clone().unwrap_or(Value::Null),
        http_status: 200,
        wamid: None,
        error_code: None,
        received_at: Instant::now(),
    };
    let reject = |record: &mut Recorded, code: i64, details: &str| {
        let (status, body) = meta_error(code, details);
        record.http_status = status;
        record.error_code = Some(code);
        HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        )
        .json(body)
    };

    let (response, fault, webhook) = {
        let mut state = shared.lock();
        let recipient = record.recipient();
        let outcome = if !version.starts_with('v') {
            Err(reject(&mut record, 100, "Unknown path components"))
        } else if token.as_deref().is_none_or(|t| t.is_empty() || state.revoked.contains(t)) {
            Err(reject(&mut record, 190, ""))
        } else if parsed.is_none() {
            Err(reject(&mut record, 100, "The request body is not valid JSON"))
        } else if let Err((code, details)) = check_body(&record.body) {
            Err(reject(&mut record, code, &details))
        } else {
            Ok(())
        };
        match outcome {
            Err(response) => (Some(response), None, None),
            Ok(()) if record.body.get("status").is_some() => {
                (Some(HttpResponse::Ok().json(json!({"success": true}))), None, None)
            }
            Ok(()) => match take_fault(&mut state, &recipient) {
                Some(Fault::Meta(code)) => (Some(reject(&mut record, code, "")), None, None),
                Some(Fault::Http(status)) => {
                    record.http_status = status;
                    let code = actix_web::http::StatusCode::from_u16(status)
                        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
                    (
                        Some(HttpResponse::build(code).content_type("text/html").body("<html>Bad Gateway</html>")),
                        None,
                        None,
                    )
                }
                // Throughput is checked after scripted faults so a scripted fault always fires.
                _ if !within_rate(&mut state, &pnid) => (Some(reject(&mut record, 130429, "")), None, None),
                fault => (None, fault, state.webhook.clone()),
            },
        }
    };
    if let Some(response) = response {
        shared.lock().requests.push(record);
        return response;
    }

    // Accepted.
    let n = shared.counter.fetch_add(1, Ordering::Relaxed);
    let wamid = format!("wamid.FAKE{n:012}{}", &pnid.chars().rev().take(6).collect::<String>());
    record.wamid = Some(wamid.clone());
    let to = record.body["to"].as_str().unwrap_or("").to_string();
    let wa_id = to.trim_start_matches('+').to_string();
    let mut message = json!({"id": wamid});
    if record.body["type"] == "template" {
        message["message_status"] = json!("accepted");
    }
    let answer =
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}], "messages": [message]});
    let callback_data = record.body["biz_opaque_callback_data"].as_str().map(String::from);
    // Recorded on arrival: a slow answer's request counts from when Meta got it.
    shared.lock().requests.push(record);
    if let Some(Fault::Slow(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    if let Some(hook) = webhook {
        let failed = match fault {
            Some(Fault::FailedStatus(code)) => Some(code),
            _ => None,
        };
        actix_web::rt::spawn(send_statuses(shared.into_inner(), hook, pnid, wamid, wa_id, callback_data, failed));
    }
    HttpResponse::Ok().json(answer)
}

fn status_object(wamid: &str, status: &str, wa_id: &str, callback: Option<&str>, failed: Option<i64>) -> Value {
    let ts = chrono::Utc::now().timestamp().to_string();
    let mut s = json!({"id": wamid, "status": status, "timestamp": ts, "recipient_id": wa_id});
    if let Some(c) = callback {
        s["biz_opaque_callback_data"] = json!(c);
    }
    if status == "sent" || status == "delivered" {
        s["conversation"] = json!({"id": format!("conv-{wa_id}"), "origin": {"type": "service"}});
        s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "category": "service"});
    }
    if let Some(code) = failed {
        let (_, body) = meta_error(code, "");
        s["errors"] = json!([{"code": code, "title": body["error"]["message"], "error_data": {"details": body["error"]["error_data"]["details"]}}]);
    }
    s
}

async fn send_statuses(
    shared: Arc<Shared>,
    hook: StatusWebhook,
    pnid: String,
    wamid: String,
    wa_id: String,
    callback: Option<String>,
    failed: Option<i64>,
) {
    tokio::time::sleep(hook.delay).await;
    let mut statuses: Vec<String> = match failed {
        Some(_) => vec!["failed".into()],
        None => hook.statuses.clone(),
    };
    if hook.shuffle {
        statuses.shuffle(&mut rand::rng());
    }
    for status in statuses {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": hook.waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": hook.display_phone_number, "phone_number_id": pnid},
            "statuses": [status_object(&wamid, &status, &wa_id, callback.as_deref(), failed)],
        }}]}]})
        .to_string();
        let signature = sign(&hook.app_secret, body.as_bytes());
        let sent = shared
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await;
        let ok = sent.is_ok_and(|r| r.status().is_success());
        let mut state = shared.lock();
        if ok {
            state.callbacks_sent += 1;
        } else {
            state.callback_failures += 1;
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of the body>`, as Meta signs deliveries.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `POST /{version}/{waba_id}/message_templates`: Meta's template creation (answers PENDING).
async fn create_template(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let (_, waba_id) = path.into_inner();
    if bearer(&req).is_none() {
        let (status, body) = meta_error(190, "missing access token");
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(body);
    }
    let name = body["name"].as_str().unwrap_or("").to_string();
    let language = body["language"].as_str().unwrap_or("").to_string();
    let category = body["category"].as_str().unwrap_or("").to_string();
    if name.is_empty() || language.is_empty() || !body["components"].is_array() {
        let (status, err) = meta_error(100, "name, language and components are required");
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(err);
    }
    let mut state = shared.lock();
    if state.templates.iter().any(|t| t.waba_id == waba_id && t.name == name && t.language == language) {
        let (status, err) = meta_error(2388024, "a template with this name and language already exists");
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(err);
    }
    let id = format!("{}", 9_000_000_000_000u64 + shared.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    state.templates.push(FakeTemplate {
        id: id.clone(),
        waba_id,
        name,
        language,
        category: category.clone(),
        status: "PENDING".into(),
        quality: "UNKNOWN".into(),
        components: body["components"].clone(),
    });
    HttpResponse::Ok().json(json!({"id": id, "status": "PENDING", "category": category}))
}

/// `GET /{version}/{waba_id}/message_templates`: the WABA's templates, with status and quality.
async fn list_templates(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (_, waba_id) = path.into_inner();
    if bearer(&req).is_none() {
        let (status, body) = meta_error(190, "missing access token");
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(body);
    }
    let data: Vec<Value> = shared
        .lock()
        .templates
        .iter()
        .filter(|t| t.waba_id == waba_id)
        .map(|t| {
            json!({"id": t.id, "name": t.name, "language": t.language, "category": t.category, "status": t.status,
                   "quality_score": {"score": t.quality}, "components": t.components})
        })
        .collect();
    HttpResponse::Ok().json(json!({"data": data, "paging": {}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_like_meta() {
        let ok =
            json!({"messaging_product": "whatsapp", "to": "+5511999990000", "type": "text", "text": {"body": "hi"}});
        assert_eq!(check_body(&ok), Ok(()));
        let no_product = json!({"to": "+5511999990000", "type": "text", "text": {"body": "hi"}});
        assert_eq!(check_body(&no_product).map_err(|e| e.0), Err(131008));
        let buttons: Vec<Value> =
            (1..=4).map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": "t"}})).collect();
        let four_buttons = json!({"messaging_product": "whatsapp", "to": "5511999990000", "type": "interactive", "interactive": {
            "type": "button", "body": {"text": "pick"}, "action": {"buttons": buttons}}});
        assert_eq!(check_body(&four_buttons).map_err(|e| e.0), Err(100));
        let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "nope"});
        assert_eq!(check_body(&read).map_err(|e| e.0), Err(131009));
        let both = json!({"messaging_product": "whatsapp", "to": "5511999990000", "type": "image", "image": {"id": "1", "link": "https://x"}});
        assert_eq!(check_body(&both).map_err(|e| e.0), Err(100));
    }

    #[test]
    fn error_bodies_carry_the_code() {
        let (status, body) = meta_error(131056, "");
        assert_eq!(status, 429);
        assert_eq!(body["error"]["code"], 131056);
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.starts_with("(#131056)")));
    }

    #[test]
    fn faults_match_their_recipient_and_run_out() {
        let mut state = State::default();
        state.faults.push(FaultRule { fault: Fault::Meta(131056), recipient: Some("111".into()), remaining: 2 });
        assert_eq!(take_fault(&mut state, "222"), None);
        assert_eq!(take_fault(&mut state, "111"), Some(Fault::Meta(131056)));
        assert_eq!(take_fault(&mut state, "111"), Some(Fault::Meta(131056)));
        assert_eq!(take_fault(&mut state, "111"), None);
    }
}
