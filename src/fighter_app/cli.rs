//! The `fighter` example's flags and their validation into a [`Mode`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use peer::{AcceptRule, ChannelMode, MatchRule};

use super::input::BotKind;
use super::lobby::LobbyScript;
use super::online::OnlineConfig;

/// Command-line flags of `fighter`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "fighter",
    about = "The reference fighter in a window: against the bot, two players on one keyboard, \
             bot vs bot, or online through a signal server"
)]
pub struct Args {
    /// Local opponent: `bot` (you against the reactive AI) or `local` (two players on one
    /// keyboard).
    #[arg(long, value_enum, default_value_t = Versus::Bot)]
    pub vs: Versus,
    /// Attract mode: two bots, no human (`--bots ai,random`; kinds: ai, random, routine,
    /// idle).
    #[arg(long, value_delimiter = ',', conflicts_with = "server")]
    pub bots: Option<Vec<BotKind>>,
    /// Play online through this signal server (ws://host:port/ws/signal).
    #[arg(long, env = "FIGHTER_SERVER", requires = "token")]
    pub server: Option<String>,
    /// JWT for the signal server (its `sub` is the player id).
    #[arg(long, env = "FIGHTER_TOKEN")]
    pub token: Option<String>,
    /// Display name in the lobby.
    #[arg(long, default_value = "fighter", env = "FIGHTER_NAME")]
    pub name: String,
    /// Online: challenge this player id (we are player 1 and create the offer).
    #[arg(long, conflicts_with = "accept", requires = "server")]
    pub challenge: Option<String>,
    /// Online: accept a challenge from `any` player or from this player id.
    #[arg(long, requires = "server")]
    pub accept: Option<String>,
    /// Online, lobby screen (no --challenge / --accept): scripted lobby keys for automation,
    /// comma-separated steps run in order, each once the screen can take it:
    /// `challenge=ID` (select ID with the arrows, Enter), `accept` (Y on the next
    /// challenge), `decline` (N), `quit` (Q once back in the player list).
    #[arg(long, value_name = "STEPS", conflicts_with_all = ["challenge", "accept"], requires = "server")]
    pub lobby_script: Option<String>,
    /// Online: watch this player's running match to its end instead of playing (exit 0
    /// at the players' final frame with their checksum, 1 when the stream fails or ends
    /// early, 2 when watching cannot start).
    #[arg(long, value_name = "PLAYER", requires = "server", conflicts_with_all = ["challenge", "accept", "lobby_script", "bot", "record", "frames"])]
    pub spectate: Option<String>,
    /// Online: a bot drives the local side (kinds: ai, random, routine, idle).
    #[arg(long, requires = "server")]
    pub bot: Option<BotKind>,
    /// Online: use only 127.0.0.1 and loopback ICE servers.
    #[arg(long, requires = "server")]
    pub loopback: bool,
    /// Online: use only TURN relay candidates.
    #[arg(long, requires = "server")]
    pub relay_only: bool,
    /// Online: channel ordering (both players must agree): sequenced or ordered.
    #[arg(long, default_value = "sequenced")]
    pub mode: ChannelMode,
    /// Online: seconds to find an opponent.
    #[arg(long, default_value_t = 60)]
    pub match_timeout_s: u64,
    /// End after N simulated frames (online: once frame N is confirmed by both players, as
    /// the `bot` example does).
    #[arg(long)]
    pub frames: Option<u32>,
    /// Write a PNG of the last drawn frame at exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Write a PNG of the first drawn frame whose state is at frame N or later
    /// (`N:PATH`, repeatable).
    #[arg(long, value_parser = parse_shot)]
    pub screenshot_at: Vec<(u32, PathBuf)>,
    /// Print one JSON object on exit (the `bot` example's format).
    #[arg(long)]
    pub json: bool,
    /// Local modes: run under ggrs's SyncTest, rolling back and re-simulating 8 frames on
    /// every frame and comparing checksums (determinism check and benchmark).
    #[arg(long, conflicts_with = "server")]
    pub synctest: bool,
    /// Local modes: one simulated frame per drawn frame, as fast as the window draws (tests,
    /// benchmarks) instead of 60 Hz.
    #[arg(long, conflicts_with = "server")]
    pub fast: bool,
    /// Start with the hitboxes shown (F2).
    #[arg(long)]
    pub boxes: bool,
    /// Start with the netcode overlay shown (F3; on by default online).
    #[arg(long)]
    pub overlay: bool,
    /// Record the match into this replay file (local modes: the last match played;
    /// online: our side, cut at `--frames` when given).
    #[arg(long, value_name = "PATH", env = "FIGHTER_RECORD")]
    pub record: Option<PathBuf>,
    /// Watch this replay instead of playing: Space pause, `.` one frame, Left / Right
    /// seek 10 s, Up / Down speed (0.25x to 4x), Home restart.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["server", "bots", "synctest", "record"])]
    pub replay: Option<PathBuf>,
}

/// The local opponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Versus {
    /// The reactive AI bot.
    Bot,
    /// A second human on the same keyboard.
    Local,
}

fn parse_shot(s: &str) -> Result<(u32, PathBuf), String> {
    let (n, path) = s
        .split_once(':')
        .ok_or_else(|| format!("expected N:PATH, got {s:?}"))?;
    let n = n
        .parse::<u32>()
        .map_err(|e| format!("bad frame {n:?}: {e}"))?;
    if path.is_empty() {
        return Err("empty screenshot path".into());
    }
    Ok((n, PathBuf::from(path)))
}

/// Who plays, decided from the flags.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Both players on this machine: a human or a bot on each side.
    Local {
        /// Player 1 and player 2 (None = human).
        sides: [Option<BotKind>; 2],
    },
    /// One side here, the other through the signal server.
    Online {
        /// Connection and matching.
        config: OnlineConfig,
        /// The bot that plays our side (None = the human).
        bot: Option<BotKind>,
        /// Whether the run is unattended (a rule and a bot): failing to play is exit 1.
        unattended: bool,
        /// Lobby screen (no rule): scripted keys (`--lobby-script`).
        script: Option<LobbyScript>,
    },
}

impl Args {
    /// Checks the flags' values and decides the [`Mode`]; the error is for exit code 2.
    pub fn mode(&self) -> Result<Mode, String> {
        if self.frames == Some(0) {
            return Err("--frames must be at least 1".into());
        }
        if self.match_timeout_s == 0 {
            return Err("--match-timeout-s must be at least 1".into());
        }
        for path in self
            .screenshot
            .iter()
            .chain(self.screenshot_at.iter().map(|(_, p)| p))
        {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent {
                if !dir.is_dir() {
                    return Err(format!(
                        "screenshot directory {} does not exist",
                        dir.display()
                    ));
                }
            }
        }
        let Some(server) = &self.server else {
            let sides = match (&self.bots, self.vs) {
                (Some(bots), _) => match bots.as_slice() {
                    [a, b] => [Some(*a), Some(*b)],
                    _ => return Err("--bots takes two bot kinds, e.g. ai,random".into()),
                },
                (None, Versus::Bot) => [None, Some(BotKind::Ai)],
                (None, Versus::Local) => [None, None],
            };
            return Ok(Mode::Local { sides });
        };
        let token = self.token.clone().ok_or("--server needs --token")?;
        if !(server.starts_with("ws://") || server.starts_with("wss://")) {
            return Err(format!(
                "--server must be a ws:// or wss:// URL, got {server}"
            ));
        }
        let rule = match (&self.challenge, &self.accept) {
            (Some(target), _) => Some(MatchRule::Challenge(target.clone())),
            (None, Some(accept)) => Some(MatchRule::Accept(
                accept
                    .parse::<AcceptRule>()
                    .map_err(|e| format!("--accept: {e}"))?,
            )),
            // the in-window lobby screen picks the opponent
            (None, None) => None,
        };
        let script = match &self.lobby_script {
            Some(text) => Some(
                text.parse::<LobbyScript>()
                    .map_err(|e| format!("--lobby-script: {e}"))?,
            ),
            None => None,
        };
        Ok(Mode::Online {
            config: OnlineConfig {
                server: server.clone(),
                token,
                name: self.name.clone(),
                rule: rule.clone(),
                loopback: self.loopback,
                relay_only: self.relay_only,
                match_timeout: Duration::from_secs(self.match_timeout_s),
                mode: self.mode,
            },
            unattended: self.bot.is_some() && rule.is_some(),
            script,
            bot: self.bot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("fighter").chain(args.iter().copied()))
    }

    #[test]
    fn default_is_human_against_the_ai() {
        let mode = parse(&[]).map(|a| a.mode()).ok();
        assert!(matches!(
            mode,
            Some(Ok(Mode::Local {
                sides: [None, Some(BotKind::Ai)]
            }))
        ));
    }

    #[test]
    fn attract_mode_takes_two_bots() {
        let args = parse(&["--bots", "ai,random"]).ok();
        let mode = args.map(|a| a.mode());
        assert!(matches!(
            mode,
            Some(Ok(Mode::Local {
                sides: [Some(BotKind::Ai), Some(BotKind::Random)]
            }))
        ));
        let one = parse(&["--bots", "ai"]);
        assert!(one.map(|a| a.mode().is_err()).unwrap_or(false));
        assert!(parse(&["--bots", "ai,robot"]).is_err());
    }

    #[test]
    fn online_flags_are_checked() {
        assert!(parse(&["--challenge", "bob"]).is_err(), "needs --server");
        assert!(
            parse(&["--server", "ws://x/ws/signal"]).is_err(),
            "needs --token"
        );
        let a = parse(&["--server", "http://x", "--token", "t", "--accept", "any"]);
        assert!(a.map(|a| a.mode().is_err()).unwrap_or(false));
        let a = parse(&[
            "--server",
            "ws://127.0.0.1:1/ws/signal",
            "--token",
            "t",
            "--challenge",
            "bob",
            "--bot",
            "ai",
        ]);
        match a.map(|a| a.mode()) {
            Ok(Ok(Mode::Online {
                config, unattended, ..
            })) => {
                assert!(unattended);
                assert_eq!(config.rule, Some(MatchRule::Challenge("bob".into())));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn without_a_rule_the_lobby_screen_picks() {
        let url = "ws://127.0.0.1:1/ws/signal";
        let a = parse(&["--server", url, "--token", "t", "--bot", "ai"]);
        match a.map(|a| a.mode()) {
            Ok(Ok(Mode::Online {
                config,
                unattended,
                script,
                ..
            })) => {
                assert_eq!(config.rule, None);
                assert!(!unattended, "the lobby screen handles failures");
                assert!(script.is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        let a = parse(&[
            "--server",
            url,
            "--token",
            "t",
            "--lobby-script",
            "accept,quit",
        ]);
        assert!(matches!(
            a.map(|a| a.mode()),
            Ok(Ok(Mode::Online {
                script: Some(_),
                ..
            }))
        ));
        let bad = parse(&["--server", url, "--token", "t", "--lobby-script", "dance"]);
        assert!(bad.map(|a| a.mode().is_err()).unwrap_or(false));
        let both = ["--server", url, "--token", "t", "--lobby-script", "quit"];
        assert!(parse(&[&both[..], &["--accept", "any"]].concat()).is_err());
        assert!(
            parse(&["--lobby-script", "quit"]).is_err(),
            "needs --server"
        );
    }

    #[test]
    fn spectate_needs_a_server_and_no_match_rule() {
        let url = "ws://127.0.0.1:1/ws/signal";
        assert!(parse(&["--spectate", "alice"]).is_err(), "needs --server");
        let with = ["--server", url, "--token", "t", "--spectate", "alice"];
        assert!(parse(&[&with[..], &["--challenge", "bob"]].concat()).is_err());
        assert!(parse(&[&with[..], &["--bot", "ai"]].concat()).is_err());
        assert!(
            parse(&[&with[..], &["--frames", "60"]].concat()).is_err(),
            "the stream decides the last frame"
        );
        match parse(&with).map(|a| (a.mode(), a.spectate)) {
            Ok((Ok(Mode::Online { config, .. }), Some(target))) => {
                assert_eq!(target, "alice");
                assert_eq!(config.rule, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn screenshot_flags_are_checked() {
        assert!(parse(&["--screenshot-at", "60"]).is_err());
        assert!(parse(&["--screenshot-at", "x:a.png"]).is_err());
        let a = parse(&["--screenshot-at", "60:a.png", "--frames", "0"]);
        assert!(a.map(|a| a.mode().is_err()).unwrap_or(false));
        let a = parse(&["--screenshot", "/no/such/dir/a.png"]);
        assert!(a.map(|a| a.mode().is_err()).unwrap_or(false));
    }
}
