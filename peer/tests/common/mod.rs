//! Shared set-up of the peer integration tests: a real signal server on 127.0.0.1:0 with a
//! random secret, real JWTs, loopback-only peers.
#![allow(dead_code)]

use std::time::Duration;

use peer::{ChannelMode, MatchLink, MatchRule, Peer, PeerConfig};
use signal::server::{RunningServer, ServerConfig, SignalServer};

pub(crate) struct TestServer {
    pub(crate) server: RunningServer,
    pub(crate) secret: Vec<u8>,
}

pub(crate) fn random_secret() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut secret = Vec::new();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        secret.extend_from_slice(&h.finish().to_le_bytes());
    }
    secret
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    pub(crate) async fn start_with(adjust: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        let secret = random_secret();
        let config = ServerConfig::new(secret.clone())
            .with_listen("127.0.0.1:0".parse().expect("test setup"));
        let server = SignalServer::start(adjust(config))
            .await
            .expect("server starts");
        Self { server, secret }
    }

    pub(crate) fn token(&self, player: &str) -> String {
        signal::auth::mint_token(&self.secret, player, Some(player), Duration::from_secs(600))
            .expect("token")
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    pub(crate) async fn peer(&self, player: &str, config: PeerConfig) -> Peer {
        Peer::connect(&self.url(), &self.token(player), config)
            .await
            .expect("peer connects")
    }
}

pub(crate) fn loopback_config(name: &str, mode: ChannelMode) -> PeerConfig {
    let mut config = PeerConfig::loopback(name);
    config.channel = config.channel.with_mode(mode);
    config.match_timeout = Duration::from_secs(30);
    config.connect_timeout = Duration::from_secs(30);
    config
}

/// Connects `alice` (challenger) and `bob` (accepts anyone) through `server`.
pub(crate) async fn matched_pair(server: &TestServer, mode: ChannelMode) -> (MatchLink, MatchLink) {
    let alice = server.peer("alice", loopback_config("Alice", mode)).await;
    let bob = server.peer("bob", loopback_config("Bob", mode)).await;
    let a = tokio::spawn(alice.start_match(MatchRule::Challenge("bob".into())));
    let b = tokio::spawn(bob.start_match(MatchRule::Accept(peer::AcceptRule::Any)));
    let (a, b) = tokio::join!(a, b);
    (
        a.expect("test setup").expect("alice's match starts"),
        b.expect("test setup").expect("bob's match starts"),
    )
}

/// Reads `peer`'s messages until `player` is available in its lobby.
pub(crate) async fn wait_for_player(peer: &mut Peer, player: &str) {
    let seen = |peer: &Peer| {
        peer.lobby()
            .players()
            .any(|p| p.player_id == player && p.status == signal::protocol::PlayerStatus::Available)
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen(peer) {
            if peer.next_message().await.is_none() {
                panic!("connection closed");
            }
        }
    })
    .await
    .expect("player listed in time");
}

/// Reads `peer`'s messages until a request arrives.
pub(crate) async fn next_request(peer: &mut Peer) -> signal::protocol::MatchRequestReceived {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match peer.next_message().await {
                Some(signal::protocol::ServerMessage::MatchRequestReceived(request)) => {
                    return request
                }
                Some(_) => {}
                None => panic!("connection closed"),
            }
        }
    })
    .await
    .expect("request in time")
}
