//! The lobby race: a challenge withdrawn at the moment the other player accepts it. The
//! accepting side must learn at once that the request is gone (a typed error, event-driven)
//! instead of waiting for its connect timeout. Real signal server on 127.0.0.1:0, real
//! clients.

mod common;

use std::time::{Duration, Instant};

use common::{loopback_config, next_request, wait_for_player, TestServer};
use peer::negotiate::DEFAULT_CONNECT_TIMEOUT;
use peer::{AcceptRule, ChannelMode, MatchRule, Peer, PeerError};
use signal::client::SignalClient;
use signal::protocol::{
    CancelMatchRequest, ClientMessage, JoinLobby, MatchRequestReceived, RequestMatch, ServerMessage,
};

/// Far below the connect timeout of the accepting side (the default 20 s): an answer later
/// than this means it waited for a timer, not for the server's answer.
const PROMPT: Duration = Duration::from_secs(5);

/// Reads `client`'s messages until `pick` returns something.
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

/// A raw client `alice` in the lobby (so the test controls exactly what she sends).
async fn raw_alice(server: &TestServer) -> SignalClient {
    let client = SignalClient::connect(&server.url(), &server.token("alice"))
        .await
        .expect("alice connects");
    client
        .sender()
        .send(ClientMessage::JoinLobby(JoinLobby {
            player_id: "alice".into(),
            player_name: "Alice".into(),
            ..JoinLobby::default()
        }))
        .expect("join sent");
    client
}

fn cancel(session_id: &str) -> ClientMessage {
    ClientMessage::CancelMatchRequest(CancelMatchRequest {
        requester_id: "alice".into(),
        target_id: "bob".into(),
        session_id: session_id.into(),
    })
}

/// Bob with the default connect timeout (the one the bug report waited for).
async fn bob(server: &TestServer) -> Peer {
    let mut config = loopback_config("Bob", ChannelMode::Sequenced);
    config.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    server.peer("bob", config).await
}

/// Alice (raw) requests a match with bob; returns the session id and bob's request.
async fn request(alice: &mut SignalClient, bob: &mut Peer) -> (String, MatchRequestReceived) {
    wait_for_player(bob, "alice").await;
    alice
        .sender()
        .send(ClientMessage::RequestMatch(RequestMatch {
            requester_id: "alice".into(),
            target_id: "bob".into(),
        }))
        .expect("request sent");
    let session_id = next_matching(alice, |m| match m {
        ServerMessage::MatchRequestSent(sent) => Some(sent.session_id),
        _ => None,
    })
    .await;
    let request = next_request(bob).await;
    assert_eq!(request.session_id, session_id);
    (session_id, request)
}

/// Checks bob's `accept` ended with the typed withdrawal, soon after `started`.
fn assert_withdrawn(
    accepted: Result<peer::MatchLink, PeerError>,
    started: Instant,
    session_id: &str,
) {
    let waited = started.elapsed();
    match accepted {
        Err(PeerError::RequestWithdrawn {
            requester_id,
            session_id: sid,
            ..
        }) => {
            assert_eq!(requester_id, "alice");
            assert_eq!(sid, session_id);
        }
        other => panic!("expected RequestWithdrawn, got {other:?} after {waited:?}"),
    }
    assert!(
        waited < PROMPT,
        "bob learnt it after {waited:?}, not from the server's answer"
    );
}

/// The race as reported: alice's withdrawal reaches the server just after bob's accept
/// (she already got `match_request_accepted`). Before the fix the server refused the
/// cancel with 409, kept the session `accepted`, and bob waited for an offer until his
/// 20 s connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_just_after_the_accept_reaches_the_accepter_at_once() {
    let server = TestServer::start().await;
    let mut bob = bob(&server).await;
    let mut alice = raw_alice(&server).await;
    let (session_id, request) = request(&mut alice, &mut bob).await;

    let started = Instant::now();
    let accepted = tokio::spawn(bob.accept(request));
    next_matching(&mut alice, |m| match m {
        ServerMessage::MatchRequestAccepted(a) => Some(a),
        _ => None,
    })
    .await;
    alice.sender().send(cancel(&session_id)).expect("cancel");
    let accepted = tokio::time::timeout(Duration::from_secs(40), accepted)
        .await
        .expect("accept returns within its own timeout")
        .expect("task");
    assert_withdrawn(accepted, started, &session_id);

    // the server freed alice too: she may challenge again at once (no 409 "already in a
    // match"), and her withdrawal got no error
    alice
        .sender()
        .send(ClientMessage::RequestMatch(RequestMatch {
            requester_id: "alice".into(),
            target_id: "carol".into(),
        }))
        .expect("request sent");
    let answer = next_matching(&mut alice, |m| match m {
        ServerMessage::Error(e) => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(
        (answer.code, answer.message.as_str()),
        (404, "unknown player"),
        "alice is free (no carol here): {answer:?}"
    );
    alice.close().await;
    server.server.shutdown().await;
}

/// The other order: the server removed the request (and queued `match_request_cancelled`
/// for bob) before bob's accept reached it; bob had not read that message yet. The
/// accept's answer is `error 404` naming the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_request_withdrawn_just_before_fails_at_once() {
    let server = TestServer::start().await;
    let mut bob = bob(&server).await;
    let mut alice = raw_alice(&server).await;
    let (session_id, request) = request(&mut alice, &mut bob).await;

    // alice withdraws; her second cancel's 404 proves the first one was handled
    alice.sender().send(cancel(&session_id)).expect("cancel");
    alice.sender().send(cancel(&session_id)).expect("cancel");
    let code = next_matching(&mut alice, |m| match m {
        ServerMessage::Error(e) => Some(e.code),
        _ => None,
    })
    .await;
    assert_eq!(code, 404, "the request is gone on the server");

    let started = Instant::now();
    let accepted = tokio::time::timeout(Duration::from_secs(40), bob.accept(request))
        .await
        .expect("accept returns within its own timeout");
    assert_withdrawn(accepted, started, &session_id);
    alice.close().await;
    server.server.shutdown().await;
}

/// Both sides through the peer API, as the fighter's lobby screen does it: alice withdraws
/// her challenge (drops it) while bob accepts. Her driver sends `cancel_match_request`
/// before it closes her connection (waiting for her request's session id if it has not
/// come yet), so whatever the order in which the server sees them, bob gets the
/// withdrawal, not `match_failed peer_disconnected` nor a timeout. (Alice sends no
/// ICE candidates, so the match can never start before her withdrawal however late the
/// scheduler runs it: only the order of the accept and the withdrawal varies.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_dropped_while_it_is_accepted_is_a_withdrawal_for_the_accepter() {
    let server = TestServer::start().await;
    for delay_ms in [0u64, 1, 3] {
        let mut bob = bob(&server).await;
        let mut config = loopback_config("Alice", ChannelMode::Sequenced);
        config.ice.block_candidates = true;
        let mut alice = server.peer("alice", config).await;
        wait_for_player(&mut alice, "bob").await;
        wait_for_player(&mut bob, "alice").await;
        let challenge = tokio::spawn(alice.challenge("bob"));
        let request = next_request(&mut bob).await;
        let session_id = request.session_id.clone();
        let started = Instant::now();
        let accepted = tokio::spawn(bob.accept(request));
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        challenge.abort();
        let accepted = tokio::time::timeout(Duration::from_secs(40), accepted)
            .await
            .expect("accept returns within its own timeout")
            .expect("task");
        assert_withdrawn(accepted, started, &session_id);
    }
    server.server.shutdown().await;
}

/// A challenger whose connection just goes after the accept (no withdrawal sent): the
/// negotiation fails (`match_failed peer_disconnected`, the contract) and bob's accept
/// ends with that at once, not at his 20 s connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenger_whose_connection_drops_after_the_accept_fails_the_accept_at_once() {
    let server = TestServer::start().await;
    let mut bob = bob(&server).await;
    let mut alice = raw_alice(&server).await;
    let (_, request) = request(&mut alice, &mut bob).await;
    let started = Instant::now();
    let accepted = tokio::spawn(bob.accept(request));
    next_matching(&mut alice, |m| match m {
        ServerMessage::MatchRequestAccepted(a) => Some(a),
        _ => None,
    })
    .await;
    alice.close().await;
    let accepted = tokio::time::timeout(Duration::from_secs(40), accepted)
        .await
        .expect("accept returns within its own timeout")
        .expect("task");
    let waited = started.elapsed();
    match accepted {
        Err(PeerError::MatchFailed(reason)) => assert_eq!(reason, "PeerDisconnected"),
        other => panic!("expected MatchFailed(PeerDisconnected), got {other:?} after {waited:?}"),
    }
    assert!(
        waited < PROMPT,
        "bob learnt it after {waited:?}, not from the server's answer"
    );
    server.server.shutdown().await;
}

/// The `bot --accept any` path ([`Peer::start_match`] with an accept rule): a challenge
/// withdrawn just after the automatic accept sends the accepter back to waiting (not to an
/// error, not to a timeout), and the next challenger plays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_rule_waits_again_when_the_accepted_challenge_is_withdrawn() {
    let server = TestServer::start().await;
    let mut bob = bob(&server).await;
    let mut alice = raw_alice(&server).await;
    wait_for_player(&mut bob, "alice").await;
    let waiting = tokio::spawn(bob.start_match(MatchRule::Accept(AcceptRule::Any)));
    alice
        .sender()
        .send(ClientMessage::RequestMatch(RequestMatch {
            requester_id: "alice".into(),
            target_id: "bob".into(),
        }))
        .expect("request sent");
    let session_id = next_matching(&mut alice, |m| match m {
        ServerMessage::MatchRequestAccepted(a) => Some(a.session_id),
        _ => None,
    })
    .await;
    alice.sender().send(cancel(&session_id)).expect("cancel");

    let carol = server
        .peer("carol", loopback_config("Carol", ChannelMode::Sequenced))
        .await;
    let challenge = tokio::spawn(carol.start_match(MatchRule::Challenge("bob".into())));
    let (b, c) = tokio::join!(waiting, challenge);
    let (mut b, mut c) = (
        b.expect("task").expect("bob plays the next challenger"),
        c.expect("task").expect("carol's match"),
    );
    assert_eq!(b.info().opponent.id, "carol");
    assert_ne!(b.info().session_id, session_id);
    assert!(b.take_socket().is_some() && c.take_socket().is_some());
    b.finish().await;
    c.finish().await;
    alice.close().await;
    server.server.shutdown().await;
}

/// A lobby screen that read the `match_request_cancelled` itself (its user pressed accept
/// at the same moment): the accept's `error 404` naming the session is the same typed
/// withdrawal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_after_the_lobby_read_the_withdrawal_fails_at_once() {
    let server = TestServer::start().await;
    let mut bob = bob(&server).await;
    let mut alice = raw_alice(&server).await;
    let (session_id, request) = request(&mut alice, &mut bob).await;
    alice.sender().send(cancel(&session_id)).expect("cancel");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match bob.next_message().await {
                Some(ServerMessage::MatchRequestCancelled(c)) if c.session_id == session_id => {
                    break
                }
                Some(_) => {}
                None => panic!("connection closed"),
            }
        }
    })
    .await
    .expect("cancelled in time");
    let started = Instant::now();
    let accepted = tokio::time::timeout(Duration::from_secs(40), bob.accept(request))
        .await
        .expect("accept returns within its own timeout");
    assert_withdrawn(accepted, started, &session_id);
    alice.close().await;
    server.server.shutdown().await;
}
