//! The OpenAPI document (`/api/v1/openapi.json`), computed once at start from the registered routes,
//! and a self-contained docs page (`/api/v1/docs`) that renders it without fetching anything from
//! the internet.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// The error envelope every failure uses.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `validation_failed`, `not_found`, `rate_limited`.
    pub code: String,
    /// Human-readable text.
    pub message: String,
    /// Structured detail, e.g. `{"fields": [{"field": "email", "message": "..."}]}` for 422.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PyTake API",
        description = "Multi-tenant WhatsApp Business automation server. Authenticate with \
            `POST /api/v1/auth/login`, then send `Authorization: Bearer <access_token>`. \
            A super_admin may act in another organization with `X-Organization-Id`. \
            Errors use `{\"error\": {\"code\", \"message\", \"details\"}}`; lists use \
            `?limit=&cursor=` and return `{\"items\", \"next_cursor\"}`."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "ops",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("ops.token; without one configured, loopback clients only"))
                    .build(),
            ),
        );
    }
}

/// The serialized document, shared with the handler.
pub struct OpenApiJson(pub String);

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(openapi_json).service(docs_page);
}

/// This document.
#[utoipa::path(tag = "docs", security(()), responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/openapi.json")]
async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}

/// A page that renders this document for humans.
#[utoipa::path(tag = "docs", security(()), responses((status = 200, description = "HTML")))]
#[get("/docs")]
async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        ))
        .body(include_str!("docs.html"))
}
