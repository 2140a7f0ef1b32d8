//! Reports by SQL on both backends: totals and percentiles, by day, per agent, per queue, and a
//! flow's funnel with where its runs stopped.

use crate::helpers::*;
use crate::matrix::{READERS_NO_AGENT, assert_cross_tenant_404, case, run_matrix};
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn reports_count_conversations_times_agents_queues_and_flow_drop_off() {
    let fake = FakeGraph::start().unwrap();
    let app = spawn_with_graph(&fake, &[]).await;
    let t = app.tenant("reports").await;
    let admin = &t.admin.token;
    let (_, bot) = order_bot(&app, admin).await;

    // One customer answers and is handed off; the other never answers.
    app.say(PNID, "5511933330001", "hi").await;
    app.say(PNID, "5511933330002", "hi").await;
    bot_says(&fake, "5511933330001", 1).await;
    bot_says(&fake, "5511933330002", 1).await;
    app.say(PNID, "5511933330001", "A-1234").await;
    app.drained().await;
    let taken = app.post("/api/v1/conversations/take-next", &t.agent.token, json!({})).await.expect(200);
    let conv = taken.body["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/conversations/{conv}/messages"),
        &t.agent.token,
        json!({"type": "text", "text": "On it"}),
    )
    .await
    .expect(201);
    app.post(&format!("/api/v1/conversations/{conv}/close"), &t.agent.token, json!({})).await.expect(200);

    let o = app.get("/api/v1/analytics/overview", admin).await.expect(200).body;
    assert_eq!(o["conversations_opened"], 2, "{o}");
    assert_eq!(o["conversations_closed"], 1);
    assert_eq!(o["open_now"], 1);
    assert_eq!(o["messages_in"], 3);
    assert_eq!(o["messages_out"], 3, "two questions and the agent's reply: {o}");
    assert_eq!(o["first_response_secs"]["count"], 1);
    assert!(o["first_response_secs"]["p50"].as_f64().unwrap() >= 0.0);
    assert_eq!(o["resolution_secs"]["count"], 1);

    let days = app.get("/api/v1/analytics/conversations", admin).await.expect(200).body;
    assert_eq!(days.as_array().unwrap().len(), 1, "{days}");
    assert_eq!(days[0]["opened"], 2);
    assert_eq!(days[0]["day"].as_str().unwrap().len(), 10);

    let agents = app.get("/api/v1/analytics/agents", admin).await.expect(200).body;
    let mine =
        agents.as_array().unwrap().iter().find(|a| a["agent_id"] == t.agent.id.as_str()).expect("the agent").clone();
    assert_eq!(mine["assigned"], 1, "{mine}");
    assert_eq!(mine["closed"], 1);
    assert_eq!(mine["first_response_secs"]["count"], 1);

    let queues = app.get("/api/v1/analytics/queues", admin).await.expect(200).body;
    assert_eq!(queues[0]["queued"], 1, "{queues}");
    assert_eq!(queues[0]["waiting_now"], 0);

    let f = app.get(&format!("/api/v1/analytics/flows/{}", bot.flow_id), admin).await.expect(200).body;
    assert_eq!(f["started"], 2, "{f}");
    assert_eq!(f["handed_off"], 1);
    assert_eq!(f["completion_rate"], 0.0);
    assert_eq!(f["waiting_at"], json!({"ask": 1}), "the silent customer stopped at the question");
    assert_eq!(f["handoffs_at"], json!({"h": 1}));

    // A period with nothing in it, a bad period, roles, tenancy.
    let empty = app
        .get("/api/v1/analytics/overview?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", admin)
        .await
        .expect(200);
    assert_eq!(empty.body["conversations_opened"], 0);
    assert_eq!(empty.body["first_response_secs"]["p50"], serde_json::Value::Null);
    app.get("/api/v1/analytics/overview?from=2021-01-02T00:00:00Z&to=2021-01-01T00:00:00Z", admin).await.expect(422);
    let readers = READERS_NO_AGENT;
    run_matrix(
        &app,
        &t,
        &[
            case(Method::GET, "/api/v1/analytics/overview", None, readers),
            case(Method::GET, "/api/v1/analytics/agents", None, readers),
            case(Method::GET, format!("/api/v1/analytics/flows/{}", bot.flow_id), None, readers),
        ],
    )
    .await;
    let b = app.tenant("reports-other").await;
    assert_cross_tenant_404(&app, &b, &[(Method::GET, format!("/api/v1/analytics/flows/{}", bot.flow_id), None)]).await;
    assert_eq!(app.get("/api/v1/analytics/overview", &b.admin.token).await.expect(200).body["conversations_opened"], 0);
}
