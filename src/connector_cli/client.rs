//! `connector_cli`: a debugging client for any PlayHouse server. Connects, optionally
//! authenticates, performs `--request`/`--send` steps in command-line order, listens for
//! pushes, disconnects, and prints one JSON line per event.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde_json::{json, Value};

use super::{from_hex, to_hex};
use connector::client::config::{
    ConnectorConfig, DEFAULT_CONNECTION_IDLE_TIMEOUT_MS, DEFAULT_HEARTBEAT_INTERVAL_MS,
    DEFAULT_REQUEST_TIMEOUT_MS,
};
use connector::{Connector, ConnectorError, Packet};

/// Exit code: every step completed (whatever the server answered).
pub const EXIT_OK: i32 = 0;
/// Exit code: the connection could not be established.
pub const EXIT_CONNECT_FAILED: i32 = 1;
/// Exit code: bad flags (as clap uses).
pub const EXIT_BAD_FLAGS: i32 = 2;

/// One message given on the command line as `MSGID[:HEX][@STAGE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSpec {
    /// The msgId.
    pub msg_id: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The stage id (0 = none).
    pub stage_id: i64,
}

impl std::str::FromStr for MessageSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (rest, stage_id) = match s.rsplit_once('@') {
            Some((head, tail)) if !head.is_empty() && tail.parse::<i64>().is_ok() => {
                (head, tail.parse::<i64>().unwrap_or(0))
            }
            _ => (s, 0),
        };
        let (msg_id, payload) = match rest.split_once(':') {
            Some((id, hex)) => (id, from_hex(hex)?),
            None => (rest, Vec::new()),
        };
        if msg_id.is_empty() || msg_id.len() > 255 {
            return Err(format!("msgId must be 1..=255 bytes in {s:?}"));
        }
        Ok(Self {
            msg_id: msg_id.to_owned(),
            payload,
            stage_id,
        })
    }
}

/// Command-line flags of `connector_cli`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "connector_cli",
    about = "Debugging client for PlayHouse-protocol servers"
)]
pub struct CliArgs {
    /// Server host.
    #[arg(long, env = "CONNECTOR_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, env = "CONNECTOR_PORT")]
    pub port: u16,
    /// Use WebSocket instead of TCP.
    #[arg(long)]
    pub ws: bool,
    /// WebSocket URL path.
    #[arg(long, default_value = "/ws")]
    pub ws_path: String,
    /// Authenticate first with `MSGID[:HEX]` (also registers the auth gate).
    #[arg(long)]
    pub auth: Option<MessageSpec>,
    /// A request `MSGID[:HEX][@STAGE]` (repeatable; steps run in command-line order).
    #[arg(long)]
    pub request: Vec<MessageSpec>,
    /// A one-way send `MSGID[:HEX][@STAGE]` (repeatable).
    #[arg(long)]
    pub send: Vec<MessageSpec>,
    /// Listen for pushes this long after the last step, in ms.
    #[arg(long, default_value_t = 0)]
    pub listen_ms: u64,
    /// Request timeout in ms.
    #[arg(long, default_value_t = DEFAULT_REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
    /// Heartbeat interval in ms (0 disables).
    #[arg(long, default_value_t = DEFAULT_HEARTBEAT_INTERVAL_MS)]
    pub heartbeat_ms: u64,
    /// Idle timeout in ms (0 disables).
    #[arg(long, default_value_t = DEFAULT_CONNECTION_IDLE_TIMEOUT_MS)]
    pub idle_timeout_ms: u64,
    /// Print one JSON object per line (otherwise the same objects, one per line, for humans).
    #[arg(long)]
    pub json: bool,
}

/// One step after connecting/authenticating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Request/response.
    Request(MessageSpec),
    /// One-way send.
    Send(MessageSpec),
}

/// Parsed invocation: flags plus the steps in command-line order.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The flags.
    pub args: CliArgs,
    /// `--request`/`--send` in the order given.
    pub steps: Vec<Step>,
}

impl Invocation {
    /// Parses `argv` (including the program name).
    pub fn parse_from<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = CliArgs::command().try_get_matches_from(argv)?;
        let args = CliArgs::from_arg_matches(&matches)?;
        let steps = ordered_steps(&matches, &args);
        Ok(Self { args, steps })
    }
}

fn ordered_steps(m: &ArgMatches, args: &CliArgs) -> Vec<Step> {
    let idx = |name: &str| {
        m.indices_of(name)
            .map(Iterator::collect::<Vec<usize>>)
            .unwrap_or_default()
    };
    let mut steps: Vec<(usize, Step)> = idx("request")
        .into_iter()
        .zip(args.request.iter().cloned().map(Step::Request))
        .chain(
            idx("send")
                .into_iter()
                .zip(args.send.iter().cloned().map(Step::Send)),
        )
        .collect();
    steps.sort_by_key(|(i, _)| *i);
    steps.into_iter().map(|(_, s)| s).collect()
}

type Lines = Arc<Mutex<Vec<String>>>;

/// One JSON object with its keys in the given order (`"event"` first).
pub fn ordered(fields: &[(&str, Value)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn emit(lines: &Lines, v: String) {
    lines.lock().unwrap_or_else(PoisonError::into_inner).push(v);
}

fn flush(lines: &Lines, json: bool, out: &mut dyn Write) {
    let pending = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
    for v in pending {
        let _ = if json {
            writeln!(out, "{v}")
        } else {
            writeln!(out, "{}", v.trim_matches(|c| c == '{' || c == '}'))
        };
    }
    let _ = out.flush();
}

fn error_event(e: &ConnectorError) -> String {
    ordered(&[
        ("event", json!("error")),
        ("code", json!(e.error_code)),
        ("msgId", json!(e.msg_id)),
        ("stageId", json!(e.stage_id)),
    ])
}

fn response_event(p: &Packet) -> String {
    let h = p.received_header().unwrap_or_default();
    ordered(&[
        ("event", json!("response")),
        ("msgId", json!(p.msg_id())),
        ("seq", json!(h.seq)),
        ("stageId", json!(h.stage_id)),
        ("errorCode", json!(h.error_code)),
        ("payloadHex", json!(to_hex(p.payload()))),
    ])
}

fn connector_for(
    args: &CliArgs,
    lines: &Lines,
    disconnected: &Arc<AtomicBool>,
) -> Option<Connector> {
    let config = ConnectorConfig {
        use_websocket: args.ws,
        ws_path: args.ws_path.clone(),
        request_timeout_ms: args.request_timeout_ms,
        heartbeat_interval_ms: args.heartbeat_ms,
        connection_idle_timeout_ms: args.idle_timeout_ms,
        ..ConnectorConfig::new(args.host.clone(), args.port)
    };
    let c = Connector::new(config).ok()?;
    let l = lines.clone();
    c.on_receive(move |stage, p| {
        emit(
            &l,
            ordered(&[
                ("event", json!("push")),
                ("msgId", json!(p.msg_id())),
                ("stageId", json!(stage)),
                ("payloadHex", json!(to_hex(p.payload()))),
            ]),
        );
    });
    let l = lines.clone();
    c.on_error(move |stage, code, req| {
        emit(
            &l,
            ordered(&[
                ("event", json!("error")),
                ("code", json!(code)),
                ("msgId", json!(req.msg_id())),
                ("stageId", json!(stage)),
            ]),
        );
    });
    let l = lines.clone();
    let seen = disconnected.clone();
    c.on_disconnect(move || {
        seen.store(true, Ordering::SeqCst);
        emit(&l, ordered(&[("event", json!("disconnected"))]));
    });
    if let Some(auth) = &args.auth {
        c.set_authenticate_message_id(auth.msg_id.clone());
    }
    Some(c)
}

/// Runs the invocation, writing event lines to `out`; returns the process exit code.
pub async fn run(inv: &Invocation, out: &mut dyn Write) -> i32 {
    let args = &inv.args;
    let lines: Lines = Arc::default();
    let disconnected = Arc::new(AtomicBool::new(false));
    let Some(c) = connector_for(args, &lines, &disconnected) else {
        return EXIT_CONNECT_FAILED;
    };
    if !c.connect_async(false).await {
        let _ = writeln!(
            out,
            "{}",
            ordered(&[
                ("event", json!("error")),
                ("code", json!(connector::error::DISCONNECTED)),
                ("msgId", json!("")),
                ("stageId", json!(0))
            ])
        );
        return EXIT_CONNECT_FAILED;
    }
    c.main_thread_action(); // on_connect has no handler here: drop it
    emit(&lines, ordered(&[("event", json!("connected"))]));
    if let Some(auth) = &args.auth {
        let packet = Packet::new(auth.msg_id.clone(), auth.payload.clone());
        match c.authenticate_raw_async(packet).await {
            Ok(reply) => {
                let code = reply.received_header().unwrap_or_default().error_code;
                emit(
                    &lines,
                    ordered(&[
                        ("event", json!("authenticated")),
                        ("errorCode", json!(code)),
                    ]),
                );
            }
            Err(e) => emit(&lines, error_event(&e)),
        }
    }
    for step in &inv.steps {
        c.main_thread_action();
        flush(&lines, args.json, out);
        match step {
            Step::Request(m) => {
                let packet = Packet::new(m.msg_id.clone(), m.payload.clone());
                match c.request_raw_async(m.stage_id, packet).await {
                    Ok(reply) => emit(&lines, response_event(&reply)),
                    Err(e) => emit(&lines, error_event(&e)),
                }
            }
            Step::Send(m) => {
                c.send_to_stage(m.stage_id, Packet::new(m.msg_id.clone(), m.payload.clone()))
            }
        }
    }
    let end = Instant::now() + Duration::from_millis(args.listen_ms);
    loop {
        c.main_thread_action();
        flush(&lines, args.json, out);
        if Instant::now() >= end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.disconnect();
    c.main_thread_action();
    if !disconnected.load(Ordering::SeqCst) {
        emit(&lines, ordered(&[("event", json!("disconnected"))]));
    }
    flush(&lines, args.json, out);
    EXIT_OK
}
