//! `/graphql`: POST queries and mutations (Bearer token, like REST), GET the offline GraphQL
//! console, and `/graphql/ws` for subscriptions (graphql-transport-ws or graphql-ws; the token goes
//! in `connection_init`).

use crate::auth::principal::{Principal, RequestMeta};
use crate::graphql::{PyTakeSchema, authenticate_init};
use crate::http::ApiError;
use crate::live::wire::{Incoming, WsConn};
use crate::state::AppState;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use actix_web::{HttpResponse, get, post, web};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use futures_util::StreamExt;
use tokio::sync::mpsc;

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

/// `/graphql/ws` reaches this only without a WebSocket handshake (upgrades are taken before
/// routing, see `http::upgrade`): it explains what the endpoint expects.
#[get("/graphql/ws")]
async fn subscriptions() -> Result<HttpResponse, ApiError> {
    Err(ApiError::bad_request(
        "invalid_handshake",
        "open /graphql/ws as a WebSocket with the graphql-transport-ws or graphql-ws subprotocol",
    ))
}

/// Serves GraphQL subscriptions on an accepted socket until either side ends them.
pub async fn serve_subscriptions(
    state: web::Data<AppState>,
    schema: PyTakeSchema,
    protocol: WebSocketProtocols,
    mut conn: WsConn,
) {
    // The protocol adapter reads client messages as a stream; the loop below feeds it and is its
    // only reader, so a short queue is enough (a client that floods past it is cut).
    let (to_adapter, from_client) = mpsc::channel::<Vec<u8>>(64);
    let incoming = futures_util::stream::unfold(from_client, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let init_state = state.clone();
    let mut outgoing =
        std::pin::pin!(WebSocket::new(schema, incoming, protocol).on_connection_init(move |payload| async move {
            let principal =
                authenticate_init(&init_state, &payload).await.map_err(|e| async_graphql::Error::new(e.to_string()))?;
            let mut data = async_graphql::Data::default();
            data.insert(principal);
            data.insert(init_state);
            Ok(data)
        }));
    let (code, reason) = loop {
        tokio::select! {
            biased;
            out = outgoing.next() => match out {
                Some(WsMessage::Text(t)) => {
                    if conn.text(&t).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => break (Some(code), reason),
                None => break (None, String::new()),
            },
            incoming = conn.next() => {
                let message = match incoming {
                    Some(Ok(Incoming::Text(t))) => t.as_bytes().to_vec(),
                    Some(Ok(Incoming::Binary(b))) => b.to_vec(),
                    Some(Ok(Incoming::Ping(p))) => {
                        let _ = conn.pong(&p).await;
                        continue;
                    }
                    Some(Ok(Incoming::Pong)) => continue,
                    Some(Ok(Incoming::Close(_))) | None => break (None, String::new()),
                    Some(Err(_)) => break (Some(1002), "protocol error".into()),
                };
                if to_adapter.try_send(message).is_err() {
                    break (Some(1008), "too many messages in flight".into());
                }
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.close(code, &reason)).await;
}
