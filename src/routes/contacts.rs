//! `/api/v1/contacts`: the people who write to the organization.

use crate::auth::Principal;
use crate::http::{ApiError, Page};
use crate::routes::docs::ErrorBody;
use crate::services::contacts::{self as svc, ContactListQuery, ContactView};
use crate::state::AppState;
use actix_web::{get, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(get_one);
}

/// Contacts (filters: wa_id, query).
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
