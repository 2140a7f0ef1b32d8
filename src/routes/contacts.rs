//! `/api/v1/contacts`: the people who write to the organization.

use crate::auth::Principal;
use crate::http::Json;
use crate::http::{ApiError, Page};
use crate::routes::conversations::TagBody;
use crate::routes::docs::ErrorBody;
use crate::services::contacts::{self as svc, ContactListQuery, ContactView, CreateContact, UpdateContact};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(import)
        .service(export)
        .service(create)
        .service(get_one)
        .service(update)
        .service(delete_one)
        .service(block)
        .service(unblock)
        .service(list_tags)
        .service(add_tag)
        .service(remove_tag);
}

/// Contacts (filters: wa_id, query over name/number/email, tag).
#[utoipa::path(tag = "contacts", params(ContactListQuery), responses((status = 200, body = Page<ContactView>), (status = 422, body = ErrorBody)))]
#[get("/contacts")]
async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ContactListQuery>,
) -> Result<web::Json<Page<ContactView>>, ApiError> {
    Ok(web::Json(svc::list(&state, &p, q.into_inner()).await?))
}

/// One contact.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), responses((status = 200, body = ContactView), (status = 404, body = ErrorBody)))]
#[get("/contacts/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ContactView>, ApiError> {
    Ok(web::Json(svc::get(&state, &p, id.into_inner()).await?))
}

/// Create a contact (409 when the wa_id is taken; a deleted contact with it comes back).
#[utoipa::path(tag = "contacts", request_body = CreateContact, responses(
    (status = 201, body = ContactView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/contacts")]
async fn create(state: web::Data<AppState>, p: Principal, body: Json<CreateContact>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(svc::create(&state, &p, body.into_inner()).await?))
}

/// Edit a contact: an absent field is kept, `null` clears it; `opt_in` records when.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), request_body = UpdateContact, responses(
    (status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/contacts/{id}")]
async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<UpdateContact>,
) -> Result<web::Json<ContactView>, ApiError> {
    Ok(web::Json(svc::update(&state, &p, id.into_inner(), body.into_inner()).await?))
}

/// Delete a contact (soft: history stays; a new message from them brings them back).
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
#[delete("/contacts/{id}")]
async fn delete_one(state: web::Data<AppState>, p: Principal, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    svc::delete(&state, &p, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    pub reason: Option<String>,
}

impl crate::http::Validate for BlockBody {
    fn validate(&self) -> Result<(), crate::http::FieldErrors> {
        let mut e = crate::http::FieldErrors::default();
        e.opt_text("reason", self.reason.as_deref(), 1, 500);
        e.finish()
    }
}

/// Block a contact: their messages are stored, but no bot answers and no agent is notified.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), request_body = BlockBody, responses(
    (status = 200, body = ContactView), (status = 404, body = ErrorBody)))]
#[post("/contacts/{id}/block")]
async fn block(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<BlockBody>,
) -> Result<web::Json<ContactView>, ApiError> {
    Ok(web::Json(svc::block(&state, &p, id.into_inner(), body.into_inner().reason).await?))
}

/// Unblock a contact.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), responses((status = 200, body = ContactView), (status = 404, body = ErrorBody)))]
#[post("/contacts/{id}/unblock")]
async fn unblock(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<ContactView>, ApiError> {
    Ok(web::Json(svc::unblock(&state, &p, id.into_inner()).await?))
}

/// The contact's tags.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)))]
#[get("/contacts/{id}/tags")]
async fn list_tags(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<String>>, ApiError> {
    Ok(web::Json(svc::tags_of(&state, &p, id.into_inner()).await?))
}

/// Tag the contact (the tag is created when new); returns its tags.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path)), request_body = TagBody, responses(
    (status = 200, body = Vec<String>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/contacts/{id}/tags")]
async fn add_tag(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<Uuid>,
    body: Json<TagBody>,
) -> Result<web::Json<Vec<String>>, ApiError> {
    Ok(web::Json(svc::add_tag(&state, &p, id.into_inner(), &body.name).await?))
}

/// Remove a tag from the contact; returns its tags.
#[utoipa::path(tag = "contacts", params(("id" = Uuid, Path), ("name" = String, Path)), responses(
    (status = 200, body = Vec<String>), (status = 404, body = ErrorBody)))]
#[delete("/contacts/{id}/tags/{name}")]
async fn remove_tag(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(Uuid, String)>,
) -> Result<web::Json<Vec<String>>, ApiError> {
    let (id, name) = path.into_inner();
    Ok(web::Json(svc::remove_tag(&state, &p, id, &name).await?))
}

/// The largest CSV an import accepts.
const IMPORT_LIMIT: usize = 5 * 1024 * 1024;

/// Import contacts from CSV (`text/csv`; header row with `wa_id` and any of name, email, phone,
/// company, lifecycle_stage, is_vip, opt_in, tags (`;`-separated); other columns become custom
/// attributes). Upserts by wa_id; bad rows are reported and skipped.
#[utoipa::path(tag = "contacts", request_body(content = String, content_type = "text/csv"), responses(
    (status = 200, body = crate::services::contacts_csv::ImportReport), (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/contacts/import")]
async fn import(
    state: web::Data<AppState>,
    p: Principal,
    req: actix_web::HttpRequest,
    mut payload: web::Payload,
) -> Result<web::Json<crate::services::contacts_csv::ImportReport>, ApiError> {
    use futures_util::StreamExt;
    crate::services::contacts_csv::check_content_type(
        req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
    )?;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if body.len() + chunk.len() > IMPORT_LIMIT {
            return Err(ApiError::PayloadTooLarge { limit: IMPORT_LIMIT });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(web::Json(crate::services::contacts_csv::import(&state, &p, &body).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExportQuery {
    /// Only contacts with this tag.
    pub tag: Option<String>,
}

/// Every contact as CSV (the import's columns, plus profile name, blocked, attributes as JSON).
#[utoipa::path(tag = "contacts", params(ExportQuery), responses((status = 200, content_type = "text/csv", body = String)))]
#[get("/contacts/export")]
async fn export(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = crate::services::contacts_csv::export(&state, &p, q.tag.as_deref()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, "attachment; filename=\"contacts.csv\""))
        .body(csv))
}
