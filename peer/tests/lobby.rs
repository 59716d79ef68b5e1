//! The lobby API through the real signal server over real WebRTC on loopback: a lobby
//! screen sees the other player in `lobby_update`, declines one request (the challenger
//! gets the decline), then, after the challenger has joined again, accepts one specific
//! request; both sides get a running match with the right roles.

mod common;

use common::{loopback_config, next_request, wait_for_player, TestServer};
use peer::{ChannelMode, PeerError, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lobby_screen_declines_then_accepts_a_chosen_request() {
    let server = TestServer::start().await;
    let config = |name: &str| loopback_config(name, ChannelMode::Sequenced);
    let mut bob = server.peer("bob", config("Bob")).await;
    let mut alice = server.peer("alice", config("Alice")).await;
    wait_for_player(&mut alice, "bob").await;
    wait_for_player(&mut bob, "alice").await;

    // alice challenges bob from her lobby view; bob declines
    let challenge = tokio::spawn(alice.challenge("bob"));
    let request = next_request(&mut bob).await;
    assert_eq!(request.requester_id, "alice");
    assert_eq!(request.requester_name, "Alice");
    bob.decline(&request).expect("decline sent");
    let declined = challenge.await.expect("task");
    assert!(
        matches!(declined, Err(PeerError::Declined(_))),
        "{declined:?}"
    );

    // alice joins again (the attempt closed her connection) and challenges once more
    let mut alice = server.peer("alice", config("Alice")).await;
    wait_for_player(&mut alice, "bob").await;
    let challenge = tokio::spawn(alice.challenge("bob"));
    let request = next_request(&mut bob).await;
    let accepted = tokio::spawn(bob.accept(request));
    let (a, b) = (
        challenge.await.expect("task"),
        accepted.await.expect("task"),
    );
    let (mut a, mut b) = (a.expect("alice's match"), b.expect("bob's match"));
    assert_eq!(a.info().role, Role::Offerer);
    assert_eq!(b.info().role, Role::Answerer);
    assert_eq!(a.info().opponent.id, "bob");
    assert_eq!(b.info().opponent.id, "alice");
    assert_eq!(a.info().session_id, b.info().session_id);
    assert!(a.take_socket().is_some() && b.take_socket().is_some());
    a.finish().await;
    b.finish().await;
    server.server.shutdown().await;
}
