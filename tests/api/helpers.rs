//! The test harness: spawns the real application on port 0 with a fresh database (a SQLite file in
//! a temp dir, or a new PostgreSQL database when PYTAKE_TEST_DATABASE_URL is set; Redis when
//! PYTAKE_TEST_REDIS_URL is set) and offers typed HTTP helpers.

#![allow(dead_code)]

use pytake::app::Application;
use pytake::config::{Profile, Settings, load_from_parts};
use pytake::state::AppState;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

pub const ADMIN_EMAIL: &str = "root@pytake.test";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    pub settings: Settings,
    pub admin_password: String,
    pub dir: TempDir,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the workers wind down on their own threads. Stopping the
        // actor arbiters drops their handles on the database pool, so its connections close.
        drop(self.handle.stop(false));
        for arbiter in &self.state.arbiters {
            arbiter.stop();
        }
        // Close the pool's connections now (the server's worker threads may hold the pool a while;
        // PostgreSQL's connection limit is shared by every test).
        let db = self.state.db.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async { drop(tokio::time::timeout(std::time::Duration::from_secs(5), db.close()).await) });
            }
        });
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Drops the test databases of test processes that have ended (their names carry the process id):
/// a test binary can exit before its apps' cleanup runs, and every database left behind is one
/// more for autovacuum to visit on a shared server.
async fn sweep_dead_test_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'pytake\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            drop(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await);
        }
    }
}

/// The database URL for a new test: a fresh PostgreSQL database, or a SQLite file in `dir`.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("PYTAKE_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            use sqlx::Connection;
            let name = format!(
                "pytake_test_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                uuid::Uuid::now_v7().simple()
            );
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect to PYTAKE_TEST_DATABASE_URL");
            if !SWEPT.swap(true, Ordering::Relaxed) {
                sweep_dead_test_databases(&mut conn).await;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&base).expect("PYTAKE_TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}/test.db", dir.display()),
    }
}

pub fn is_postgres() -> bool {
    std::env::var("PYTAKE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// Settings for a test app in `dir` plus `overrides` (PYTAKE__SECTION__KEY, value).
pub async fn test_settings(dir: &std::path::Path, overrides: &[(&str, &str)]) -> (Settings, String) {
    let password = format!("pw-{}", uuid::Uuid::now_v7().simple());
    let mut env: Vec<(String, String)> = vec![
        ("PYTAKE__STORAGE__DATA_DIR".into(), dir.display().to_string()),
        ("PYTAKE__DATABASE__URL".into(), fresh_database_url(dir).await),
        ("PYTAKE__DATABASE__MAX_CONNECTIONS".into(), "8".into()),
        ("PYTAKE__SERVER__LISTEN".into(), "127.0.0.1:0".into()),
        ("PYTAKE__SERVER__WORKERS".into(), "1".into()),
        ("PYTAKE__SERVER__SHUTDOWN_TIMEOUT_SECS".into(), "1".into()),
        ("PYTAKE__AUTH__PASSWORD_HASH_MEMORY_KIB".into(), "1024".into()),
        ("PYTAKE__AUTH__PASSWORD_HASH_ITERATIONS".into(), "1".into()),
        ("PYTAKE__BOOTSTRAP__ADMIN_EMAIL".into(), ADMIN_EMAIL.into()),
        ("PYTAKE__BOOTSTRAP__ADMIN_PASSWORD".into(), password.clone()),
        ("PYTAKE__LOG__LEVEL".into(), std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into())),
    ];
    if let Ok(redis) = std::env::var("PYTAKE_TEST_REDIS_URL")
        && !redis.is_empty()
    {
        env.push(("PYTAKE__REDIS__URL".into(), redis));
    }
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    let settings = load_from_parts(None, env, Profile::Development).expect("test settings load");
    (settings, password)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let (settings, admin_password) = test_settings(dir.path(), overrides).await;
    spawn_app_in(dir, settings, admin_password).await
}

/// Starts an app on prepared settings (e.g. to restart on the same database).
pub async fn spawn_app_in(dir: TempDir, settings: Settings, admin_password: String) -> TestApp {
    pytake::telemetry::init(&settings.log.level, settings.log.format);
    let application = Application::build(settings.clone()).await.expect("application builds");
    let port = application.port();
    let state = application.state();
    let handle = application.server_handle();
    actix_web::rt::spawn(application.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        state,
        settings,
        admin_password,
        dir,
        handle,
    }
}

/// A response with its status and parsed JSON body (Null when the body is empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(r: Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status, printing the body on failure.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(&body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.request(Method::POST, "/api/v1/auth/login", None, Some(&json!({"email": email, "password": password})))
            .await
    }

    /// Logs in and returns the access token, asserting success.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await.expect(200);
        r.body["access_token"].as_str().expect("access_token").to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_EMAIL, &self.admin_password).await
    }

    /// Creates an organization as the super_admin.
    pub async fn create_org(&self, slug: &str) -> String {
        let admin = self.admin_token().await;
        let r = self.post("/api/v1/organizations", &admin, json!({"name": format!("Org {slug}"), "slug": slug})).await;
        r.expect(201).body["id"].as_str().expect("id").to_string()
    }

    /// Creates a user with `role` in `org` as the super_admin; returns (id, email, password).
    pub async fn create_user(&self, org: &str, role: &str) -> (String, String, String) {
        let admin = self.admin_token().await;
        let email = format!("{role}-{}@example.test", uuid::Uuid::now_v7().simple());
        let password = "a-long-password-1".to_string();
        let r = self
            .post(
                "/api/v1/users",
                &admin,
                json!({"email": email, "password": password, "full_name": format!("{role} user"), "role": role, "organization_id": org}),
            )
            .await
            .expect(201);
        (r.body["id"].as_str().expect("id").to_string(), email, password)
    }

    /// A new organization with one user of each tenant role, logged in.
    pub async fn tenant(&self, slug: &str) -> Tenant {
        let org = self.create_org(slug).await;
        let mut t = Tenant { org_id: org.clone(), ..Default::default() };
        for role in ["org_admin", "agent", "viewer"] {
            let (id, email, password) = self.create_user(&org, role).await;
            let token = self.token(&email, &password).await;
            let user = TenantUser { id, email, password, token };
            match role {
                "org_admin" => t.admin = user,
                "agent" => t.agent = user,
                _ => t.viewer = user,
            }
        }
        t
    }
}

#[derive(Default, Clone)]
pub struct TenantUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

#[derive(Default, Clone)]
pub struct Tenant {
    pub org_id: String,
    pub admin: TenantUser,
    pub agent: TenantUser,
    pub viewer: TenantUser,
}

// ---- Webhook helpers ----------------------------------------------------------------------------

/// The phone number id every fixture uses, and the app secret tests give it.
pub const PNID: &str = "106540352242922";
pub const APP_SECRET: &str = "fixture-app-secret";
pub const CONTACT: &str = "16505551234";

pub fn fixture(name: &str) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/meta").join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A text-message delivery for `contact` with a given wamid and body.
pub fn text_delivery(pnid: &str, contact: &str, wamid: &str, text: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "Tester"}, "wa_id": contact}],
        "messages": [{"from": contact, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": text}}]
    }}]}]})
    .to_string()
}

/// A status delivery for one of our messages.
pub fn status_delivery(pnid: &str, contact: &str, wamid: &str, status: &str, ts: i64) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
        "statuses": [{"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": contact}]
    }}]}]})
    .to_string()
}

impl TestApp {
    /// Posts a delivery signed with `secret`.
    pub async fn deliver(&self, body: &str, secret: &str) -> Reply {
        let signature = pytake::webhook::signature::sign(secret.as_bytes(), body.as_bytes());
        let r = self
            .client
            .post(self.url("/api/v1/webhooks/meta"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.to_string())
            .send()
            .await
            .expect("delivery sent");
        Reply::from(r).await
    }

    /// Registers a number with its own app secret in the token's organization.
    pub async fn create_number(&self, token: &str, pnid: &str, secret: Option<&str>) -> Value {
        let mut body = json!({"phone_number_id": pnid, "display_name": "Store", "verify_token": format!("vt-{pnid}")});
        if let Some(s) = secret {
            body["app_secret"] = json!(s);
        }
        self.post("/api/v1/whatsapp/numbers", token, body).await.expect(201).body
    }

    /// The organization's conversations (first page).
    pub async fn conversations(&self, token: &str) -> Vec<Value> {
        self.get("/api/v1/conversations?limit=200", token).await.expect(200).body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every message of a conversation, oldest first, following cursors.
    pub async fn messages(&self, token: &str, conversation_id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/conversations/{conversation_id}/messages?limit=200&cursor={c}"),
                None => format!("/api/v1/conversations/{conversation_id}/messages?limit=200"),
            };
            let page = self.get(&path, token).await.expect(200);
            all.extend(page.body["items"].as_array().cloned().unwrap_or_default());
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return all,
            }
        }
    }

    /// `/health/actors` (the test client is on loopback).
    pub async fn actor_health(&self) -> Value {
        Reply::from(self.client.get(self.url("/health/actors")).send().await.unwrap()).await.expect(200).body
    }

    /// Waits until the inbox has nothing pending.
    pub async fn drained(&self) {
        eventually("the inbox to drain", || async { self.actor_health().await["inbox_backlog"] == 0 }).await;
    }

    /// Runs raw SQL (test setup such as fault-injection triggers): the SQLite or the PostgreSQL text.
    pub async fn exec_sql(&self, sqlite: &str, postgres: &str) {
        match &self.state.db {
            pytake::db::Db::Sqlite(p) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_string())).execute(&p.pool).await.expect("sqlite setup");
            }
            pytake::db::Db::Postgres(p) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_string()))
                    .execute(&p.pool)
                    .await
                    .expect("postgres setup");
            }
        }
    }

    /// A single integer from SQL that is the same on both backends.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.state.db {
            pytake::db::Db::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&p.pool).await.expect("scalar")
            }
            pytake::db::Db::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&p.pool).await.expect("scalar")
            }
        }
    }
}

/// Polls `check` until it is true (10 s at most).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---- Flow and outbound helpers ------------------------------------------------------------------

pub use pytake_load::fake_graph::{FakeGraph, Fault, Recorded, StatusWebhook};

/// The access token test numbers send with (the fake Graph API checks it is present).
pub const ACCESS_TOKEN: &str = "EAAG-test-access-token";

/// A React-Flow node.
pub fn node(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": data})
}

/// React-Flow edges from `a->b` or `a:handle->b`.
pub fn edges(list: &[&str]) -> Value {
    Value::Array(
        list.iter()
            .enumerate()
            .map(|(i, spec)| {
                let (from, to) = spec.split_once("->").expect("a->b");
                let mut e = json!({"id": format!("e{i}"), "target": to});
                match from.split_once(':') {
                    Some((s, h)) => {
                        e["source"] = json!(s);
                        e["sourceHandle"] = json!(h);
                    }
                    None => e["source"] = json!(from),
                }
                e
            })
            .collect(),
    )
}

/// Overrides that point the app at a fake Graph API, with fast retries.
pub fn graph_overrides(fake: &FakeGraph) -> Vec<(&'static str, String)> {
    vec![
        ("PYTAKE__META__GRAPH_BASE_URL", fake.base_url.clone()),
        ("PYTAKE__META__GRAPH_TIMEOUT_SECS", "2".into()),
        ("PYTAKE__OUTBOUND__BACKOFF_SCALE", "0.02".into()),
        ("PYTAKE__FLOWS__TIMER_POLL_MS", "100".into()),
    ]
}

/// An app wired to `fake`, plus `extra` overrides.
pub async fn spawn_with_graph(fake: &FakeGraph, extra: &[(&str, &str)]) -> TestApp {
    let owned = graph_overrides(fake);
    let mut overrides: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.extend_from_slice(extra);
    spawn_app_with(&overrides).await
}

/// What `bot_setup` created.
pub struct Bot {
    pub number_id: String,
    pub flow_id: String,
    pub chatbot_id: String,
}

impl TestApp {
    /// Registers a number that can send (access token, own app secret).
    pub async fn sending_number(&self, token: &str, pnid: &str) -> String {
        let body = json!({"phone_number_id": pnid, "display_name": "Store", "verify_token": format!("vt-{pnid}"),
                          "app_secret": APP_SECRET, "access_token": ACCESS_TOKEN});
        self.post("/api/v1/whatsapp/numbers", token, body).await.expect(201).body["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Creates a flow, publishing it; returns its id.
    pub async fn published_flow(&self, token: &str, name: &str, nodes: Value, edges: Value, settings: Value) -> String {
        let flow = self
            .post("/api/v1/flows", token, json!({"name": name, "nodes": nodes, "edges": edges, "settings": settings}))
            .await
            .expect(201);
        let id = flow.body["id"].as_str().expect("id").to_string();
        self.post(&format!("/api/v1/flows/{id}/publish"), token, json!({})).await.expect(201);
        id
    }

    /// A number answering with a published flow through a default chatbot.
    pub async fn bot(&self, token: &str, pnid: &str, nodes: Value, edges: Value) -> Bot {
        self.bot_with_settings(token, pnid, nodes, edges, json!({})).await
    }

    pub async fn bot_with_settings(&self, token: &str, pnid: &str, nodes: Value, edges: Value, settings: Value) -> Bot {
        let number_id = self.sending_number(token, pnid).await;
        let flow_id = self.published_flow(token, "Main", nodes, edges, settings).await;
        let chatbot = self
            .post(
                "/api/v1/chatbots",
                token,
                json!({"name": "Bot", "number_ids": [number_id], "main_flow_id": flow_id, "triggers": {"default": true}}),
            )
            .await
            .expect(201);
        Bot { number_id, flow_id, chatbot_id: chatbot.body["id"].as_str().expect("id").to_string() }
    }

    /// The contact says `text` (a fresh wamid each time).
    pub async fn say(&self, pnid: &str, contact: &str, text: &str) {
        let wamid = format!("wamid.in.{}", uuid::Uuid::now_v7().simple());
        self.deliver(&text_delivery(pnid, contact, &wamid, text), APP_SECRET).await.expect(200);
    }

    /// The contact taps a reply button (`id`, `title`).
    pub async fn tap(&self, pnid: &str, contact: &str, id: &str, title: &str) {
        let body = interactive_delivery(
            pnid,
            contact,
            json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}),
        );
        self.deliver(&body, APP_SECRET).await.expect(200);
    }

    /// The contact picks a list row (`id`, `title`).
    pub async fn pick(&self, pnid: &str, contact: &str, id: &str, title: &str) {
        let body = interactive_delivery(
            pnid,
            contact,
            json!({"type": "list_reply", "list_reply": {"id": id, "title": title}}),
        );
        self.deliver(&body, APP_SECRET).await.expect(200);
    }
}

/// An interactive-reply delivery.
pub fn interactive_delivery(pnid: &str, contact: &str, interactive: Value) -> String {
    let wamid = format!("wamid.in.{}", uuid::Uuid::now_v7().simple());
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "Tester"}, "wa_id": contact}],
        "messages": [{"from": contact, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "interactive", "interactive": interactive}]
    }}]}]})
    .to_string()
}

/// Waits until the fake has accepted `n` messages to `contact`; returns their texts in order.
pub async fn bot_says(fake: &FakeGraph, contact: &str, n: usize) -> Vec<String> {
    let got = fake
        .wait_until(std::time::Duration::from_secs(10), |r| {
            r.iter().filter(|r| r.is_accepted_message() && r.recipient() == contact).count() >= n
        })
        .await;
    let all = got.unwrap_or_else(|r| {
        let texts: Vec<String> = r.iter().filter(|r| r.recipient() == contact).map(Recorded::text).collect();
        panic!("expected {n} messages to {contact}; the fake has {texts:?}")
    });
    all.iter().filter(|r| r.is_accepted_message() && r.recipient() == contact).map(Recorded::text).collect()
}

/// An app wired to `fake` whose database outlives it: stop it (close its pool, drop it) and start
/// another with `spawn_app_in(dir, settings, password)` on the same data.
pub async fn restartable(fake: &FakeGraph) -> (TempDir, Settings, String, TestApp) {
    let dir = tempfile::tempdir().expect("temp dir");
    let owned = graph_overrides(fake);
    let overrides: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (settings, password) = test_settings(dir.path(), &overrides).await;
    let first = spawn_app_in(tempfile::tempdir().expect("temp dir"), settings.clone(), password.clone()).await;
    (dir, settings, password, first)
}

/// A manual queue "Help" and a bot on `PNID` that asks for an order number, then hands off to it:
/// the setup of the reports, dashboard and archive tests. Returns the queue's id and the bot.
pub async fn order_bot(app: &TestApp, admin: &str) -> (String, Bot) {
    let queue = app.post("/api/v1/queues", admin, json!({"name": "Help", "strategy": "manual"})).await.expect(201).body
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let nodes = json!([
        node("s", "start", json!({})),
        node("ask", "question", json!({"content": "Your order number?", "variableName": "order"})),
        node("h", "handoff", json!({"handoffType": "queue", "queueId": queue})),
    ]);
    let bot = app.bot(admin, PNID, nodes, edges(&["s->ask", "ask:valid->h"])).await;
    (queue, bot)
}
