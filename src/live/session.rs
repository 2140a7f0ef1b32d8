//! One agent socket (`GET /api/v1/ws`): authentication by the first frame, replay from `last_seq`
//! or an explicit `resync`, the events the agent may see, commands, heartbeats, and a bounded
//! outbound buffer (a client that cannot keep up is closed with 4008 instead of growing memory).
//!
//! Each socket is one task that owns both halves of the connection and selects over: frames from
//! the client, frames for the client, the heartbeat, and the slow-consumer alarm. Events reach it
//! from the organization's actor through [`Outlet::offer`], which filters by visibility and counts
//! bytes without ever blocking the actor; the frame text is the one the actor serialized once.

use super::commands;
use super::visibility::{Audience, Placement};
use super::wire::{Incoming, WsConn};
use crate::auth::principal::{Principal, authenticate};
use crate::repo::{conversations, queues};
use crate::state::AppState;
use actix_web::web;
use pytake_actors::domain::event::OrgEvent;
use pytake_actors::domain::role::Role;
use pytake_actors::runtime::org::{Attach, Subscribe, Unsubscribe};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

/// Close codes (RFC 6455 leaves 4000-4999 to applications).
pub const CLOSE_BAD_FRAME: u16 = 4000;
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
pub const CLOSE_AUTH_TIMEOUT: u16 = 4002;
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
pub const CLOSE_IDLE: u16 = 4009;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFrame {
    #[serde(rename = "type")]
    kind: String,
    token: String,
    last_seq: Option<u64>,
    /// The `ready.data.stream` the client's `last_seq` belongs to; another node's means resync.
    stream: Option<String>,
}

/// Which conversations an agent's socket currently shows.
pub(crate) struct Visible {
    audience: Audience,
    conversations: HashSet<Uuid>,
}

impl Visible {
    /// Whether the event goes to this socket; conversation events also update the set (an agent
    /// still gets the update that takes a conversation away from them).
    pub(crate) fn admit(&mut self, event: &OrgEvent) -> bool {
        if matches!(self.audience, Audience::Organization) {
            return true;
        }
        match event.event_type {
            "conversation.created" | "conversation.updated" => {
                let Some(id) = event.conversation_id else { return false };
                let d = &event.data;
                let uuid = |k: &str| d.get(k).and_then(|v| v.as_str()).and_then(|s| s.parse::<Uuid>().ok());
                let placement = Placement {
                    status: d.get("status").and_then(|s| s.as_str()).unwrap_or(""),
                    assigned_agent_id: uuid("assigned_agent_id"),
                    department_id: uuid("department_id"),
                };
                let was = self.conversations.contains(&id);
                if self.audience.sees(placement) {
                    self.conversations.insert(id);
                    true
                } else {
                    self.conversations.remove(&id);
                    was
                }
            }
            "agent.presence" | "queue.updated" | "resync" => true,
            _ => event.conversation_id.is_some_and(|c| self.conversations.contains(&c)),
        }
    }
}

enum Outgoing {
    /// An event's shared frame, and when it was sequenced.
    Frame(Arc<str>, Instant),
    Text(String),
}

/// The sending side of a socket, shared with the organization's actor and command tasks.
pub struct Outlet {
    tx: mpsc::UnboundedSender<Outgoing>,
    pending: AtomicUsize,
    max: usize,
    slow: AtomicBool,
    alarm: Notify,
    visible: Mutex<Visible>,
}

impl Outlet {
    /// Called by the organization's actor for every event; never blocks. False unsubscribes.
    fn offer(&self, event: &Arc<OrgEvent>) -> bool {
        if self.slow.load(Ordering::Acquire) {
            return false;
        }
        let admitted = match self.visible.lock() {
            Ok(mut v) => v.admit(event),
            Err(_) => false,
        };
        if !admitted {
            return true;
        }
        self.push(Outgoing::Frame(event.frame.clone(), event.sequenced_at), event.frame.len())
    }

    /// A reply to a command (`ack` or `error`), counted against the same budget.
    pub fn reply(&self, value: serde_json::Value) {
        let text = value.to_string();
        let len = text.len();
        self.push(Outgoing::Text(text), len);
    }

    fn push(&self, item: Outgoing, len: usize) -> bool {
        if self.pending.fetch_add(len, Ordering::AcqRel) + len > self.max {
            self.slow.store(true, Ordering::Release);
            self.alarm.notify_one();
            return false;
        }
        self.tx.send(item).is_ok()
    }
}

async fn close(conn: &mut WsConn, code: Option<u16>, description: &str) {
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.close(code, description)).await;
}

/// Closes a socket that did not open; always `None`.
async fn refuse(conn: &mut WsConn, code: u16, description: &str) -> Option<Opened> {
    close(conn, Some(code), description).await;
    None
}

/// Serves one socket until it closes.
pub async fn run(state: web::Data<AppState>, mut conn: WsConn) {
    let _open = OpenSession::count(&state.live.sessions);
    // The opening (authentication, replay) awaits database reads: boxed, so that the state it
    // needs is freed once the socket is live instead of sizing the task for its whole life.
    let Some(live) = Box::pin(open(&state, &mut conn)).await else { return };
    serve(state, conn, live).await;
}

/// Counts a socket in `/health/actors` (`agent_sessions`) for as long as it lives.
struct OpenSession(Arc<AtomicUsize>);

impl OpenSession {
    fn count(sessions: &Arc<AtomicUsize>) -> Self {
        sessions.fetch_add(1, Ordering::Relaxed);
        OpenSession(sessions.clone())
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What an authenticated, subscribed socket holds while it is live.
struct Opened {
    principal: Principal,
    outlet: Arc<Outlet>,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    subscription: Uuid,
    presence: &'static str,
}

/// Authenticates the first frame, subscribes, replays and announces presence; `None` when the
/// socket was closed instead.
async fn open(state: &web::Data<AppState>, conn: &mut WsConn) -> Option<Opened> {
    let settings = &state.live.settings;
    // 1. The first frame authenticates.
    let first = tokio::time::timeout(Duration::from_secs(settings.auth_timeout_secs), async {
        loop {
            match conn.next().await {
                Some(Ok(Incoming::Text(text))) => return Some(text),
                Some(Ok(Incoming::Ping(p))) => {
                    let _ = conn.pong(&p).await;
                }
                Some(Ok(Incoming::Pong)) => {}
                _ => return None,
            }
        }
    })
    .await;
    let text = match first {
        Err(_) => return refuse(conn, CLOSE_AUTH_TIMEOUT, "no auth frame in time").await,
        Ok(None) => return None,
        Ok(Some(text)) => text,
    };
    let auth = match serde_json::from_str::<AuthFrame>(&text) {
        Ok(a) if a.kind == "auth" => a,
        _ => {
            return refuse(conn, CLOSE_UNAUTHORIZED, "the first frame must be {\"type\":\"auth\",\"token\":...}").await;
        }
    };
    let principal = match authenticate(state, &auth.token).await {
        Ok(p) => p,
        Err(e) => return refuse(conn, CLOSE_UNAUTHORIZED, &e.to_string()).await,
    };
    let visible = match load_visible(state, &principal).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "loading a socket's conversations failed");
            return refuse(conn, 1011, "temporarily unavailable").await;
        }
    };

    // 2. Subscribe, replay what was missed, announce presence.
    let (tx, rx) = mpsc::unbounded_channel();
    let outlet = Arc::new(Outlet {
        tx,
        pending: AtomicUsize::new(0),
        max: settings.max_buffer_bytes,
        slow: AtomicBool::new(false),
        alarm: Notify::new(),
        visible: Mutex::new(visible),
    });
    let subscription = Uuid::now_v7();
    let sink_outlet = outlet.clone();
    let org_actor = state.registry.org(principal.org);
    let attached = org_actor
        .send(Attach(Subscribe {
            id: subscription,
            sink: Arc::new(move |e| sink_outlet.offer(e)),
            after_seq: match (&auth.stream, auth.last_seq) {
                // Numbered by another node (or a previous run of this one): a resync.
                (Some(stream), Some(_)) if *stream != state.live.node.to_string() => Some(u64::MAX),
                (_, seq) => seq,
            },
        }))
        .await;
    let presence = if principal.role == Role::Viewer {
        "offline"
    } else {
        if let Some(c) = state.live.cluster.get() {
            c.connected(principal.org, principal.user_id).await;
        }
        let stored = stored_status(state, &principal).await;
        match state.live.presence.connect(principal.org, principal.user_id, &stored, principal.role == Role::Agent) {
            Some(changed) => {
                super::announce_presence(state, principal.org, principal.user_id, changed).await;
                changed
            }
            None => state.live.presence.status(principal.org, principal.user_id),
        }
    };
    let ready = |seq: u64| {
        json!({"type": "ready", "seq": seq, "data": {
            "user_id": principal.user_id, "organization_id": principal.org.as_uuid(),
            "role": principal.role.as_str(), "status": presence, "stream": state.live.node}})
        .to_string()
    };
    let mut opening = Vec::new();
    match attached {
        Ok(Ok(replay)) => {
            opening.push(ready(replay.latest));
            if let Ok(mut v) = outlet.visible.lock() {
                opening.extend(replay.events.iter().filter(|e| v.admit(e)).map(|e| e.frame.to_string()));
            }
        }
        Ok(Err(latest)) => {
            opening.push(ready(latest));
            opening.push(
                json!({"type": "resync", "seq": latest,
                "data": {"reason": "events after last_seq are no longer kept; reload from the REST API"}})
                .to_string(),
            );
        }
        Err(_) => {
            finish(state, &principal, subscription, presence);
            return refuse(conn, 1011, "temporarily unavailable").await;
        }
    }
    for frame in opening {
        if conn.text(&frame).await.is_err() {
            finish(state, &principal, subscription, presence);
            return None;
        }
    }
    Some(Opened { principal, outlet, rx, subscription, presence })
}

/// Serves a live socket: events out, commands in, heartbeats, until it closes.
async fn serve(state: web::Data<AppState>, mut conn: WsConn, live: Opened) {
    let Opened { principal, outlet, mut rx, subscription, presence } = live;
    let settings = &state.live.settings;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(settings.ping_interval_secs));
    heartbeat.tick().await;
    let mut membership = state.live.membership_changes();
    let client_timeout = Duration::from_secs(settings.client_timeout_secs);
    let mut last_heard = Instant::now();
    let outcome: Option<(u16, &str)> = loop {
        tokio::select! {
            biased;
            _ = outlet.alarm.notified() => break Some((CLOSE_SLOW_CONSUMER, "slow consumer")),
            out = rx.recv() => {
                let Some(out) = out else { break None };
                let (text, sequenced_at): (&str, _) = match &out {
                    Outgoing::Frame(f, at) => (f, Some(*at)),
                    Outgoing::Text(t) => (t, None),
                };
                let len = text.len();
                match tokio::time::timeout(client_timeout, conn.text(text)).await {
                    Ok(Ok(())) => {
                        outlet.pending.fetch_sub(len, Ordering::AcqRel);
                        if let Some(at) = sequenced_at {
                            state.metrics.observe("pytake_event_frame_lag_seconds", at.elapsed());
                        }
                    }
                    Ok(Err(_)) => break None,
                    Err(_) => break Some((CLOSE_SLOW_CONSUMER, "slow consumer")),
                }
            }
            incoming = conn.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Incoming::Text(text))) => {
                        commands::dispatch(state.clone(), principal.clone(), outlet.clone(), text.to_string());
                    }
                    Some(Ok(Incoming::Ping(p))) => { let _ = conn.pong(&p).await; }
                    Some(Ok(Incoming::Pong)) => {}
                    Some(Ok(Incoming::Binary(_))) => break Some((CLOSE_BAD_FRAME, "frames are JSON text")),
                    Some(Ok(Incoming::Close(_))) | None => break None,
                    Some(Err(_)) => break Some((CLOSE_BAD_FRAME, "protocol error")),
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= client_timeout {
                    break Some((CLOSE_IDLE, "no frame from the client in time"));
                }
                if conn.ping(b"").await.is_err() { break None; }
            }
            Ok(()) = membership.changed(), if principal.role == Role::Agent => {
                // Boxed: a database read inline would size every socket's task for it.
                if let Ok(fresh) = Box::pin(load_visible(&state, &principal)).await
                    && let Ok(mut v) = outlet.visible.lock()
                {
                    *v = fresh;
                }
            }
        }
    };
    finish(&state, &principal, subscription, presence);
    match outcome {
        Some((code, why)) => close(&mut conn, Some(code), why).await,
        None => close(&mut conn, None, "").await,
    }
}

fn finish(state: &web::Data<AppState>, p: &Principal, subscription: Uuid, presence: &str) {
    state.registry.org(p.org).do_send(Unsubscribe(subscription));
    if presence != "offline"
        && let Some(generation) = state.live.presence.disconnect(p.org, p.user_id)
    {
        super::schedule_offline(state.clone(), p.org, p.user_id, generation);
    }
}

async fn stored_status(state: &AppState, p: &Principal) -> String {
    let Ok(mut c) = state.db.conn().await else { return "available".into() };
    match crate::repo::users::get(&mut c, p.org, p.user_id).await {
        Ok(Some(u)) => u.agent_status,
        _ => "available".into(),
    }
}

/// What the socket shows at the start: for an agent, the conversations they hold and the queued
/// ones of their departments.
pub(crate) async fn load_visible(state: &AppState, p: &Principal) -> Result<Visible, crate::http::ApiError> {
    if p.role != Role::Agent {
        return Ok(Visible { audience: Audience::Organization, conversations: HashSet::new() });
    }
    let mut c = state.db.conn().await?;
    let departments = queues::departments_of(&mut c, p.org, p.user_id).await?;
    let mut ids: HashSet<Uuid> = conversations::held_by(&mut c, p.org, p.user_id).await?.into_iter().collect();
    ids.extend(conversations::queued(&mut c, p.org, Some(p.user_id), 10_000).await?.into_iter().map(|r| r.id));
    Ok(Visible { audience: Audience::for_role(p.role, p.user_id, departments), conversations: ids })
}
