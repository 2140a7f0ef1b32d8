//! The role matrix for every business-API and console route not covered beside its feature: each
//! role against each route (allowed: neither 401 nor 403; otherwise 403).

use crate::helpers::*;
use crate::matrix::{ADMINS, ALL, READERS_NO_AGENT, WRITERS, case, run_matrix};
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn business_and_console_routes_obey_the_role_matrix() {
    let app = spawn_app().await;
    let t = app.tenant("bmatrix").await;
    let admin = &t.admin.token;
    let number = app.create_number(admin, PNID, Some(APP_SECRET)).await["id"].as_str().unwrap().to_string();
    let contact = app.post("/api/v1/contacts", admin, json!({"wa_id": "5511912340000"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tag = app.post("/api/v1/tags", admin, json!({"name": "m"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let canned =
        app.post("/api/v1/canned-responses", admin, json!({"shortcut": "m", "text": "m"})).await.expect(201).body["id"]
            .as_str()
            .unwrap()
            .to_string();
    let templates = format!("/api/v1/whatsapp/numbers/{number}/templates");
    let template_body =
        json!({"name": "m", "language": "pt_BR", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]});
    let template =
        app.post(&templates, admin, template_body.clone()).await.expect(201).body["id"].as_str().unwrap().to_string();
    let campaign = app
        .post(
            "/api/v1/campaigns",
            admin,
            json!({"name": "m", "number_id": number, "template_id": template, "audience": {"contact_ids": [contact]}}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dept = app.post("/api/v1/departments", admin, json!({"name": "m"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let queue = app.post("/api/v1/queues", admin, json!({"name": "m"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let cases = vec![
        case(Method::GET, "/api/v1/contacts/export", None, ALL),
        case(Method::POST, format!("/api/v1/contacts/{contact}/block"), Some(json!({})), WRITERS),
        case(Method::POST, format!("/api/v1/contacts/{contact}/unblock"), None, WRITERS),
        case(Method::DELETE, format!("/api/v1/contacts/{contact}/tags/none"), None, WRITERS),
        case(
            Method::PUT,
            format!("/api/v1/canned-responses/{canned}"),
            Some(json!({"shortcut": "m", "text": "n"})),
            ADMINS,
        ),
        case(Method::GET, "/api/v1/tags", None, ALL),
        case(Method::PUT, format!("/api/v1/tags/{tag}"), Some(json!({"name": "m"})), ADMINS),
        case(Method::GET, templates.clone(), None, ALL),
        case(Method::PUT, format!("{templates}/{template}"), Some(template_body), ADMINS),
        case(Method::POST, format!("{templates}/{template}/submit"), Some(json!({})), ADMINS),
        case(Method::POST, format!("{templates}/sync"), Some(json!({})), ADMINS),
        case(Method::GET, format!("/api/v1/campaigns/{campaign}"), None, READERS_NO_AGENT),
        case(Method::GET, format!("/api/v1/campaigns/{campaign}/recipients"), None, READERS_NO_AGENT),
        case(Method::POST, format!("/api/v1/campaigns/{campaign}/pause"), Some(json!({})), ADMINS),
        case(Method::POST, format!("/api/v1/campaigns/{campaign}/resume"), Some(json!({})), ADMINS),
        case(Method::GET, "/api/v1/analytics/conversations", None, READERS_NO_AGENT),
        case(Method::GET, "/api/v1/analytics/queues", None, READERS_NO_AGENT),
        case(Method::GET, format!("/api/v1/analytics/campaigns/{campaign}"), None, READERS_NO_AGENT),
        case(Method::GET, "/api/v1/audit", None, ADMINS),
        case(Method::DELETE, format!("/api/v1/queues/{queue}"), None, ADMINS),
        case(Method::DELETE, format!("/api/v1/departments/{dept}"), None, ADMINS),
        case(Method::GET, "/api/v1/conversations", None, ALL),
    ];
    run_matrix(&app, &t, &cases).await;
}
