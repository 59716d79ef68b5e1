//! `bot`: one bot player. Connects to a signal server, joins the lobby, challenges a player
//! or accepts a challenge, opens a WebRTC data channel to the opponent (any
//! standards-compliant peer: browser-style SDP and RTCIceCandidateInit candidates), plays one
//! reference-fighter match and exits 0 on a clean finish.
//!
//! ```text
//! cargo run --release --example bot -- --server ws://127.0.0.1:8080/ws/signal \
//!     --token "$(signal token --jwt-secret S --sub bob)" --name Bob --accept any --loopback
//! cargo run --release --example bot -- --server ws://127.0.0.1:8080/ws/signal \
//!     --token "$(signal token --jwt-secret S --sub alice)" --name Alice --challenge bob --loopback
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netplay::bot_report::BotReport;
use netplay::netmatch::{play, PlayConfig};
use netplay::spectate::SpectateReport;
use peer::{AcceptRule, ChannelMode, IceConfig, MatchRule, Peer, PeerConfig, RelayPolicy};
use rollback::session::InputDelay;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "bot",
    about = "A bot that plays one WebRTC match through a signal server"
)]
struct Args {
    /// Signal server URL (ws://host:port/ws/signal).
    #[arg(long, env = "BOT_SERVER")]
    server: String,
    /// JWT for the server (its `sub` is the player id).
    #[arg(long, env = "BOT_TOKEN")]
    token: String,
    /// Display name in the lobby.
    #[arg(long, default_value = "bot", env = "BOT_NAME")]
    name: String,
    /// Challenge this player id (we create the offer).
    #[arg(long, conflicts_with = "accept", required_unless_present_any = ["accept", "spectate"])]
    challenge: Option<String>,
    /// Accept a challenge from `any` player or from this player id (we answer).
    #[arg(long)]
    accept: Option<String>,
    /// Watch the running match of this player id to its end instead of playing (exit 0 when
    /// the spectator reaches the players' final frame with their checksum, 1 when the
    /// stream fails or ends early, 2 when watching cannot start).
    #[arg(long, value_name = "PLAYER", conflicts_with_all = ["challenge", "accept"])]
    spectate: Option<String>,
    /// Frames to play.
    #[arg(long, default_value_t = 1800, env = "BOT_FRAMES")]
    frames: u32,
    /// Play as fast as the link allows instead of 60 fps.
    #[arg(long)]
    fast: bool,
    /// Channel ordering (both players must agree): sequenced or ordered.
    #[arg(long, default_value = "sequenced", env = "BOT_MODE")]
    mode: ChannelMode,
    /// Use only 127.0.0.1 and loopback ICE servers (both bots on this machine).
    #[arg(long)]
    loopback: bool,
    /// Use only TURN relay candidates.
    #[arg(long)]
    relay_only: bool,
    /// The play-server relay (when the signal server has one): `fallback` when
    /// peer-to-peer fails, `always` (skip peer-to-peer), or `never`.
    #[arg(long, default_value = "fallback", env = "BOT_RELAY_POLICY")]
    relay_policy: RelayPolicy,
    /// Join the play-server relay over WebSocket (when the server offers a ws:// URL).
    #[arg(long)]
    relay_ws: bool,
    /// Seconds from acceptance to a connected link before peer-to-peer counts as failed.
    #[arg(long, default_value_t = peer::negotiate::DEFAULT_CONNECT_TIMEOUT.as_secs(), env = "BOT_CONNECT_TIMEOUT")]
    connect_timeout_s: u64,
    /// Test hook: never exchange ICE candidates, as if all UDP were blocked.
    #[arg(long, hide = true)]
    block_ice: bool,
    /// Seconds to find an opponent.
    #[arg(long, default_value_t = 60, env = "BOT_MATCH_TIMEOUT")]
    match_timeout_s: u64,
    /// Input delay: `auto` (picked at sync from the measured RTT and jitter) or frames.
    #[arg(long, default_value = "auto", env = "BOT_INPUT_DELAY")]
    input_delay: InputDelay,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Record the match into this replay file (`cargo run --example replay -- verify PATH`).
    #[arg(long, value_name = "PATH", env = "BOT_RECORD")]
    record: Option<std::path::PathBuf>,
    /// Seconds a cut link may take to come back (renegotiated through the server) before
    /// the match ends; 0 turns resuming off (ggrs's own 2 s disconnect then applies).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 20,
        env = "BOT_RESUME_TIMEOUT"
    )]
    resume_timeout: u64,
    /// Fault injection: close the peer connection once this frame is confirmed (the link
    /// is then renegotiated like after a real failure).
    #[arg(long, value_name = "FRAME")]
    interrupt_at: Option<i32>,
}

async fn run(args: &Args) -> Result<BotReport, String> {
    let mut config = PeerConfig::new(args.name.clone());
    config.ice = if args.loopback {
        IceConfig::loopback()
    } else {
        IceConfig::standard()
    };
    config.ice.relay_only = args.relay_only;
    config.ice.block_candidates = args.block_ice;
    config.relay = args.relay_policy;
    config.relay_ws = args.relay_ws;
    config.connect_timeout = Duration::from_secs(args.connect_timeout_s.max(1));
    config.channel = config.channel.with_mode(args.mode);
    config.match_timeout = Duration::from_secs(args.match_timeout_s.max(1));
    config.resume_timeout = Duration::from_secs(args.resume_timeout);
    let rule = match (&args.challenge, &args.accept) {
        (Some(target), _) => MatchRule::Challenge(target.clone()),
        (None, Some(accept)) => {
            MatchRule::Accept(accept.parse::<AcceptRule>().map_err(|e| e.to_string())?)
        }
        (None, None) => return Err("give --challenge ID or --accept any|ID".into()),
    };
    let player = usize::from(matches!(rule, MatchRule::Accept(_)));
    let peer = Peer::connect(&args.server, &args.token, config)
        .await
        .map_err(|e| e.to_string())?;
    let player_id = peer.player_id().to_owned();
    if !args.json {
        eprintln!("bot {player_id}: in the lobby, {rule:?}");
    }
    let mut link = peer.start_match(rule).await.map_err(|e| e.to_string())?;
    let info = link.info().clone();
    if !args.json {
        eprintln!(
            "bot {player_id}: connected to {} ({}) in {:.0} ms ({}), playing {} frames",
            info.opponent.id,
            info.opponent.name,
            info.connect_time.as_secs_f64() * 1e3,
            info.link.name(),
            args.frames
        );
    }
    let mut play_config = PlayConfig::new(args.frames);
    play_config.realtime = !args.fast;
    args.input_delay.configure(&mut play_config.runner);
    play_config.bot_seed = if player == 0 { 1 } else { 2 };
    play_config.deadline =
        Duration::from_secs(u64::from(args.frames) / 10 + 60 + args.resume_timeout);
    play_config.record = args.record.clone();
    play_config.runner.resume_timeout = Duration::from_secs(args.resume_timeout);
    play_config.interrupt_at = args.interrupt_at;
    // a desync's state and replay go next to the recording
    play_config.desync_dir = args
        .record
        .as_ref()
        .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default());
    let outcome = play(&mut link, player, &play_config, |_| {}).await;
    link.finish().await;
    let outcome = outcome?;
    Ok(BotReport {
        connected: true,
        link: info.link,
        player_id,
        opponent_id: info.opponent.id,
        opponent_name: info.opponent.name,
        role: info.role,
        time_to_connect_ms: info.connect_time.as_secs_f64() * 1e3,
        frames: args.frames,
        desyncs: outcome.ggrs_desyncs,
        outcome,
    })
}

fn peer_config(args: &Args) -> PeerConfig {
    let mut config = PeerConfig::new(args.name.clone());
    config.ice = if args.loopback {
        IceConfig::loopback()
    } else {
        IceConfig::standard()
    };
    config.connect_timeout = Duration::from_secs(args.connect_timeout_s.max(1));
    config.match_timeout = Duration::from_secs(args.match_timeout_s.max(1));
    config
}

/// `--spectate`: the report, or why watching could not start.
async fn spectate(args: &Args, target: &str) -> Result<SpectateReport, String> {
    let (player_id, mut watch) =
        netplay::spectate::start_watch(&args.server, &args.token, peer_config(args), target)
            .await?;
    let info = watch.info().clone();
    if !args.json {
        eprintln!(
            "bot {player_id}: watching {target} through {}",
            info.opponent.id
        );
    }
    let deadline = Duration::from_secs(3_600);
    let outcome = netplay::spectate::follow(&mut watch, !args.fast, deadline).await;
    watch.finish().await;
    Ok(SpectateReport {
        connected: true,
        player_id,
        watching: target.to_owned(),
        host_id: info.opponent.id,
        session_id: info.session_id,
        outcome,
    })
}

fn main_spectate(args: &Args, target: &str, runtime: tokio::runtime::Runtime) -> ExitCode {
    let result = runtime.block_on(spectate(args, target));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!("{}", report.summary("bot"));
            }
            if report.outcome.completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"connected": false, "error": error})
                );
            } else {
                eprintln!("bot: {error}");
            }
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    netplay::init_example_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(target) = args.spectate.clone() {
        return main_spectate(&args, &target, runtime);
    }
    let result = runtime.block_on(run(&args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!(
                    "bot {}: {} {} frames vs {}, desyncs {}, checksum {}, winner {}",
                    report.player_id,
                    if report.outcome.completed {
                        "finished"
                    } else {
                        "stopped after"
                    },
                    report.outcome.frames_simulated,
                    report.opponent_id,
                    report.desyncs,
                    report.outcome.checksum.as_deref().unwrap_or("-"),
                    report.outcome.winner
                );
                if let Some(path) = &report.outcome.replay {
                    println!("bot {}: replay {}", report.player_id, path.display());
                }
            }
            if report.outcome.completed && report.desyncs == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"connected": false, "error": error})
                );
            } else {
                eprintln!("bot: {error}");
            }
            ExitCode::FAILURE
        }
    }
}
