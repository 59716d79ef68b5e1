//! Named lobbies and delta updates through the real server: a delta-mode client's
//! [`signal::LobbyView`] follows joins, matches and leaves; lobbies are separate; a full
//! lobby refuses one more player with 409.

mod common;

use common::*;
use signal::protocol::*;
use signal::{SignalClient, SignalServer};

fn join(c: &SignalClient, lobby: &str, updates: LobbyUpdates) {
    let id = c.player_id().to_owned();
    let msg = JoinLobby::new(id.clone(), id.to_uppercase())
        .in_lobby(lobby)
        .with_updates(updates);
    send(c, ClientMessage::JoinLobby(msg));
}

/// Reads messages until the client's lobby view satisfies `pred`.
async fn await_view<F>(c: &mut SignalClient, what: &str, pred: F)
where
    F: Fn(&signal::LobbyView) -> bool,
{
    expect(c, what, |m| {
        matches!(
            m,
            ServerMessage::LobbyUpdate(_) | ServerMessage::LobbyDelta(_)
        )
    })
    .await;
    while !pred(&c.lobby()) {
        expect(c, what, |m| {
            matches!(
                m,
                ServerMessage::LobbyUpdate(_) | ServerMessage::LobbyDelta(_)
            )
        })
        .await;
    }
}

#[tokio::test]
async fn a_delta_client_follows_its_lobby_and_never_sees_another() {
    let server = server().await;
    let mut alice = client(&server, "alice").await;
    join(&alice, "arena", LobbyUpdates::Delta);
    await_view(&mut alice, "alice listed", |v| v.player("alice").is_some()).await;
    let first = alice.lobby();
    assert_eq!(first.lobby(), Some("arena"));
    let v0 = first.version().expect("delta mode carries a version");

    let mut bob = client(&server, "bob").await;
    let carol = client(&server, "carol").await;
    join(&bob, "arena", LobbyUpdates::Snapshot);
    join(&carol, "other", LobbyUpdates::Delta);
    await_view(&mut alice, "bob listed", |v| v.player("bob").is_some()).await;
    assert!(alice.lobby().version().unwrap() > v0);
    await_listed(&mut bob, "alice").await;

    // Requests across lobbies are 404; within the lobby they work and statuses follow.
    send(&bob, request("bob", "carol"));
    expect_error(&mut bob, 404).await;
    send(&bob, request("bob", "alice"));
    let sid = match expect(&mut alice, "request", |m| {
        matches!(m, ServerMessage::MatchRequestReceived(_))
    })
    .await
    {
        ServerMessage::MatchRequestReceived(r) => r.session_id,
        _ => unreachable!(),
    };
    send(
        &alice,
        ClientMessage::AcceptMatch(AcceptMatch {
            accepter_id: "alice".into(),
            requester_id: "bob".into(),
            session_id: Some(sid),
        }),
    );
    await_view(&mut alice, "both in_match", |v| {
        v.players().all(|p| p.status == PlayerStatus::InMatch) && v.len() == 2
    })
    .await;
    assert!(alice.lobby().player("carol").is_none());

    bob.close().await;
    await_view(&mut alice, "bob gone", |v| v.len() == 1).await;
    let view = alice.lobby();
    assert_eq!(
        view.player("alice").unwrap().status,
        PlayerStatus::Available
    );
    carol.close().await;
    alice.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_lobby_answers_409_lobby_full() {
    let mut cfg = config();
    cfg.hub.max_lobby_size = 1;
    let server = SignalServer::start(cfg).await.unwrap();
    let mut alice = client(&server, "alice").await;
    let mut bob = client(&server, "bob").await;
    join(&alice, "solo", LobbyUpdates::Snapshot);
    await_lobby(&mut alice, 1).await;
    join(&bob, "solo", LobbyUpdates::Delta);
    let e = expect_error(&mut bob, 409).await;
    assert_eq!(e.message, "lobby full");
    join(&bob, "main", LobbyUpdates::Delta);
    await_view(&mut bob, "bob in main", |v| v.len() == 1).await;
    alice.close().await;
    bob.close().await;
    server.shutdown().await;
}
