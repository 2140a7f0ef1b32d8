//! `/api/v1/campaigns`: template sends to an audience.

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::http::{ApiError, Json, ListQuery, Page};
use crate::routes::docs::ErrorBody;
use crate::services::campaigns::{self as svc, CampaignView, CreateCampaign, Progress};
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(start)
        .service(pause)
        .service(resume)
        .service(cancel)
        .service(progress)
        .service(audience)
        .service(recipients)
        .service(funnel);
}

/// The organization's campaigns.
#[utoipa::path(tag = "campaigns", params(ListQuery), responses((status = 200, body = Page<CampaignView>), (status = 403, body = ErrorBody)))]
#[get("/campaigns")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<CampaignView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// Create a campaign (a draft until started).
#[utoipa::path(tag = "campaigns", request_body = CreateCampaign, responses(
    (status = 201, body = CampaignView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/campaigns")]
async fn create(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    body: Json<CreateCampaign>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, &meta, body.into_inner()).await?))
}

/// One campaign.
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody)))]
#[get("/campaigns/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<CampaignView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Start a draft: the audience is resolved now; it sends at once or at `scheduled_at`.
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), responses(
    (status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/campaigns/{id}/start")]
async fn start(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<web::Json<CampaignView>, ApiError> {
    Ok(web::Json(svc::start(&state, &p, &meta, id.into_inner()).await?))
}

/// Pause sending.
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), responses((status = 200, body = CampaignView), (status = 409, body = ErrorBody)))]
#[post("/campaigns/{id}/pause")]
async fn pause(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<web::Json<CampaignView>, ApiError> {
    Ok(web::Json(svc::pause(&state, &p, &meta, id.into_inner()).await?))
}

/// Resume a paused campaign.
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), responses((status = 200, body = CampaignView), (status = 409, body = ErrorBody)))]
#[post("/campaigns/{id}/resume")]
async fn resume(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<web::Json<CampaignView>, ApiError> {
    Ok(web::Json(svc::resume(&state, &p, &meta, id.into_inner()).await?))
}

/// Cancel: the recipients not yet sent to never are.
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), responses((status = 200, body = CampaignView), (status = 409, body = ErrorBody)))]
#[post("/campaigns/{id}/cancel")]
async fn cancel(
    state: web::Data<AppState>,
    p: Principal,
    meta: RequestMeta,
    id: web::Path<Uuid>,
) -> Result<web::Json<CampaignView>, ApiError> {
    Ok(web::Json(svc::cancel(&state, &p, &meta, id.into_inner()).await?))
}

/// Recipients by where they are: pending, queued, sent, delivered, read, failed, replied, skipped.
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), responses((status = 200, body = Progress), (status = 404, body = ErrorBody)))]
#[get("/campaigns/{id}/progress")]
async fn progress(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<Progress>, ApiError> {
    Ok(web::Json(svc::progress(&state, &p, id.into_inner()).await?))
}

/// The campaign's funnel (the same counts, for the reports).
#[utoipa::path(tag = "analytics", params(("id" = Uuid, Path)), responses((status = 200, body = Progress), (status = 404, body = ErrorBody)))]
#[get("/analytics/campaigns/{id}")]
async fn funnel(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<Progress>, ApiError> {
    Ok(web::Json(svc::progress(&state, &p, id.into_inner()).await?))
}

/// Add contacts to a draft's audience from a CSV (`text/csv`, the contacts import's columns; the
/// contacts are created or updated as by `/contacts/import`).
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path)), request_body(content = String, content_type = "text/csv"), responses(
    (status = 200, body = svc::AudienceUpload), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)))]
#[post("/campaigns/{id}/audience")]
async fn audience(
    state: web::Data<AppState>,
    p: Principal,
    req: actix_web::HttpRequest,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<web::Json<svc::AudienceUpload>, ApiError> {
    crate::services::contacts_csv::check_content_type(
        req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
    )?;
    Ok(web::Json(svc::add_csv_audience(&state, &p, id.into_inner(), &body).await?))
}

/// Each recipient: pending, skipped (with why), cancelled, queued, sent, delivered, read, failed
/// (with Meta's error).
#[utoipa::path(tag = "campaigns", params(("id" = Uuid, Path), ListQuery), responses(
    (status = 200, body = Page<svc::RecipientView>), (status = 404, body = ErrorBody)))]
#[get("/campaigns/{id}/recipients")]
async fn recipients(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Page<svc::RecipientView>>, ApiError> {
    Ok(web::Json(svc::recipients(&state, &p, id.into_inner(), q.into_inner()).await?))
}
