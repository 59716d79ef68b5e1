//! Compressed lobby messages (`?lobby_compression=deflate`) against a real server: binary
//! DEFLATE frames on the wire, the same lobby content as plain text clients, the
//! `SignalClient` decoding them transparently, and a clear refusal of unknown values.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures_util::StreamExt;
use signal::lobby_deflate::{self, LobbyInflater};
use signal::protocol::*;
use signal::SignalClient;
use tokio_tungstenite::tungstenite::Message;

const PLAYERS: usize = 12;

fn join_delta(id: &str) -> ClientMessage {
    // Long names make the full update large enough to be compressed.
    ClientMessage::JoinLobby(
        JoinLobby::new(id, format!("{id} with a long display name"))
            .in_lobby("big")
            .with_updates(LobbyUpdates::Delta),
    )
}

/// Reads lobby messages from a raw client until its view lists `n` players; returns the
/// view and how many binary frames carried them.
async fn raw_lobby(ws: &mut Raw, n: usize) -> (signal::LobbyView, usize) {
    let mut view = signal::LobbyView::default();
    let mut inflater = LobbyInflater::default();
    let mut binary = 0;
    let fut = async {
        while view.len() < n {
            let text = match ws.next().await {
                Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                Some(Ok(Message::Binary(b))) => {
                    binary += 1;
                    match inflater.push(&b).unwrap() {
                        Some(text) => text,
                        None => continue,
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("stream ended: {other:?}"),
            };
            let msg: ServerMessage = serde_json::from_str(&text).unwrap();
            view.apply(&msg).unwrap();
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("timed out waiting for the lobby");
    (view, binary)
}

#[tokio::test]
async fn deflate_clients_get_binary_frames_with_the_same_lobby() {
    let server = server().await;
    let mut others = Vec::new();
    for i in 0..PLAYERS - 3 {
        let c = client(&server, &format!("p{i:02}")).await;
        send(&c, join_delta(c.player_id()));
        others.push(c);
    }
    let url = server.url();
    let zipped_url = format!("{url}?lobby_compression=deflate&token={}", token("zipped"));
    let (mut zipped, _) = tokio_tungstenite::connect_async(zipped_url).await.unwrap();
    let mut plain = raw(&url, &token("plain")).await;
    raw_send(
        &mut zipped,
        serde_json::to_string(&join_delta("zipped")).unwrap(),
    )
    .await;
    raw_send(
        &mut plain,
        serde_json::to_string(&join_delta("plain")).unwrap(),
    )
    .await;
    let mut decoded =
        SignalClient::connect(&lobby_deflate::url_with_deflate(&url), &token("decoded"))
            .await
            .unwrap();
    send(&decoded, join_delta("decoded"));

    let (zipped_view, binary) = raw_lobby(&mut zipped, PLAYERS).await;
    let (plain_view, plain_binary) = raw_lobby(&mut plain, PLAYERS).await;
    assert!(binary > 0, "no binary frame reached the deflate client");
    assert_eq!(plain_binary, 0, "a plain client got a binary frame");
    assert_eq!(
        zipped_view.to_update().players,
        plain_view.to_update().players
    );

    // The SignalClient inflates transparently: its view and its messages list everyone.
    await_lobby(&mut decoded, PLAYERS).await;
    assert_eq!(
        decoded.lobby().to_update().players,
        plain_view.to_update().players
    );

    // A later change reaches both kinds of client as a delta.
    send(
        &others[0],
        ClientMessage::LeaveLobby(LeaveLobby {
            player_id: "p00".into(),
        }),
    );
    let gone = |v: &signal::LobbyView| v.player("p00").is_none();
    let fut = async {
        let mut view = zipped_view.clone();
        let mut inflater = LobbyInflater::default();
        while !gone(&view) {
            let text = match zipped.next().await {
                Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                Some(Ok(Message::Binary(b))) => match inflater.push(&b).unwrap() {
                    Some(t) => t,
                    None => continue,
                },
                Some(Ok(_)) => continue,
                other => panic!("stream ended: {other:?}"),
            };
            view.apply(&serde_json::from_str(&text).unwrap()).unwrap();
        }
        view
    };
    let view = tokio::time::timeout(WAIT, fut).await.unwrap();
    assert_eq!(view.len(), PLAYERS - 1);

    decoded.close().await;
    for c in others {
        c.close().await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_lobby_compression_is_refused_with_400() {
    let server = server().await;
    let query = format!("{}&lobby_compression=brotli", token("x"));
    assert_eq!(
        handshake_status(&server.url(), None, Some(&query)).await,
        400
    );
    let query = format!("{}&lobby_compression=none", token("y"));
    assert_eq!(
        handshake_status(&server.url(), None, Some(&query)).await,
        101
    );
    server.shutdown().await;
}
