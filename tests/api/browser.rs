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
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let run = tokio::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(&e2e)
        .env("E2E_BASE_URL", app.url(""))
        .env("E2E_CONTACT", contact)
        .env("E2E_PNID", PNID)
        .env("E2E_APP_SECRET", APP_SECRET)
        .env("E2E_SALES_EMAIL", &t.agent.email)
        .env("E2E_SALES_PASSWORD", &t.agent.password)
        .env("E2E_SUPPORT_EMAIL", &support_email)
        .env("E2E_SUPPORT_PASSWORD", &support_password)
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("the browser run finished").expect("node ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("console e2e: ok"), "{stdout}");
    // The reply reached WhatsApp (the fake), sent by the Sales agent.
    let replies: Vec<String> = fake.accepted().iter().filter(|r| r.recipient() == contact).map(|r| r.text()).collect();
    assert_eq!(replies, ["Hi! Let me check that for you."]);
}
