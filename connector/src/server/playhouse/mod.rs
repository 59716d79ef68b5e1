//! PlayHouse test-server mode: the reference server behaves like the C# test server that
//! PlayHouse's connectors run their integration suites against (`connectors/test-server` in
//! the `playhouse-net` repository), so those suites can run against this Rust server.
//!
//! What it does (matching what the C# server does, not what the message names suggest):
//! - **HTTP** on its own port: `GET /api/health`, `POST /api/stages` and
//!   `POST /api/stages/get-or-create` (JSON bodies `{"stageType","stageId"}`), and the
//!   WebSocket endpoint at `/ws`; plus a plain TCP port.
//! - **Authentication** (`AuthenticateRequest`, required first): valid when `user_id` is not
//!   empty and `token` is not empty and does not contain `invalid` (any case). Success gives
//!   the session the next account id (a counter that also counts failures) and creates the
//!   header's stage if it does not exist. Failure answers an `AuthenticateReply` with header
//!   error code [`AUTH_FAILED`] (5) and leaves the connection open.
//! - **Stage messages**: `EchoRequest` → `EchoReply`; `FailRequest` → `FailReply` with header
//!   code 0 and the requested code in the payload; `NoResponseRequest` → nothing;
//!   `LargePayloadRequest` → a `BenchmarkReply` of exactly 1 MiB (byte `i` = `i % 256`);
//!   `BroadcastRequest` → a `BroadcastNotify` push to the sender and no reply; any other
//!   msgId → an empty `<msgId>Reply`.
//! - **No compression**: the C# codec always writes `OriginalSize` 0 (and the JS connector
//!   rejects compressed payloads).
//! - Heartbeats are echoed; the server closes a session idle for [`DEFAULT_IDLE_TIMEOUT`].

pub mod proto;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::http::{HttpRequest, HttpResponse, HttpRoutes, TlsConfig};
use super::{Outcome, PlayServerBuilder, RequestContext, ServerConfig};
use crate::packet::Packet;
use proto::*;

/// Header error code of a failed authentication.
pub const AUTH_FAILED: u16 = 5;
/// Header error code of a stage message whose payload is not the expected message.
pub const BAD_PAYLOAD: u16 = 400;
/// The authenticate msgId of the test server.
pub const AUTH_MSG_ID: &str = "AuthenticateRequest";
/// The one stage type the test server has.
pub const TEST_STAGE_TYPE: &str = "TestStage";
/// Size of the `LargePayloadRequest` answer's payload.
pub const LARGE_PAYLOAD_LEN: usize = 1024 * 1024;
/// Server id reported by `/api/health`.
pub const DEFAULT_SERVER_ID: &str = "play-1";
/// Sessions that send nothing (not even a heartbeat) for this long are closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Stages created through the HTTP API or by authentication, bounded like the server's
/// stage map.
#[derive(Debug)]
pub struct TestStages {
    created: Mutex<BTreeSet<i64>>,
    max: usize,
}

impl TestStages {
    fn new(max: usize) -> Self {
        Self {
            created: Mutex::new(BTreeSet::new()),
            max,
        }
    }

    /// Creates `stage_id`: `Some(true)` created, `Some(false)` already there, `None` full.
    pub fn create(&self, stage_id: i64) -> Option<bool> {
        let mut set = self.created.lock().unwrap_or_else(PoisonError::into_inner);
        if set.contains(&stage_id) {
            return Some(false);
        }
        if set.len() >= self.max {
            return None;
        }
        Some(set.insert(stage_id))
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The server settings of the test mode: `AuthenticateRequest` first, no compression.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        auth_msg_id: Some(AUTH_MSG_ID.to_owned()),
        compression: None,
        idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        ..ServerConfig::default()
    }
}

/// The reply the test stage's `OnCreate` gives, as the HTTP API reports it.
fn reply_payload_id() -> String {
    let reply = CreateStageReply {
        received_stage_name: TEST_STAGE_TYPE.to_owned(),
        received_max_players: 100,
        created: true,
    };
    format!(
        "{}:{}",
        reply.received_stage_name, reply.received_max_players
    )
}

fn authenticate(ctx: &RequestContext, packet: &Packet, accounts: &AtomicI64, stages: &TestStages) {
    let Ok(req) = packet.decode::<AuthenticateRequest>() else {
        ctx.reply_with_error(Packet::empty("AuthenticateReply"), AUTH_FAILED);
        return;
    };
    let account = accounts.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    let valid = !req.user_id.is_empty()
        && !req.token.is_empty()
        && !req.token.to_ascii_lowercase().contains("invalid");
    if !valid {
        let reply = AuthenticateReply {
            account_id: String::new(),
            success: false,
            received_user_id: req.user_id,
            received_token: req.token,
        };
        ctx.reply_with_error(Packet::from_message(&reply), AUTH_FAILED);
        return;
    }
    if ctx.stage_id() != 0 && stages.create(ctx.stage_id()).is_none() {
        ctx.reply_error(super::ERROR_STAGE_FULL);
        return;
    }
    ctx.session().set_account_id(account.to_string());
    let reply = AuthenticateReply {
        account_id: account.to_string(),
        success: true,
        received_user_id: req.user_id,
        received_token: req.token,
    };
    ctx.reply(Packet::from_message(&reply));
}

fn echo(packet: &Packet) -> Outcome {
    match packet.decode::<EchoRequest>() {
        Ok(req) => Outcome::Reply(Packet::from_message(&EchoReply {
            content: req.content,
            sequence: req.sequence,
            processed_at: unix_ms(),
        })),
        Err(_) => Outcome::Error(BAD_PAYLOAD),
    }
}

fn fail(packet: &Packet) -> Outcome {
    match packet.decode::<FailRequest>() {
        Ok(req) => Outcome::Reply(Packet::from_message(&FailReply {
            error_code: req.error_code,
            message: req.error_message,
        })),
        Err(_) => Outcome::Error(BAD_PAYLOAD),
    }
}

fn large_payload() -> Outcome {
    let payload = (0..LARGE_PAYLOAD_LEN)
        .map(|i| u8::try_from(i % 256).unwrap_or(0))
        .collect();
    Outcome::Reply(Packet::from_message(&BenchmarkReply {
        sequence: 1,
        processed_at: unix_ms(),
        payload,
    }))
}

fn broadcast(ctx: &RequestContext, packet: &Packet) -> Outcome {
    let Ok(req) = packet.decode::<BroadcastRequest>() else {
        return Outcome::Error(BAD_PAYLOAD);
    };
    let from = ctx
        .session()
        .account_id()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let notify = BroadcastNotify {
        event_type: "TestBroadcast".to_owned(),
        data: req.content,
        from_account_id: from,
        sender_id: String::new(),
    };
    ctx.session()
        .push(ctx.stage_id(), &Packet::from_message(&notify));
    Outcome::NoReply
}

/// The HTTP routes of the test mode.
pub fn routes(server_id: String, stages: Arc<TestStages>) -> HttpRoutes {
    Arc::new(move |req: &HttpRequest| {
        let body = || serde_json::from_slice::<serde_json::Value>(&req.body).ok();
        let stage_of = |v: &serde_json::Value| {
            let ty = v.get("stageType").and_then(|t| t.as_str())?.to_owned();
            let id = v.get("stageId").and_then(serde_json::Value::as_i64)?;
            Some((ty, id))
        };
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/api/health") => HttpResponse::json(
                200,
                json!({"status": "healthy", "serverId": server_id}).to_string(),
            ),
            ("POST", "/api/stages") | ("POST", "/api/stages/get-or-create") => {
                let Some((ty, id)) = body().as_ref().and_then(stage_of) else {
                    return HttpResponse::json(
                        400,
                        json!({"error": "stageType and stageId required"}).to_string(),
                    );
                };
                let created = if ty == TEST_STAGE_TYPE {
                    stages.create(id)
                } else {
                    None
                };
                let get_or_create = req.path.ends_with("get-or-create");
                let body = match (get_or_create, created) {
                    (false, c) => json!({
                        "success": c == Some(true),
                        "stageId": id,
                        "replyPayloadId": (c == Some(true)).then(reply_payload_id),
                    }),
                    (true, c) => json!({
                        "success": c.is_some(),
                        "isCreated": c == Some(true),
                        "stageId": id,
                        "replyPayloadId": (c == Some(true)).then(reply_payload_id),
                    }),
                };
                HttpResponse::json(200, body.to_string())
            }
            _ => HttpResponse::json(404, json!({"error": "not found"}).to_string()),
        }
    })
}

/// A server builder with the test server's handlers and HTTP routes (on `http`, and on
/// `https` with TLS when given: HTTPS routes and `wss` at `/ws`, as the C# server does); add
/// `.tcp(...)` and start it. `config` is usually [`server_config`].
pub fn builder(
    config: ServerConfig,
    http: std::net::SocketAddr,
    https: Option<(std::net::SocketAddr, TlsConfig)>,
    server_id: impl Into<String>,
) -> PlayServerBuilder {
    let stages = Arc::new(TestStages::new(config.max_stages));
    let accounts = Arc::new(AtomicI64::new(0));
    let (auth_stages, routes_stages) = (stages.clone(), stages);
    let builder = PlayServerBuilder::new(config)
        .handler(AUTH_MSG_ID, move |ctx, p| {
            authenticate(ctx, &p, &accounts, &auth_stages);
            Outcome::NoReply
        })
        .handler("EchoRequest", |_, p| echo(&p))
        .handler("FailRequest", |_, p| fail(&p))
        .handler("NoResponseRequest", |_, _| Outcome::NoReply)
        .handler("LargePayloadRequest", |_, _| large_payload())
        .handler("BroadcastRequest", |ctx, p| broadcast(ctx, &p))
        .fallback(|ctx, _| Outcome::Reply(Packet::empty(format!("{}Reply", ctx.msg_id()))));
    let routes = routes(server_id.into(), routes_stages);
    let builder = builder.http(http, routes.clone());
    match https {
        Some((addr, tls)) => builder.https(addr, routes, tls),
        None => builder,
    }
}
