//! Helpers shared by the integration tests: a server on 127.0.0.1:0, tokens, raw clients.
#![allow(dead_code, clippy::unwrap_used)]

pub mod redis;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use signal::auth::mint_token;
use signal::protocol::*;
use signal::{RunningServer, ServerConfig, SignalClient, SignalServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &[u8] = b"integration-test-secret";
/// Generous bound for "must happen" waits on a loaded machine.
pub const WAIT: Duration = Duration::from_secs(20);

pub type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn config() -> ServerConfig {
    ServerConfig::new(SECRET.to_vec()).with_listen("127.0.0.1:0".parse().unwrap())
}

pub async fn server() -> RunningServer {
    SignalServer::start(config()).await.unwrap()
}

pub fn token(sub: &str) -> String {
    mint_token(
        SECRET,
        sub,
        Some(&sub.to_uppercase()),
        Duration::from_secs(600),
    )
    .unwrap()
}

pub async fn client(server: &RunningServer, sub: &str) -> SignalClient {
    SignalClient::connect(&server.url(), &token(sub))
        .await
        .unwrap()
}

/// A client already in the lobby.
pub async fn lobby_client(server: &RunningServer, sub: &str) -> SignalClient {
    let c = client(server, sub).await;
    c.sender()
        .send(ClientMessage::JoinLobby(JoinLobby {
            player_id: sub.into(),
            player_name: sub.to_uppercase(),
            ..JoinLobby::default()
        }))
        .unwrap();
    c
}

/// Waits for the first message matching `pred`, skipping others (lobby updates etc.).
pub async fn expect<F>(c: &mut SignalClient, what: &str, mut pred: F) -> ServerMessage
where
    F: FnMut(&ServerMessage) -> bool,
{
    let fut = async {
        loop {
            match c.recv().await {
                Some(m) if pred(&m) => return m,
                Some(_) => continue,
                None => panic!(
                    "{}: connection closed while waiting for {what}",
                    c.player_id()
                ),
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits for an `error` with this code.
pub async fn expect_error(c: &mut SignalClient, code: u16) -> ErrorPayload {
    match expect(c, "error", |m| matches!(m, ServerMessage::Error(_))).await {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, code, "{e:?}");
            e
        }
        _ => unreachable!(),
    }
}

/// Waits until `c`'s lobby view lists `n` players.
pub async fn await_lobby(c: &mut SignalClient, n: usize) -> LobbyUpdate {
    match expect(
        c,
        "lobby",
        |m| matches!(m, ServerMessage::LobbyUpdate(l) if l.players.len() == n),
    )
    .await
    {
        ServerMessage::LobbyUpdate(l) => l,
        _ => unreachable!(),
    }
}

/// Waits until `c`'s lobby view lists `id` (messages from different connections reach the
/// hub in no particular order, so a request must wait until its target has joined).
pub async fn await_listed(c: &mut SignalClient, id: &str) {
    expect(c, "lobby listing", |m| {
        matches!(m, ServerMessage::LobbyUpdate(l) if l.players.iter().any(|p| p.player_id == id))
    })
    .await;
}

pub fn send(c: &SignalClient, msg: ClientMessage) {
    c.sender().send(msg).unwrap();
}

pub fn request(from: &str, to: &str) -> ClientMessage {
    ClientMessage::RequestMatch(RequestMatch {
        requester_id: from.into(),
        target_id: to.into(),
    })
}

pub fn accept(me: &str, from: &str, sid: &str) -> ClientMessage {
    ClientMessage::AcceptMatch(AcceptMatch {
        accepter_id: me.into(),
        requester_id: from.into(),
        session_id: Some(sid.into()),
    })
}

pub fn offer(me: &str, to: &str, sid: &str, sdp: &str) -> ClientMessage {
    ClientMessage::SendSdpOffer(SdpRelay {
        sender_id: me.into(),
        receiver_id: to.into(),
        sdp: sdp.into(),
        session_id: sid.into(),
    })
}

pub fn answer(me: &str, to: &str, sid: &str, sdp: &str) -> ClientMessage {
    ClientMessage::SendSdpAnswer(SdpRelay {
        sender_id: me.into(),
        receiver_id: to.into(),
        sdp: sdp.into(),
        session_id: sid.into(),
    })
}

pub fn ice(me: &str, to: &str, sid: &str, candidate: serde_json::Value) -> ClientMessage {
    ClientMessage::SendIceCandidate(IceRelay {
        sender_id: me.into(),
        receiver_id: to.into(),
        candidate,
        session_id: sid.into(),
    })
}

pub fn report(me: &str, sid: &str, state: ConnectionState) -> ClientMessage {
    ClientMessage::ReportConnection(ReportConnection {
        player_id: me.into(),
        session_id: sid.into(),
        state,
    })
}

/// Request + accept between two lobby clients; returns the session id.
pub async fn matched(a: &mut SignalClient, b: &mut SignalClient) -> String {
    let (ida, idb) = (a.player_id().to_owned(), b.player_id().to_owned());
    send(a, request(&ida, &idb));
    let sid = match expect(b, "match_request_received", |m| {
        matches!(m, ServerMessage::MatchRequestReceived(_))
    })
    .await
    {
        ServerMessage::MatchRequestReceived(r) => r.session_id,
        _ => unreachable!(),
    };
    send(b, accept(&idb, &ida, &sid));
    expect(
        a,
        "match_request_accepted",
        |m| matches!(m, ServerMessage::MatchRequestAccepted(x) if x.session_id == sid),
    )
    .await;
    sid
}

/// Full negotiation up to `match_started` on both sides.
pub async fn started(a: &mut SignalClient, b: &mut SignalClient) -> String {
    let sid = matched(a, b).await;
    let (ida, idb) = (a.player_id().to_owned(), b.player_id().to_owned());
    send(a, offer(&ida, &idb, &sid, "v=0 offer"));
    expect(b, "offer", |m| {
        matches!(m, ServerMessage::SdpOfferReceived(_))
    })
    .await;
    send(b, answer(&idb, &ida, &sid, "v=0 answer"));
    expect(a, "answer", |m| {
        matches!(m, ServerMessage::SdpAnswerReceived(_))
    })
    .await;
    send(a, report(&ida, &sid, ConnectionState::Connected));
    send(b, report(&idb, &sid, ConnectionState::Connected));
    expect(a, "match_started", |m| {
        matches!(m, ServerMessage::MatchStarted(_))
    })
    .await;
    expect(b, "match_started", |m| {
        matches!(m, ServerMessage::MatchStarted(_))
    })
    .await;
    sid
}

/// A raw WebSocket client (for close codes and hand-made frames); token via `?token=`.
pub async fn raw(url: &str, token: &str) -> Raw {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{url}?token={token}"))
        .await
        .unwrap();
    ws
}

/// Next text frame as JSON, skipping lobby updates and control frames.
pub async fn raw_next(ws: &mut Raw) -> serde_json::Value {
    let fut = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] != "lobby_update" {
                        return v;
                    }
                }
                Some(Ok(Message::Close(f))) => panic!("closed: {f:?}"),
                Some(Ok(_)) => continue,
                other => panic!("stream ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("timed out waiting for a frame")
}

/// Reads until the server's close frame; returns its code.
pub async fn raw_close_code(ws: &mut Raw) -> Option<u16> {
    let fut = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("timed out waiting for close")
}

pub async fn raw_send(ws: &mut Raw, text: impl Into<String>) {
    ws.send(Message::text(text.into())).await.unwrap();
}

/// Attempts a handshake with optional header/query token; returns the HTTP status on
/// refusal, or 101 on success.
pub async fn handshake_status(url: &str, header: Option<&str>, query: Option<&str>) -> u16 {
    let url = match query {
        Some(q) => format!("{url}?token={q}"),
        None => url.to_owned(),
    };
    let mut req = url.into_client_request().unwrap();
    if let Some(h) = header {
        req.headers_mut()
            .insert("authorization", h.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

/// Plain HTTP/1.1 GET; returns (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Value of a metric line (`name{labels} value`) in Prometheus text.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
