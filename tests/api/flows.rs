//! The flows and chatbots API: CRUD, validation that names the node and the field, publication as
//! immutable versions, export and import (including the original builder's JSON), the role matrix
//! and tenant isolation.

use crate::helpers::*;
use crate::matrix::{ADMINS, READERS_NO_AGENT, assert_cross_tenant_404, case, run_matrix};
use reqwest::Method;
use serde_json::{Value, json};

fn simple_flow() -> (Value, Value) {
    (json!([node("s", "start", json!({})), node("m", "end", json!({"content": "Hello"}))]), edges(&["s->m"]))
}

async fn create_flow(app: &TestApp, token: &str, nodes: Value, edges: Value) -> String {
    let r = app.post("/api/v1/flows", token, json!({"name": "F", "nodes": nodes, "edges": edges})).await.expect(201);
    r.body["id"].as_str().unwrap().to_string()
}

fn errors_of(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .or_else(|| body["error"]["details"]["errors"].as_array())
        .expect("errors")
        .iter()
        .map(|e| (e["node_id"].as_str().unwrap().to_string(), e["field"].as_str().unwrap().to_string()))
        .collect()
}

#[actix_web::test]
async fn flows_are_created_read_updated_listed_and_deleted() {
    let app = spawn_app().await;
    let t = app.tenant("flows-crud").await;
    let token = &t.admin.token;
    let (nodes, edges) = simple_flow();
    let created = app
        .post(
            "/api/v1/flows",
            token,
            json!({"name": " Welcome ", "nodes": nodes, "edges": edges, "viewport": {"x": 1, "y": 2, "zoom": 1}}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["name"], "Welcome");
    assert_eq!(created.body["latest_version"], 0);
    assert_eq!(created.body["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(created.body["viewport"]["zoom"], 1);

    let updated = app
        .put(&format!("/api/v1/flows/{id}"), token, json!({"name": "Greeting", "is_active": false}))
        .await
        .expect(200);
    assert_eq!(updated.body["name"], "Greeting");
    assert_eq!(updated.body["nodes"].as_array().unwrap().len(), 2, "absent fields are kept");
    let list = app.get("/api/v1/flows", token).await.expect(200);
    assert_eq!(list.body["items"][0]["node_count"], 2);
    assert_eq!(list.body["items"][0]["is_active"], false);

    // Bad input changes nothing.
    app.put(&format!("/api/v1/flows/{id}"), token, json!({"name": ""})).await.expect(422);
    app.put(&format!("/api/v1/flows/{id}"), token, json!({"settings": {"inactivity": "soon"}})).await.expect(422);
    let r = app.put(&format!("/api/v1/flows/{id}"), token, json!({"colour": "red"})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "colour");
    let r =
        app.post("/api/v1/flows", token, json!({"name": "x", "chatbot_id": uuid::Uuid::now_v7()})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "chatbot_id", "{}", r.body);
    assert_eq!(app.get(&format!("/api/v1/flows/{id}"), token).await.expect(200).body["name"], "Greeting");

    app.delete(&format!("/api/v1/flows/{id}"), token).await.expect(204);
    app.get(&format!("/api/v1/flows/{id}"), token).await.expect(404);
    assert!(app.get("/api/v1/flows", token).await.expect(200).body["items"].as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn validation_names_every_problem_by_node_and_field_and_blocks_publishing() {
    let app = spawn_app().await;
    let t = app.tenant("flows-validate").await;
    let token = &t.admin.token;
    let missing_queue = uuid::Uuid::now_v7();
    let nodes = json!([
        node("s", "start", json!({})),
        node("s2", "start", json!({})),
        node("q", "question", json!({"questionText": "", "variableName": "1bad name"})),
        node("b", "interactive_buttons", json!({"bodyText": "Pick", "buttons": [{"id": "a", "title": "A"}]})),
        node("h", "handoff", json!({"handoffType": "queue", "queueId": missing_queue})),
        node("lonely", "message", json!({"content": "nobody reaches me"})),
        node("ai", "ai_prompt", json!({"prompt": "hi"}))
    ]);
    let edges = edges(&["s->q", "q->b", "b:zzz->h", "b:a->ghost", "s2->ai"]);
    let id = create_flow(&app, token, nodes, edges).await;
    let report = app.post(&format!("/api/v1/flows/{id}/validate"), token, json!({})).await.expect(200);
    assert_eq!(report.body["valid"], false);
    let errors = errors_of(&report.body);
    for (node, field) in [("q", "content"), ("q", "variableName"), ("h", "queueId"), ("lonely", ""), ("ai", "type")] {
        assert!(
            errors.iter().any(|(n, f)| n == node && (field.is_empty() || f == field)),
            "expected an error on {node}.{field}; got {errors:?}"
        );
    }
    assert!(errors.iter().any(|(n, _)| n == "b"), "the branch handle zzz matches no button: {errors:?}");
    assert!(errors.iter().any(|(n, _)| n == "s2" || n == "s"), "two start nodes: {errors:?}");
    let messages: Vec<String> =
        report.body["errors"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert!(messages.iter().all(|m| !m.is_empty()));

    // Publishing refuses with the same errors, and makes no version.
    let r = app.post(&format!("/api/v1/flows/{id}/publish"), token, json!({})).await.expect(422);
    assert_eq!(r.code(), "flow_invalid");
    assert_eq!(errors_of(&r.body), errors);
    assert!(
        app.get(&format!("/api/v1/flows/{id}/versions"), token).await.expect(200).body.as_array().unwrap().is_empty()
    );

    // A valid flow validates clean.
    let (nodes, edges) = simple_flow();
    let ok = create_flow(&app, token, nodes, edges).await;
    let report = app.post(&format!("/api/v1/flows/{ok}/validate"), token, json!({})).await.expect(200);
    assert_eq!(report.body, json!({"valid": true, "errors": []}));
}

#[actix_web::test]
async fn published_versions_are_immutable_and_numbered() {
    let app = spawn_app().await;
    let t = app.tenant("flows-versions").await;
    let token = &t.admin.token;
    let (nodes, edges) = simple_flow();
    let id = create_flow(&app, token, nodes, edges).await;
    let v1 = app.post(&format!("/api/v1/flows/{id}/publish"), token, json!({})).await.expect(201);
    assert_eq!(v1.body["version"], 1);
    let changed = json!([node("s", "start", json!({})), node("m", "end", json!({"content": "Changed"}))]);
    app.put(&format!("/api/v1/flows/{id}"), token, json!({"nodes": changed})).await.expect(200);
    let v2 = app.post(&format!("/api/v1/flows/{id}/publish"), token, json!({})).await.expect(201);
    assert_eq!(v2.body["version"], 2);
    let flow = app.get(&format!("/api/v1/flows/{id}"), token).await.expect(200);
    assert_eq!(flow.body["latest_version"], 2);
    assert_eq!(flow.body["published_version_id"], v2.body["id"]);
    let versions = app.get(&format!("/api/v1/flows/{id}/versions"), token).await.expect(200);
    let numbers: Vec<i64> = versions.body.as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [2, 1]);
    // Each version says what it changed against the one before.
    assert_eq!(versions.body[1]["changes"]["first"], true);
    assert_eq!(v2.body["changes"], versions.body[0]["changes"]);
    let c = &v2.body["changes"];
    assert_eq!(
        (c["first"].as_bool(), c["nodes_changed"].as_i64(), c["nodes_added"].as_i64()),
        (Some(false), Some(1), Some(0)),
        "{c}"
    );
}

#[actix_web::test]
async fn flows_export_and_import_including_the_original_builders_json() {
    let app = spawn_app().await;
    let t = app.tenant("flows-io").await;
    let token = &t.admin.token;
    let (nodes, edges) = simple_flow();
    let id = create_flow(&app, token, nodes, edges).await;
    let exported = app.get(&format!("/api/v1/flows/{id}/export"), token).await.expect(200).body;
    assert_eq!(exported["format"], "pytake-flow/1");
    let imported = app.post("/api/v1/flows/import", token, exported.clone()).await.expect(201);
    assert_ne!(imported.body["id"], json!(id));
    assert_eq!(imported.body["nodes"], exported["nodes"]);

    // The original builder's document: canvas_data, legacy field names, branches by label.
    let original = json!({"flow": {"name": "Legacy lead flow", "canvas_data": {
    "nodes": [
        {"id": "n1", "type": "default", "position": {"x": 0, "y": 0}, "data": {"nodeType": "start", "label": "Start"}},
        {"id": "n2", "type": "default", "position": {"x": 0, "y": 100}, "data": {"nodeType": "question", "questionText": "Your email?",
            "responseType": "email", "outputVariable": "email"}},
        {"id": "n3", "type": "default", "position": {"x": 0, "y": 200}, "data": {"nodeType": "condition",
            "conditions": [{"variable": "email", "operator": "ends_with", "value": ".gov"}]}},
        {"id": "n4", "type": "default", "position": {"x": 0, "y": 300}, "data": {"nodeType": "message", "messageText": "Public sector!"}},
        {"id": "n5", "type": "default", "position": {"x": 0, "y": 300}, "data": {"nodeType": "end", "content": "Thanks"}}
    ],
    "edges": [
        {"id": "e1", "source": "n1", "target": "n2"},
        {"id": "e2", "source": "n2", "target": "n3"},
        {"id": "e3", "source": "n3", "target": "n4", "label": "true"},
        {"id": "e4", "source": "n3", "target": "n5", "label": "false"},
        {"id": "e5", "source": "n4", "target": "n5"}
    ]}}});
    let legacy = app.post("/api/v1/flows/import", token, original).await.expect(201);
    assert_eq!(legacy.body["name"], "Legacy lead flow");
    let legacy_id = legacy.body["id"].as_str().unwrap();
    let report = app.post(&format!("/api/v1/flows/{legacy_id}/validate"), token, json!({})).await.expect(200);
    assert_eq!(report.body["valid"], true, "{}", report.body);
    app.post(&format!("/api/v1/flows/{legacy_id}/publish"), token, json!({})).await.expect(201);

    // Not a flow at all.
    let r = app.post("/api/v1/flows/import", token, json!({"hello": "world"})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "nodes");
}

#[actix_web::test]
async fn chatbots_bind_numbers_and_flows_of_their_own_organization() {
    let app = spawn_app().await;
    let t = app.tenant("bots").await;
    let other = app.tenant("bots-other").await;
    let token = &t.admin.token;
    let number = app.create_number(token, PNID, Some(APP_SECRET)).await["id"].as_str().unwrap().to_string();
    let (nodes, edges) = simple_flow();
    let flow = create_flow(&app, token, nodes.clone(), edges.clone()).await;
    let foreign_flow = create_flow(&app, &other.admin.token, nodes, edges).await;

    let bot = app
        .post(
            "/api/v1/chatbots",
            token,
            json!({"name": "Sales bot", "number_ids": [number], "main_flow_id": flow,
            "triggers": {"keywords": ["buy"], "default": true}}),
        )
        .await
        .expect(201);
    let id = bot.body["id"].as_str().unwrap();
    assert_eq!(bot.body["number_ids"], json!([number]));
    assert_eq!(bot.body["triggers"]["keywords"], json!(["buy"]));
    // Another tenant's flow, an unknown number, a bad keyword: 422 naming the field, nothing stored.
    let r = app.post("/api/v1/chatbots", token, json!({"name": "x", "main_flow_id": foreign_flow})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "main_flow_id");
    let r = app
        .post("/api/v1/chatbots", token, json!({"name": "x", "number_ids": [uuid::Uuid::now_v7()]}))
        .await
        .expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "number_ids[0]");
    let r = app.post("/api/v1/chatbots", token, json!({"name": "x", "triggers": {"keywords": [""]}})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "triggers.keywords[0]");
    let r =
        app.post("/api/v1/chatbots", token, json!({"name": "x", "triggers": {"sometimes": true}})).await.expect(422);
    assert_eq!(r.body["error"]["details"]["fields"][0]["field"], "triggers.sometimes");
    assert_eq!(app.get("/api/v1/chatbots", token).await.expect(200).body["items"].as_array().unwrap().len(), 1);

    let updated = app
        .put(&format!("/api/v1/chatbots/{id}"), token, json!({"main_flow_id": null, "is_active": false}))
        .await
        .expect(200);
    assert_eq!(updated.body["main_flow_id"], Value::Null);
    assert_eq!(updated.body["is_active"], false);
    assert_eq!(updated.body["number_ids"], json!([number]), "absent fields are kept");
    app.delete(&format!("/api/v1/chatbots/{id}"), token).await.expect(204);
    app.get(&format!("/api/v1/chatbots/{id}"), token).await.expect(404);
}

#[actix_web::test]
async fn flow_and_chatbot_routes_obey_the_role_matrix_and_tenancy() {
    let app = spawn_app().await;
    let t = app.tenant("flows-matrix").await;
    let other = app.tenant("flows-matrix-other").await;
    let (nodes, edges) = simple_flow();
    let flow = create_flow(&app, &t.admin.token, nodes.clone(), edges.clone()).await;
    let victim = create_flow(&app, &t.admin.token, nodes.clone(), edges.clone()).await;
    let bot = app.post("/api/v1/chatbots", &t.admin.token, json!({"name": "B"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let new_flow = json!({"name": "N", "nodes": nodes, "edges": edges});
    let cases = vec![
        case(Method::GET, "/api/v1/flows", None, READERS_NO_AGENT),
        case(Method::POST, "/api/v1/flows", Some(new_flow.clone()), ADMINS),
        case(Method::GET, format!("/api/v1/flows/{flow}"), None, READERS_NO_AGENT),
        case(Method::PUT, format!("/api/v1/flows/{flow}"), Some(json!({"name": "M"})), ADMINS),
        case(Method::POST, format!("/api/v1/flows/{flow}/validate"), None, READERS_NO_AGENT),
        case(Method::POST, format!("/api/v1/flows/{flow}/publish"), None, ADMINS),
        case(Method::GET, format!("/api/v1/flows/{flow}/versions"), None, READERS_NO_AGENT),
        case(Method::GET, format!("/api/v1/flows/{flow}/export"), None, READERS_NO_AGENT),
        case(Method::POST, "/api/v1/flows/import", Some(new_flow), ADMINS),
        case(Method::DELETE, format!("/api/v1/flows/{victim}"), None, ADMINS),
        case(Method::GET, "/api/v1/chatbots", None, READERS_NO_AGENT),
        case(Method::POST, "/api/v1/chatbots", Some(json!({"name": "C"})), ADMINS),
        case(Method::GET, format!("/api/v1/chatbots/{bot}"), None, READERS_NO_AGENT),
        case(Method::PUT, format!("/api/v1/chatbots/{bot}"), Some(json!({"name": "D"})), ADMINS),
    ];
    run_matrix(&app, &t, &cases).await;

    let routes = vec![
        (Method::GET, format!("/api/v1/flows/{flow}"), None),
        (Method::PUT, format!("/api/v1/flows/{flow}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/v1/flows/{flow}"), None),
        (Method::POST, format!("/api/v1/flows/{flow}/validate"), Some(json!({}))),
        (Method::POST, format!("/api/v1/flows/{flow}/publish"), Some(json!({}))),
        (Method::GET, format!("/api/v1/flows/{flow}/versions"), None),
        (Method::GET, format!("/api/v1/flows/{flow}/export"), None),
        (Method::GET, format!("/api/v1/chatbots/{bot}"), None),
        (Method::PUT, format!("/api/v1/chatbots/{bot}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/v1/chatbots/{bot}"), None),
    ];
    assert_cross_tenant_404(&app, &other, &routes).await;
    assert_eq!(app.get(&format!("/api/v1/flows/{flow}"), &t.admin.token).await.expect(200).body["name"], "M");
}

#[actix_web::test]
async fn the_simulator_runs_a_draft_with_mocked_apis_and_timers_fired_by_hand() {
    let app = spawn_app().await;
    let t = app.tenant("simulator").await;
    let admin = &t.admin.token;
    let nodes = json!([
        node("s", "start", json!({})),
        node("q", "question", json!({"content": "Your name?", "variableName": "name", "timeoutSeconds": 60})),
        node(
            "api",
            "api_call",
            json!({"method": "GET", "url": "https://crm.example.com/score?n={{name}}", "responseVariable": "crm"})
        ),
        node("hi", "message", json!({"messageText": "Hi {{name}}, score {{crm.body.score}}"})),
        node("down", "message", json!({"messageText": "CRM down"})),
        node("late", "message", json!({"messageText": "Still there?"})),
    ]);
    let flow = app
        .post("/api/v1/flows", admin, json!({"name": "Sim", "nodes": nodes, "edges": edges(&["s->q", "q:valid->api", "q:timeout->late", "api:success->hi", "api:error->down"])}))
        .await
        .expect(201);
    let id = flow.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/flows/{id}/simulate");

    let started = app.post(&path, admin, json!({})).await.expect(200).body;
    let session = started["session_id"].as_str().unwrap().to_string();
    assert_eq!(started["effects"][0]["effect"], "send");
    assert_eq!(started["effects"][0]["message"]["body"], "Your name?", "{started}");
    assert_eq!(started["status"], "waiting");
    assert_eq!(started["current_node"], "q");
    assert_eq!(started["pending_timers"][0]["kind"], "question_timeout");

    let answered = app
        .post(&path, admin, json!({"session_id": session, "input": {"text": "Ana"}, "api_mocks": {"api": {"status": 200, "body": {"score": 7}}}}))
        .await
        .expect(200)
        .body;
    let kinds: Vec<&str> =
        answered["effects"].as_array().unwrap().iter().map(|e| e["effect"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"call_api"), "{answered}");
    let said: Vec<&str> =
        answered["effects"].as_array().unwrap().iter().filter_map(|e| e["message"]["body"].as_str()).collect();
    assert_eq!(said, ["Hi Ana, score 7"]);
    assert_eq!(answered["variables"]["name"], "Ana");

    // Without a mock the API call fails (nothing is called); a timer fires by hand.
    let other = app.post(&path, admin, json!({})).await.expect(200).body["session_id"].as_str().unwrap().to_string();
    let fired = app.post(&path, admin, json!({"session_id": other, "fire_timer": true})).await.expect(200).body;
    assert_eq!(
        fired["effects"].as_array().unwrap().iter().find_map(|e| e["message"]["body"].as_str()),
        Some("Still there?")
    );
    app.post(&path, admin, json!({"session_id": other, "fire_timer": true})).await.expect(409);
    let third = app.post(&path, admin, json!({})).await.expect(200).body["session_id"].as_str().unwrap().to_string();
    let unmocked = app.post(&path, admin, json!({"session_id": third, "input": {"text": "Bo"}})).await.expect(200).body;
    assert!(unmocked["effects"].as_array().unwrap().iter().any(|e| e["message"]["body"] == "CRM down"), "{unmocked}");

    // Bad requests, roles, tenancy; and nothing reached a conversation.
    app.post(&path, admin, json!({"input": {"text": "x"}})).await.expect(422);
    app.post(&path, admin, json!({"session_id": uuid::Uuid::now_v7()})).await.expect(404);
    app.post(&path, &t.viewer.token, json!({})).await.expect(403);
    let b = app.tenant("simulator-other").await;
    app.post(&path, &b.admin.token, json!({})).await.expect(404);
    app.post(&path, &b.admin.token, json!({"session_id": session, "input": {"text": "x"}})).await.expect(404);
    assert_eq!(app.conversations(admin).await.len(), 0);
}
