//! `/api/v1/whatsapp/numbers`: the organization's WhatsApp numbers.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::numbers::{self as svc, CreateNumber, NumberView, UpdateNumber, WebhookSetup};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(get_one).service(update).service(delete_one).service(webhook_setup);
}

/// The organization's numbers (secrets are never returned: see the `has_*` flags).
#[utoipa::path(tag = "whatsapp", params(ListQuery), responses((status = 200, body = Page<NumberView>), (status = 403, body = ErrorBody)))]
#[get("/whatsapp/numbers")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<NumberView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// Register a number. Tokens and secrets are encrypted at rest and write-only.
#[utoipa::path(tag = "whatsapp", request_body = CreateNumber, responses(
    (status = 201, body = NumberView), (status = 403, body = ErrorBody), (status = 409, description = "phone_number_id taken", body = ErrorBody),
    (status = 422, body = ErrorBody)))]
#[post("/whatsapp/numbers")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateNumber>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, &meta, body.into_inner()).await?))
}

/// One number.
#[utoipa::path(tag = "whatsapp", params(("id" = Uuid, Path)), responses((status = 200, body = NumberView), (status = 404, body = ErrorBody)))]
#[get("/whatsapp/numbers/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<NumberView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Update a number: an absent field is kept, `null` clears it, a value sets it.
#[utoipa::path(tag = "whatsapp", params(("id" = Uuid, Path)), request_body = UpdateNumber, responses(
    (status = 200, body = NumberView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/whatsapp/numbers/{id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
    body: Json<UpdateNumber>,
) -> Result<web::Json<NumberView>, ApiError> {
    Ok(web::Json(svc::update(&state, &p, &meta, id.into_inner(), body.into_inner()).await?))
}

/// Delete (soft) a number: its deliveries are then acknowledged and ignored.
#[utoipa::path(tag = "whatsapp", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/whatsapp/numbers/{id}")]
async fn delete_one(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    svc::delete(&state, &p, &meta, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The callback URL and verify token to paste into Meta's App Dashboard (org_admin; audited).
#[utoipa::path(tag = "whatsapp", params(("id" = Uuid, Path)), responses((status = 200, body = WebhookSetup), (status = 404, body = ErrorBody)))]
#[get("/whatsapp/numbers/{id}/webhook-setup")]
async fn webhook_setup(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<web::Json<WebhookSetup>, ApiError> {
    let base = match state.settings.server.public_url.as_str() {
        "" => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
        url => url.to_string(),
    };
    Ok(web::Json(svc::webhook_setup(&state, &p, &meta, &base, id.into_inner()).await?))
}
