//! HTTP routes. Handlers are thin: extract, call a service, shape the response. Every route is
//! registered through `utoipa-actix-web`, so the OpenAPI document lists exactly what is served.

pub mod admin;
pub mod auth;
pub mod campaigns;
pub mod catalog;
pub mod chatbots;
pub mod console;
pub mod contacts;
pub mod conversations;
pub mod docs;
pub mod flows;
pub mod graphql;
pub mod health;
pub mod live;
pub mod numbers;
pub mod ops;
pub mod organizations;
pub mod queues;
pub mod reports;
pub mod templates;
pub mod users;
pub mod webhooks;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.configure(auth::routes)
        .configure(organizations::routes)
        .configure(users::routes)
        .configure(numbers::routes)
        .configure(webhooks::routes)
        .configure(conversations::routes)
        .configure(contacts::routes)
        .configure(chatbots::routes)
        .configure(flows::routes)
        .configure(queues::routes)
        .configure(catalog::routes)
        .configure(reports::routes)
        .configure(templates::routes)
        .configure(campaigns::routes)
        .configure(live::routes)
        .configure(docs::routes);
}

/// Every route of the application (health and ops at the root, the API under `/api/v1`).
pub fn all(cfg: &mut ServiceConfig) {
    cfg.configure(health::routes).configure(ops::routes).service(scope("/api/v1").configure(api_v1));
}
