//! `/graphql`: POST queries and mutations (Bearer token, like REST), GET the offline GraphQL
//! console, and `/graphql/ws` for subscriptions (graphql-transport-ws or graphql-ws; the token goes
//! in `connection_init`).

use crate::auth::principal::{Principal, RequestMeta};
use crate::graphql::{PyTakeSchema, authenticate_init};
use crate::http::ApiError;
use crate::state::AppState;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols, WsMessage};
use futures_util::StreamExt;
use std::str::FromStr;

const PAGE: &str = include_str!("../console/graphql.html");
const SCRIPT: &str = include_str!("../console/graphql.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(execute).service(console).service(console_script).service(subscriptions);
}

#[post("/graphql")]
async fn execute(
    state: web::Data<AppState>,
    schema: web::Data<PyTakeSchema>,
    p: Principal,
    meta: RequestMeta,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: async_graphql::Request = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_graphql_request", format!("not a GraphQL request: {e}")))?;
    let response = schema.execute(request.data(p).data(meta).data(state.clone())).await;
    Ok(HttpResponse::Ok().json(response))
}

#[get("/graphql")]
async fn console() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header((CONTENT_SECURITY_POLICY, "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"))
        .body(PAGE)
}

#[get("/console/graphql.js")]
async fn console_script() -> HttpResponse {
    HttpResponse::Ok().insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8")).body(SCRIPT)
}

#[get("/graphql/ws")]
async fn subscriptions(
    state: web::Data<AppState>,
    schema: web::Data<PyTakeSchema>,
    req: HttpRequest,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let protocol = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()))
        .ok_or_else(|| {
            ApiError::bad_request("invalid_protocol", "use the graphql-transport-ws or graphql-ws subprotocol")
        })?;
    let (response, mut session, stream) = actix_ws::handle_with_protocols(&req, body, &ALL_WEBSOCKET_PROTOCOLS)?;
    let schema = schema.get_ref().clone();
    actix_web::rt::spawn(async move {
        let incoming = stream.aggregate_continuations().filter_map(|m| async move {
            match m {
                Ok(AggregatedMessage::Text(t)) => Some(t.as_bytes().to_vec()),
                Ok(AggregatedMessage::Binary(b)) => Some(b.to_vec()),
                _ => None,
            }
        });
        let init_state = state.clone();
        let mut outgoing =
            std::pin::pin!(WebSocket::new(schema, incoming, protocol).on_connection_init(move |payload| async move {
                let principal = authenticate_init(&init_state, &payload)
                    .await
                    .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                let mut data = async_graphql::Data::default();
                data.insert(principal);
                data.insert(init_state);
                Ok(data)
            }));
        while let Some(message) = outgoing.next().await {
            match message {
                WsMessage::Text(t) => {
                    if session.text(t).await.is_err() {
                        return;
                    }
                }
                WsMessage::Close(code, reason) => {
                    let _ = session
                        .close(Some(CloseReason { code: CloseCode::Other(code), description: Some(reason) }))
                        .await;
                    return;
                }
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}
