//! The browser console end to end, in headless Chromium driven by Playwright
//! (`tests/e2e/console.mjs`): two agents, a webhook, the right agent sees it live and replies, the
//! fake Graph API receives the reply and the status tick updates. Needs `chromium` and
//! `npm install --prefix tests/e2e` (`.ci/run` installs both); skipped with a printed reason
//! when either is missing.

use crate::helpers::*;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn missing_tools() -> Option<String> {
    let chromium = std::env::var("E2E_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if !e2e.join("node_modules/playwright-core").exists() {
        return Some("playwright-core is missing (npm install --prefix tests/e2e)".into());
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Some("node is missing".into());
    }
    None
}

/// Runs a script of tests/e2e with node and returns its stdout; panics with both streams when it fails.
async fn run_node(script: &str, vars: &[(&str, String)]) -> String {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let mut command = tokio::process::Command::new("node");
    command.arg(script).current_dir(&e2e).kill_on_drop(true);
    for (key, value) in vars {
        command.env(key, value);
    }
    let out = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the browser run finished")
        .expect("node ran");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    stdout
}

#[actix_web::test]
async fn two_agents_in_chromium_the_right_one_answers_live() {
    if let Some(reason) = missing_tools() {
        eprintln!("SKIPPED two_agents_in_chromium_the_right_one_answers_live: {reason}");
        return;
    }
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    fake.set_status_webhook(Some(StatusWebhook::new(app.url("/api/v1/webhooks/meta"), APP_SECRET)));
    let t = app.tenant("browser").await;
    let admin = &t.admin.token;
    let (support_agent, support_email, support_password) = app.create_user(&t.org_id, "agent").await;
    let sales =
        app.post("/api/v1/departments", admin, json!({"name": "Sales", "agent_ids": [t.agent.id]})).await.expect(201);
    app.post("/api/v1/departments", admin, json!({"name": "Support", "agent_ids": [support_agent]})).await.expect(201);
    let queue = app
        .post("/api/v1/queues", admin, json!({"name": "Sales", "department_id": sales.body["id"]}))
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let nodes =
        json!(
            [node("s", "start", json!({})), node("h", "handoff", json!({"handoffType": "queue", "queueId": queue})),]
        );
    app.bot(admin, PNID, nodes, edges(&["s->h"])).await;

    let contact = "5511966660001";
    let stdout = run_node(
        "console.mjs",
        &[
            ("E2E_BASE_URL", app.url("")),
            ("E2E_CONTACT", contact.into()),
            ("E2E_PNID", PNID.into()),
            ("E2E_APP_SECRET", APP_SECRET.into()),
            ("E2E_SALES_EMAIL", t.agent.email.clone()),
            ("E2E_SALES_PASSWORD", t.agent.password.clone()),
            ("E2E_SUPPORT_EMAIL", support_email),
            ("E2E_SUPPORT_PASSWORD", support_password),
        ],
    )
    .await;
    assert!(stdout.contains("console e2e: ok"), "{stdout}");
    // The reply reached WhatsApp (the fake), sent by the Sales agent.
    let replies: Vec<String> = fake.accepted().iter().filter(|r| r.recipient() == contact).map(|r| r.text()).collect();
    assert_eq!(replies, ["Hi! Let me check that for you."]);
}

#[actix_web::test]
async fn the_canvas_model_passes_its_unit_tests() {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        eprintln!("SKIPPED the_canvas_model_passes_its_unit_tests: node is missing");
        return;
    }
    let stdout = run_node("--test", &[]).await;
    assert!(stdout.contains("# fail 0") && !stdout.contains("# pass 0"), "{stdout}");
}

#[actix_web::test]
async fn an_admin_builds_publishes_simulates_and_round_trips_a_flow_in_chromium() {
    if let Some(reason) = missing_tools() {
        eprintln!("SKIPPED an_admin_builds_publishes_simulates_and_round_trips_a_flow_in_chromium: {reason}");
        return;
    }
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("builder").await;
    let admin = &t.admin.token;
    // Some activity for the dashboard: a bot that asks and hands off, two customers, one served and closed.
    order_bot(&app, admin).await;
    app.say(PNID, "5511944440001", "hi").await;
    app.say(PNID, "5511944440002", "hi").await;
    bot_says(&fake, "5511944440001", 1).await;
    app.say(PNID, "5511944440001", "A-1234").await;
    app.drained().await;
    let taken = app.post("/api/v1/conversations/take-next", &t.agent.token, json!({})).await.expect(200);
    let conv = taken.body["id"].as_str().unwrap().to_string();
    let reply = json!({"type": "text", "text": "On it"});
    app.post(&format!("/api/v1/conversations/{conv}/messages"), &t.agent.token, reply).await.expect(201);
    app.post(&format!("/api/v1/conversations/{conv}/close"), &t.agent.token, json!({})).await.expect(200);
    let stdout = run_node(
        "admin.mjs",
        &[
            ("E2E_BASE_URL", app.url("")),
            ("E2E_ADMIN_EMAIL", t.admin.email.clone()),
            ("E2E_ADMIN_PASSWORD", t.admin.password.clone()),
            ("E2E_VIEWER_EMAIL", t.viewer.email.clone()),
            ("E2E_VIEWER_PASSWORD", t.viewer.password.clone()),
        ],
    )
    .await;
    assert!(stdout.contains("admin e2e: ok"), "{stdout}");
    // What the browser built is on the server: published once, and it runs as drawn.
    let flows = app.get("/api/v1/flows?limit=50", admin).await.expect(200).body;
    let lead = flows["items"].as_array().unwrap().iter().find(|f| f["name"] == "Lead qualification").expect("the flow");
    assert_eq!(lead["latest_version"], 1);
    let id = lead["id"].as_str().unwrap();
    let versions = app.get(&format!("/api/v1/flows/{id}/versions"), admin).await.expect(200).body;
    assert_eq!(versions[0]["changes"]["first"], true);
    assert_eq!(versions[0]["changes"]["nodes_added"], 5);
    let path = format!("/api/v1/flows/{id}/simulate");
    let started = app.post(&path, admin, json!({})).await.expect(200).body;
    assert_eq!(started["effects"][0]["message"]["body"], "Are you looking to buy?");
}

#[actix_web::test]
async fn the_console_and_the_admin_app_are_served_with_a_strict_policy_and_nothing_else() {
    let app = spawn_app().await;
    let pages = ["/", "/admin", "/admin/", "/console/app.js", "/console/app.css"];
    let modules =
        ["app.js", "api.js", "model.js", "canvas.js", "builder.js", "simulator.js", "settings.js", "dashboard.js"];
    let admin_assets: Vec<String> =
        modules.iter().map(|m| format!("/admin/{m}")).chain(["/admin/admin.css".to_string()]).collect();
    for path in pages.iter().map(|p| p.to_string()).chain(admin_assets) {
        let r = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let policy = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        let body = r.text().await.unwrap();
        if path.ends_with(".js") {
            assert!(kind.starts_with("text/javascript"), "{path}: {kind}");
        }
        // Every module the page imports is one we serve.
        for import in body.lines().filter_map(|l| l.strip_prefix("import ")).filter_map(|l| l.split("\"./").nth(1)) {
            let file = import.split('"').next().unwrap();
            assert!(modules.contains(&file), "{path} imports {file}, which is not served");
        }
    }
    for missing in ["/admin/nope.js", "/admin/..%2FCargo.toml", "/admin/index.html%00.js"] {
        assert_eq!(app.client.get(app.url(missing)).send().await.unwrap().status(), 404, "{missing}");
    }
}
