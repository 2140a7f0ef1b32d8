//! WebSocket upgrades, taken from the HTTP/1 dispatcher before actix-web routes them: the
//! handshake, the two socket endpoints (`/api/v1/ws` for agents, `/graphql/ws` for subscriptions)
//! served on the lean transport of [`crate::live::wire`], and error responses in the API's error
//! model for every other upgrade request. The dispatcher and its buffers are gone once a socket is
//! accepted; the socket's own task holds only the TCP stream (see docs/CONSOLE.md).

use crate::graphql::PyTakeSchema;
use crate::http::ApiError;
use crate::live::wire::WsConn;
use crate::state::AppState;
use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_http::{ConnectionType, Method, Request, Response, h1, ws};
use actix_web::{HttpMessage, ResponseError, web};
use async_graphql::http::WebSocketProtocols;
use futures_util::SinkExt;
use std::str::FromStr;
use std::time::Instant;
use tokio::net::TcpStream;

/// The largest message a client may send on either socket.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

pub const AGENT_SOCKET_PATH: &str = "/api/v1/ws";
pub const GRAPHQL_SOCKET_PATH: &str = "/graphql/ws";

/// What an upgrade needs, cloned into every worker.
#[derive(Clone)]
pub struct Upgrades {
    pub state: web::Data<AppState>,
    pub schema: web::Data<PyTakeSchema>,
}

enum Endpoint {
    Agent,
    GraphQl(WebSocketProtocols),
}

/// Serves one upgrade request: either accepts the socket and hands it to its task, or answers with
/// an error and closes the connection. No Origin check: a socket authenticates with a token in its
/// first frame, never with ambient credentials, so another site's page gains nothing by opening one.
pub async fn take_over(
    upgrades: Upgrades,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_http::Error> {
    let started = Instant::now();
    let path = req.path().to_string();
    let accepted = accept(&req);
    let status = match &accepted {
        Ok(_) => 101,
        Err(e) => e.status_code().as_u16(),
    };
    upgrades.state.metrics.observe_http(req.method().as_str(), &path_label(&path), status, started.elapsed());
    drop(req);
    match accepted {
        Err(error) => {
            tracing::info!(path, status, error = %error, "upgrade refused");
            refuse(&mut framed, &error).await;
        }
        Ok((response, endpoint)) => {
            if let Err(e) = framed.send((response, BodySize::None).into()).await {
                tracing::debug!(error = %e, "writing the handshake failed");
                return Ok(());
            }
            let parts = framed.into_parts();
            let conn = WsConn::new(parts.io, &parts.read_buf, MAX_CLIENT_MESSAGE);
            let Upgrades { state, schema } = upgrades;
            match endpoint {
                Endpoint::Agent => actix_web::rt::spawn(crate::live::session::run(state, conn)),
                Endpoint::GraphQl(protocol) => actix_web::rt::spawn(crate::routes::graphql::serve_subscriptions(
                    state,
                    schema.get_ref().clone(),
                    protocol,
                    conn,
                )),
            };
        }
    }
    Ok(())
}

/// The metric label of an upgrade: its route, or "unmatched" like any unknown path.
fn path_label(path: &str) -> String {
    if path == AGENT_SOCKET_PATH || path == GRAPHQL_SOCKET_PATH { path.to_string() } else { "unmatched".into() }
}

fn accept(req: &Request) -> Result<(Response<()>, Endpoint), ApiError> {
    let endpoint = match (req.method(), req.path()) {
        (&Method::GET, AGENT_SOCKET_PATH) => Endpoint::Agent,
        (&Method::GET, GRAPHQL_SOCKET_PATH) => {
            let protocol = req
                .headers()
                .get(SEC_WEBSOCKET_PROTOCOL)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_protocol", "use the graphql-transport-ws or graphql-ws subprotocol")
                })?;
            Endpoint::GraphQl(protocol)
        }
        _ => return Err(ApiError::NotFound("route")),
    };
    let mut response = ws::handshake(req.head())
        .map_err(|e| ApiError::bad_request("invalid_handshake", format!("not a WebSocket handshake: {e}")))?;
    if let Endpoint::GraphQl(protocol) = &endpoint {
        response.insert_header((SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol.sec_websocket_protocol())));
    }
    Ok((response.finish().drop_body(), endpoint))
}

/// Writes `error` as a complete response and lets the connection close.
async fn refuse(framed: &mut Framed<TcpStream, h1::Codec>, error: &ApiError) {
    let response: Response<_> = error.error_response().into();
    let (mut head, body) = response.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let bytes = body.try_into_bytes().unwrap_or_default();
    let size = BodySize::Sized(bytes.len() as u64);
    // Head and body in one write: a client that stops reading after the head still has it all.
    let written = async {
        framed.feed((head.drop_body(), size).into()).await?;
        framed.feed(h1::Message::Chunk(Some(bytes))).await?;
        framed.send(h1::Message::Chunk(None)).await
    };
    if let Err(e) = tokio::time::timeout(std::time::Duration::from_secs(5), written).await {
        tracing::debug!(error = %e, "writing a refusal timed out");
    }
}
