//! Spectator sessions in the sans-IO hub: `watch_match`, the relayed negotiation between
//! watcher and host, `watching` in the lobby (snapshot and delta), the limit of 8 per
//! match, and how spectator sessions end.

use std::time::{Duration, Instant};

use signal::hub::{Hub, HubConfig, HubOutput};
use signal::protocol::*;

struct World {
    hub: Hub,
    now: Instant,
    out: Vec<(u64, ServerMessage)>,
    deltas: Vec<LobbyDelta>,
}

fn pid(i: u64) -> String {
    format!("p{i}")
}

impl World {
    fn new(players: u64) -> Self {
        let mut w = World {
            hub: Hub::with_seed(HubConfig::default(), 7),
            now: Instant::now(),
            out: Vec::new(),
            deltas: Vec::new(),
        };
        for i in 0..players {
            w.hub.connect(i, &pid(i), &pid(i), w.now);
            let join = JoinLobby::new(pid(i), format!("P{i}")).with_updates(LobbyUpdates::Delta);
            w.send(i, ClientMessage::JoinLobby(join)).expect("join");
        }
        w
    }

    fn drain(&mut self) {
        while let Some(o) = self.hub.poll_output() {
            match o {
                HubOutput::Send { conn, msg } => self.out.push((conn, msg)),
                HubOutput::LobbyDelta { delta, .. } => self.deltas.push((*delta).clone()),
                _ => {}
            }
        }
    }

    fn send(&mut self, p: u64, msg: ClientMessage) -> Result<(), u16> {
        let r = self.hub.handle_message(p, msg, self.now);
        self.drain();
        r.map_err(|e| e.code.as_u16())
    }

    fn tick(&mut self, d: Duration) {
        self.now += d;
        self.hub.handle_timeout(self.now);
        self.drain();
    }

    fn take(&mut self, p: u64) -> Vec<ServerMessage> {
        let (mine, rest) = std::mem::take(&mut self.out)
            .into_iter()
            .partition(|(c, _)| *c == p);
        self.out = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// p0 and p1 play a running match; returns its session id.
    fn play(&mut self, a: u64, b: u64) -> String {
        self.send(
            a,
            ClientMessage::RequestMatch(RequestMatch {
                requester_id: pid(a),
                target_id: pid(b),
            }),
        )
        .expect("request");
        let sid = self.hub.live_session_of(&pid(a)).map(str::to_owned);
        assert!(sid.is_none());
        self.send(
            b,
            ClientMessage::AcceptMatch(AcceptMatch {
                accepter_id: pid(b),
                requester_id: pid(a),
                session_id: None,
            }),
        )
        .expect("accept");
        let sid = self.hub.live_session_of(&pid(a)).expect("live").to_owned();
        self.relay(a, b, &sid, true).expect("offer");
        for p in [a, b] {
            self.report(p, &sid).expect("report");
        }
        self.out.clear();
        sid
    }

    fn relay(&mut self, from: u64, to: u64, sid: &str, offer: bool) -> Result<(), u16> {
        let relay = SdpRelay {
            sender_id: pid(from),
            receiver_id: pid(to),
            sdp: format!("sdp from {from}"),
            session_id: sid.to_owned(),
        };
        self.send(
            from,
            if offer {
                ClientMessage::SendSdpOffer(relay)
            } else {
                ClientMessage::SendSdpAnswer(relay)
            },
        )
    }

    fn report(&mut self, p: u64, sid: &str) -> Result<(), u16> {
        self.send(
            p,
            ClientMessage::ReportConnection(ReportConnection {
                player_id: pid(p),
                session_id: sid.to_owned(),
                state: ConnectionState::Connected,
            }),
        )
    }

    fn watch(&mut self, p: u64, target: u64) -> Result<WatchStarted, u16> {
        self.send(
            p,
            ClientMessage::WatchMatch(WatchMatch {
                player_id: pid(p),
                target_id: pid(target),
            }),
        )?;
        self.take(p)
            .into_iter()
            .find_map(|m| match m {
                ServerMessage::WatchStarted(w) => Some(w),
                _ => None,
            })
            .ok_or(0)
    }

    fn status(&self, p: u64) -> PlayerStatus {
        let lobby = self.hub.lobby();
        lobby
            .players
            .iter()
            .find(|r| r.player_id == pid(p))
            .expect("in the lobby")
            .status
    }
}

#[test]
fn a_watcher_negotiates_with_the_host_and_shows_as_watching() {
    let mut w = World::new(3);
    let match_id = w.play(0, 1);
    w.tick(Duration::from_millis(200)); // the first full updates go out
    w.deltas.clear();
    let started = w.watch(2, 1).expect("watch");
    assert_eq!(started.match_session_id, match_id);
    assert_ne!(started.session_id, match_id, "a session id of its own");
    assert_eq!(started.host_id, "p1", "the target hosts on a tie");
    let host_msgs = w.take(1);
    assert!(host_msgs.iter().any(|m| matches!(m,
        ServerMessage::SpectatorJoined(j) if j.session_id == started.session_id && j.watcher_id == "p2")));
    assert_eq!(w.status(2), PlayerStatus::Watching);
    // the lobby delta carries the new status
    w.tick(Duration::from_millis(200));
    assert!(w.deltas.iter().any(|d| d
        .changed
        .iter()
        .any(|r| r.player_id == "p2" && r.status == PlayerStatus::Watching)));

    // the same relay messages, in the spectator session
    let sid = started.session_id.clone();
    w.relay(2, 1, &sid, true).expect("offer");
    assert!(w.take(1).iter().any(|m| matches!(m,
        ServerMessage::SdpOfferReceived(o) if o.session_id == sid && o.sender_id == "p2")));
    w.relay(1, 2, &sid, false).expect("answer");
    assert!(w.take(2).iter().any(|m| matches!(m,
        ServerMessage::SdpAnswerReceived(o) if o.session_id == sid)));
    // only its two members may use it
    assert_eq!(w.relay(0, 2, &sid, true), Err(403));
    assert_eq!(w.relay(2, 0, &sid, true), Err(403));
    w.report(2, &sid).expect("report");
    w.report(1, &sid).expect("report");
    assert!(w.hub.spectator_session(&sid).expect("live").connected);
    w.hub.check_invariants().expect("invariants");

    // the match ends: so does the spectator session
    w.send(
        0,
        ClientMessage::EndMatch(EndMatch {
            player_id: "p0".into(),
            session_id: match_id,
        }),
    )
    .expect("end");
    for p in [1, 2] {
        assert!(w.take(p).iter().any(|m| matches!(m,
            ServerMessage::MatchEnded(e) if e.session_id == sid && e.reason == EndReason::Ended)));
    }
    assert!(w.hub.spectator_session(&sid).is_none());
    assert_eq!(w.status(2), PlayerStatus::Available);
    w.hub.check_invariants().expect("invariants");
}

#[test]
fn a_match_takes_at_most_eight_spectators_spread_over_both_players() {
    let mut w = World::new(11);
    let match_id = w.play(0, 1);
    let mut hosts = [0; 2];
    for p in 2..10 {
        let s = w.watch(p, 1).expect("watch");
        hosts[usize::from(s.host_id == "p1")] += 1;
    }
    assert_eq!(hosts, [4, 4], "the hub balances the hosts");
    assert_eq!(w.hub.spectators_of(&match_id), 8);
    assert_eq!(w.watch(10, 0).err(), Some(409));
    let err = w.take(10);
    assert!(err
        .iter()
        .any(|m| matches!(m, ServerMessage::Error(e) if e.code == 409)));
    // refused: nothing changed
    assert_eq!(w.status(10), PlayerStatus::Available);
    w.hub.check_invariants().expect("invariants");
}

#[test]
fn refusals_name_the_reason() {
    let mut w = World::new(4);
    // nobody plays yet
    assert_eq!(w.watch(2, 1).err(), Some(409));
    w.play(0, 1);
    assert_eq!(w.watch(2, 2).err(), Some(400));
    assert_eq!(w.watch(2, 9).err(), Some(404));
    assert_eq!(
        w.watch(0, 1).err(),
        Some(409),
        "a player cannot watch its own match"
    );
    let spoof = WatchMatch {
        player_id: "p3".into(),
        target_id: "p1".into(),
    };
    assert_eq!(w.send(2, ClientMessage::WatchMatch(spoof)), Err(403));
    w.watch(2, 1).expect("watch");
    assert_eq!(w.watch(2, 0).err(), Some(409), "already watching");
    w.hub.check_invariants().expect("invariants");
}

#[test]
fn spectator_sessions_end_on_disconnect_and_fail_on_timeout() {
    let mut w = World::new(4);
    w.play(0, 1);
    let a = w.watch(2, 1).expect("watch");
    let b = w.watch(3, 1).expect("watch");
    assert_eq!(b.host_id, "p0", "the second goes to the other player");
    // the watcher goes away: its host is told
    w.take(1);
    w.hub.disconnect(2, w.now);
    w.drain();
    assert!(w.take(1).iter().any(|m| matches!(m,
        ServerMessage::MatchEnded(e) if e.session_id == a.session_id && e.reason == EndReason::PeerDisconnected)));
    // the other never negotiates: it fails after the negotiation timeout
    w.tick(DEFAULT_NEGOTIATION_TIMEOUT_FOR_TEST + Duration::from_secs(1));
    for p in [0, 3] {
        assert!(w.take(p).iter().any(|m| matches!(m,
            ServerMessage::MatchFailed(f) if f.session_id == b.session_id && f.reason == FailReason::Timeout)));
    }
    assert_eq!(
        w.hub
            .spectators_of(w.hub.live_session_of("p0").expect("live")),
        0
    );
    w.hub.check_invariants().expect("invariants");
}

const DEFAULT_NEGOTIATION_TIMEOUT_FOR_TEST: Duration = signal::hub::DEFAULT_NEGOTIATION_TIMEOUT;
