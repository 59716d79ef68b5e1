//! The relay fallback's cost on loopback: the round trip of a packet through a play-server
//! relay stage (TCP and WebSocket) next to a plain TCP echo measured in the same run, and
//! the rollback depth of a match relayed through the stage next to the same match over the
//! direct WebRTC data channel (both through the real signal server, 60 fps, bot inputs).
//!
//! ```text
//! cargo run --release --example bench_report -- --relay-table-only
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use connector::relay::{mint_ticket, RelayEvent, RelayMember, TicketClaims};
use connector::server::relay::RelayConfig as PlayRelayConfig;
use connector::server::{PlayServer, ServerConfig as PlayServerConfig};
use connector::ConnectorConfig;
use peer::{AcceptRule, LinkKind, MatchLink, MatchRule, Peer, PeerConfig, RelayPolicy};
use signal::hub::RelayConfig;
use signal::server::{RunningServer, ServerConfig, SignalServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::netmatch::{play, PlayConfig, PlayOutcome};

/// What the relay table measures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RelayPlan {
    /// Round trips per RTT row.
    pub(crate) pings: u32,
    /// Frames per match row.
    pub(crate) frames: u32,
}

/// One RTT row: percentiles of the round trip, µs.
struct RttRow {
    label: &'static str,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
}

/// One match row (both peers pooled).
struct MatchRow {
    label: &'static str,
    link: LinkKind,
    connect_ms: f64,
    mean_depth: f64,
    max_depth: u32,
    stalls: f64,
    confirm_lag: f64,
    ping_ms: u64,
    checksums_match: bool,
    desyncs: u64,
}

const PAYLOAD: usize = 64;
const SECRET: &[u8] = b"bench relay secret";

fn stats(mut samples: Vec<Duration>, label: &'static str) -> RttRow {
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |d| us(*d))
    };
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len().max(1) as f64;
    RttRow {
        label,
        p50_us: at(0.5),
        p99_us: at(0.99),
        mean_us: mean,
    }
}

async fn play_server() -> Result<PlayServer, String> {
    let lo: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    PlayServer::builder(PlayServerConfig::default())
        .relay(PlayRelayConfig::new(SECRET))
        .tcp(lo)
        .websocket(lo)
        .start()
        .await
        .map_err(|e| e.to_string())
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Ping-pong through one relay stage: A sends, B echoes, A times the round trip.
async fn relay_rtt(
    server: &PlayServer,
    ws: bool,
    stage: i64,
    pings: u32,
) -> Result<Vec<Duration>, String> {
    let config = |ws: bool| {
        let (addr, websocket) = if ws {
            (server.ws_addr(), true)
        } else {
            (server.tcp_addr(), false)
        };
        let addr = addr.ok_or("listener missing")?;
        let mut c = ConnectorConfig::new(addr.ip().to_string(), addr.port());
        c.use_websocket = websocket;
        c.ws_path = server.ws_path().to_owned();
        Ok::<_, String>(c)
    };
    let ticket = |sub: &str| {
        mint_ticket(
            SECRET,
            &TicketClaims {
                sub: sub.to_owned(),
                session_id: format!("bench-{stage}"),
                stage_id: stage,
                exp: now_s() + 120,
            },
        )
        .map_err(|e| e.to_string())
    };
    let a = RelayMember::join(config(ws)?, stage, &ticket("a")?)
        .await
        .map_err(|e| e.to_string())?;
    let b = RelayMember::join(config(ws)?, stage, &ticket("b")?)
        .await
        .map_err(|e| e.to_string())?;
    let echo = tokio::spawn(async move {
        loop {
            for event in b.next_events().await {
                match event {
                    RelayEvent::Packet(bytes) => {
                        if b.send(bytes).is_err() {
                            return;
                        }
                    }
                    RelayEvent::Disconnected | RelayEvent::PeerLeft { .. } => return,
                    RelayEvent::PeerJoined => {}
                }
            }
        }
    });
    let mut samples = Vec::with_capacity(pings as usize);
    let payload = vec![0x5a_u8; PAYLOAD];
    for _ in 0..pings {
        let sent = Instant::now();
        a.send(payload.clone()).map_err(|e| e.to_string())?;
        let reply = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let events = a.next_events().await;
                if events.iter().any(|e| matches!(e, RelayEvent::Packet(_))) {
                    return;
                }
            }
        })
        .await;
        if reply.is_err() {
            return Err("relay echo timed out".to_owned());
        }
        samples.push(sent.elapsed());
    }
    a.leave();
    echo.abort();
    Ok(samples)
}

/// The same ping-pong over a plain TCP connection to an echo task (the baseline).
async fn tcp_rtt(pings: u32) -> Result<Vec<Duration>, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let echo = tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            let mut buf = [0u8; PAYLOAD];
            while s.read_exact(&mut buf).await.is_ok() {
                if s.write_all(&buf).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(pings as usize);
    let mut buf = [0u8; PAYLOAD];
    for _ in 0..pings {
        let sent = Instant::now();
        s.write_all(&buf).await.map_err(|e| e.to_string())?;
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        samples.push(sent.elapsed());
    }
    drop(s);
    echo.abort();
    Ok(samples)
}

/// A signal server whose hub hands out the play server's relay.
async fn signal_with_relay(play: &PlayServer) -> Result<RunningServer, String> {
    let tcp = format!("tcp://{}", play.tcp_addr().ok_or("tcp listener missing")?);
    let relay = RelayConfig::new(vec![tcp], SECRET).map_err(|e| e.to_string())?;
    let mut config =
        ServerConfig::new(SECRET.to_vec()).with_listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.hub.relay = Some(relay);
    SignalServer::start(config).await.map_err(|e| e.to_string())
}

async fn connect_pair(
    server: &RunningServer,
    policy: RelayPolicy,
    n: u32,
) -> Result<[MatchLink; 2], String> {
    let ids = [format!("relay{n}a"), format!("relay{n}b")];
    let mut peers = Vec::new();
    for id in &ids {
        let token = signal::auth::mint_token(SECRET, id, Some(id), Duration::from_secs(600))
            .map_err(|e| e.to_string())?;
        let mut config = PeerConfig::loopback(id.clone());
        config.relay = policy;
        peers.push(
            Peer::connect(&server.url(), &token, config)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let (Some(p1), Some(p0)) = (peers.pop(), peers.pop()) else {
        return Err("peers missing".to_owned());
    };
    let (a, b) = tokio::join!(
        p0.start_match(MatchRule::Challenge(ids[1].clone())),
        p1.start_match(MatchRule::Accept(AcceptRule::Any)),
    );
    Ok([a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?])
}

async fn relay_match(
    server: &RunningServer,
    label: &'static str,
    policy: RelayPolicy,
    n: u32,
    frames: u32,
) -> Result<MatchRow, String> {
    let [mut l0, mut l1] = connect_pair(server, policy, n).await?;
    let link = l0.info().link;
    let connect_ms = l0.info().connect_time.as_secs_f64() * 1e3;
    let config = PlayConfig::new(frames);
    let mut config1 = config.clone();
    config1.bot_seed = 2;
    let t0 = tokio::spawn(async move {
        let out = play(&mut l0, 0, &config, |_| {}).await;
        l0.finish().await;
        out
    });
    let t1 = tokio::spawn(async move {
        let out = play(&mut l1, 1, &config1, |_| {}).await;
        l1.finish().await;
        out
    });
    let (o0, o1) = tokio::join!(t0, t1);
    let o0: PlayOutcome = o0.map_err(|e| e.to_string())??;
    let o1: PlayOutcome = o1.map_err(|e| e.to_string())??;
    let rollbacks = (o0.rollbacks + o1.rollbacks).max(1);
    Ok(MatchRow {
        label,
        link,
        connect_ms,
        mean_depth: (o0.rolled_back_frames + o1.rolled_back_frames) as f64 / rollbacks as f64,
        max_depth: o0.max_rollback_depth.max(o1.max_rollback_depth),
        stalls: (o0.stalls + o1.stalls) as f64 / 2.0,
        confirm_lag: (o0.mean_confirm_lag + o1.mean_confirm_lag) / 2.0,
        ping_ms: o0.ping_ms.max(o1.ping_ms),
        checksums_match: o0.completed
            && o1.completed
            && o0.checksum.is_some()
            && o0.checksum == o1.checksum,
        desyncs: o0.ggrs_desyncs + o1.ggrs_desyncs,
    })
}

/// Runs the relay table; `Err` names the first failure.
pub(crate) async fn run(plan: RelayPlan) -> Result<String, String> {
    let play_server = play_server().await?;
    let tcp = stats(tcp_rtt(plan.pings).await?, "plain TCP echo (baseline)");
    let relay_tcp = stats(
        relay_rtt(&play_server, false, 1, plan.pings).await?,
        "relay stage over TCP",
    );
    let relay_ws = stats(
        relay_rtt(&play_server, true, 2, plan.pings).await?,
        "relay stage over WebSocket",
    );
    let signal = signal_with_relay(&play_server).await?;
    let direct = relay_match(
        &signal,
        "direct WebRTC (baseline)",
        RelayPolicy::Never,
        1,
        plan.frames,
    )
    .await?;
    let relayed = relay_match(
        &signal,
        "relayed (relay stage, TCP)",
        RelayPolicy::Always,
        2,
        plan.frames,
    )
    .await?;
    signal.shutdown().await;
    play_server.shutdown().await;
    if direct.link != LinkKind::P2p || relayed.link != LinkKind::Relay {
        return Err("the matches did not take the expected links".to_owned());
    }
    let bad = [&direct, &relayed]
        .iter()
        .any(|r| !r.checksums_match || r.desyncs > 0);
    let md = render(plan, &[tcp, relay_tcp, relay_ws], &[direct, relayed]);
    if bad {
        return Err(format!("a match desynced or did not finish\n{md}"));
    }
    Ok(md)
}

fn render(plan: RelayPlan, rtts: &[RttRow], matches: &[MatchRow]) -> String {
    let mut md = format!(
        "## Relay fallback on loopback\n\n{} round trips of {PAYLOAD} B each (µs):\n\n| path | p50 | p99 | mean | p50 vs TCP |\n|---|---:|---:|---:|---:|\n",
        plan.pings
    );
    let base = rtts.first().map_or(1.0, |r| r.p50_us.max(1e-9));
    for r in rtts {
        md.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | x{:.2} |\n",
            r.label,
            r.p50_us,
            r.p99_us,
            r.mean_us,
            r.p50_us / base
        ));
    }
    md.push_str(&format!(
        "\nTwo bots, {} frames at 60 fps, through the real signal server (both peers pooled):\n\n| link | accept→started ms | mean depth | max depth | stalls/peer | confirm lag (frames) | ggrs ping ms | checksums | desyncs |\n|---|---:|---:|---:|---:|---:|---:|---|---:|\n",
        plan.frames
    ));
    for m in matches {
        md.push_str(&format!(
            "| {} | {:.0} | {:.2} | {} | {:.0} | {:.2} | {} | {} | {} |\n",
            m.label,
            m.connect_ms,
            m.mean_depth,
            m.max_depth,
            m.stalls,
            m.confirm_lag,
            m.ping_ms,
            if m.checksums_match { "equal" } else { "DIFFER" },
            m.desyncs
        ));
    }
    md
}
