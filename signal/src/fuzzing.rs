//! Entry point for the fuzz target: arbitrary bytes through parsing and the hub.
//!
//! The input is split into frames at `\n`. The first byte of each frame picks the sender
//! (`% 4`: 1 alice, 2 bob, 3 carol; 0 disconnects and reconnects alice); the rest is the
//! text frame (lossily decoded as UTF-8).
//! The literal `@sid` is replaced by the newest session id the hub handed out, and `@t`
//! advances the virtual clock past every deadline, so the fuzzer can reach deep states.
//! After every frame the hub's invariants must hold.

use std::time::{Duration, Instant};

use crate::hub::{Hub, HubConfig, HubOutput};
use crate::protocol::ServerMessage;

const PLAYERS: [&str; 3] = ["alice", "bob", "carol"];

/// What one [`feed`] run did (for regression tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Frames handed to the hub.
    pub frames: usize,
    /// Frames refused with an error.
    pub refused: usize,
    /// `match_started` messages sent.
    pub matches_started: usize,
}

/// Feeds `data` to a fresh hub. Panics only if an invariant breaks (that is the bug the
/// fuzzer looks for).
pub fn feed(data: &[u8]) -> FeedStats {
    let mut stats = FeedStats::default();
    let config = HubConfig {
        request_timeout: Duration::from_secs(30),
        negotiation_timeout: Duration::from_secs(30),
        lobby_debounce: Duration::from_millis(100),
        max_lobby_size: 3,
        resume_timeout: Duration::from_secs(20),
    };
    let mut hub = Hub::with_seed(config, 7);
    let mut now = Instant::now();
    for (conn, player) in (1u64..).zip(PLAYERS) {
        hub.connect(conn, player, player, now);
    }
    let mut last_sid = String::from("none");
    for frame in data.split(|b| *b == b'\n') {
        let Some((&selector, body)) = frame.split_first() else {
            continue;
        };
        let conn = u64::from(selector % 4);
        let text = String::from_utf8_lossy(body).replace("@sid", &last_sid);
        if text.starts_with("@t") {
            now += Duration::from_secs(31);
            hub.handle_timeout(now);
        } else if conn == 0 {
            // A disconnect and a reconnect of the first player.
            hub.disconnect(1, now);
            hub.connect(1, PLAYERS[0], "again", now);
        } else {
            stats.frames += 1;
            if hub.handle_text(conn, &text, now).is_err() {
                stats.refused += 1;
            }
        }
        now += Duration::from_millis(u64::from(selector));
        while let Some(out) = hub.poll_output() {
            match out {
                HubOutput::Send {
                    msg: ServerMessage::MatchRequestSent(sent),
                    ..
                } => last_sid = sent.session_id,
                HubOutput::Send {
                    msg: ServerMessage::MatchStarted(_),
                    ..
                } => stats.matches_started += 1,
                _ => {}
            }
        }
        if let Err(violation) = hub.check_invariants() {
            panic!("hub invariant violated: {violation}");
        }
    }
    stats
}
