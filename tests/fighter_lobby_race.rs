//! The lobby race through the fighter's lobby screen and network thread (no window): bob's
//! screen accepts a challenge that alice withdraws at the same moment (her withdrawal
//! reaches the server just after his accept). The screen must say why at once and be back
//! in the player list, instead of showing "connecting to Alice ..." for the 20 s connect
//! timeout. Real signal server on 127.0.0.1:0, the real network thread, a raw alice.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use netplay::fighter_app::lobby::{LobbyAction, LobbyKey, LobbyScreen, LobbyState};
use netplay::fighter_app::online::{NetCommand, NetEvent, NetHandle, OnlineConfig};
use peer::ChannelMode;
use signal::client::SignalClient;
use signal::protocol::{CancelMatchRequest, ClientMessage, JoinLobby, RequestMatch, ServerMessage};

/// Far below the network thread's connect timeout (the default 20 s).
const PROMPT: Duration = Duration::from_secs(5);

/// Bob's side: the network thread and the screen it feeds, as the app wires them.
struct Bob {
    net: NetHandle,
    screen: LobbyScreen,
    no_match: Vec<String>,
}

impl Bob {
    fn act(&mut self, action: LobbyAction) {
        let command = match action {
            LobbyAction::Accept(request) => NetCommand::Accept(request),
            LobbyAction::Decline(request) => NetCommand::Decline(request),
            other => panic!("bob's screen did not expect {other:?}"),
        };
        assert!(self.net.command(command), "network thread gone");
    }

    fn apply(&mut self, event: NetEvent) {
        match event {
            NetEvent::InLobby(id) => {
                self.screen.connected(&id);
            }
            NetEvent::Lobby(players) => self.screen.set_players(players),
            NetEvent::Challenged(request) => {
                if let Some(action) = self.screen.incoming(request) {
                    self.act(action);
                }
            }
            NetEvent::ChallengeCancelled(session_id) => self.screen.cancelled(&session_id),
            NetEvent::NoMatch(reason) => {
                self.no_match.push(reason.clone());
                self.screen.no_match(&reason);
            }
            NetEvent::Failed(why) => panic!("network thread failed: {why}"),
            _ => {}
        }
    }

    /// Applies the network thread's events until `done` holds (or panics after `limit`).
    async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&Bob) -> bool) {
        let end = Instant::now() + limit;
        while !done(self) {
            assert!(Instant::now() < end, "bob: no {what} within {limit:?}");
            match self.net.events.try_recv() {
                Ok(event) => self.apply(event),
                Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }
}

async fn next_matching<T>(
    client: &mut SignalClient,
    mut pick: impl FnMut(ServerMessage) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = client.recv().await.expect("connection open");
            if let Some(found) = pick(message) {
                return found;
            }
        }
    })
    .await
    .expect("message in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_screen_shows_at_once_that_the_accepted_challenge_was_withdrawn() {
    let server = TestServer::start().await;
    let net = NetHandle::start(OnlineConfig {
        server: server.url(),
        token: server.token("bob"),
        name: "Bob".into(),
        rule: None,
        loopback: true,
        relay_only: false,
        match_timeout: Duration::from_secs(30),
        mode: ChannelMode::Sequenced,
    })
    .expect("network thread");
    let mut bob = Bob {
        net,
        screen: LobbyScreen::new(),
        no_match: Vec::new(),
    };
    let mut alice = SignalClient::connect(&server.url(), &server.token("alice"))
        .await
        .expect("alice connects");
    alice
        .sender()
        .send(ClientMessage::JoinLobby(JoinLobby {
            player_id: "alice".into(),
            player_name: "Alice".into(),
            ..JoinLobby::default()
        }))
        .expect("join");
    let ten = Duration::from_secs(10);
    bob.until("alice in the list", ten, |b| {
        b.screen.is_browsing() && b.screen.players().iter().any(|p| p.player_id == "alice")
    })
    .await;

    // alice challenges; bob's screen prompts; bob presses Y
    alice
        .sender()
        .send(ClientMessage::RequestMatch(RequestMatch {
            requester_id: "alice".into(),
            target_id: "bob".into(),
        }))
        .expect("request");
    bob.until("prompt", ten, |b| {
        matches!(b.screen.state(), LobbyState::Prompt { .. })
    })
    .await;
    let accept = bob.screen.key(LobbyKey::Yes).expect("Y accepts");
    bob.act(accept);
    assert_eq!(
        bob.screen.state(),
        &LobbyState::Starting {
            opponent: "Alice".into()
        }
    );

    // alice withdraws the moment she learns of the accept
    let session_id = next_matching(&mut alice, |m| match m {
        ServerMessage::MatchRequestAccepted(a) => Some(a.session_id),
        _ => None,
    })
    .await;
    alice
        .sender()
        .send(ClientMessage::CancelMatchRequest(CancelMatchRequest {
            requester_id: "alice".into(),
            target_id: "bob".into(),
            session_id,
        }))
        .expect("cancel");
    let withdrawn = Instant::now();
    bob.until("no-match", Duration::from_secs(40), |b| {
        !b.no_match.is_empty()
    })
    .await;
    let waited = withdrawn.elapsed();
    assert_eq!(bob.no_match, ["challenge from alice withdrawn"]);
    assert!(waited < PROMPT, "the screen learnt it after {waited:?}");

    // back in the list, with the reason on screen
    bob.until("return to the lobby", ten, |b| b.screen.is_browsing())
        .await;
    assert_eq!(bob.screen.returns(), 1);
    let (_, lines) = bob.screen.panel();
    assert!(
        lines.contains(&"no match with Alice: challenge from alice withdrawn".to_owned()),
        "{lines:?}"
    );
    let stats = tokio::task::block_in_place(|| bob.net.finish(|_| {}));
    assert!(stats.is_some(), "network thread said goodbye");
    alice.close().await;
    server.server.shutdown().await;
}
