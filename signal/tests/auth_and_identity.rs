//! Authentication and identity: every bad token is refused at the handshake with HTTP 401
//! (missing, malformed, forged, expired, not yet valid, alg none, wrong algorithm, algorithm
//! confusion); EdDSA works when configured; ids that are not the sender's get 403; a second
//! connection with the same identity replaces the first (409); RS256 works when configured
//! (test-only key in `tests/fixtures`); wss:// works with a
//! certificate generated in the test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use signal::auth::{mint_claims, now_unix, Claims, JwtKey};
use signal::protocol::*;
use signal::{SignalClient, SignalServer};

fn claims(sub: &str, exp_offset: i64, nbf_offset: Option<i64>) -> Claims {
    let now = now_unix().expect("clock") as i64;
    Claims {
        sub: sub.into(),
        exp: (now + exp_offset) as u64,
        iat: Some(now as u64),
        nbf: nbf_offset.map(|o| (now + o) as u64),
        name: None,
    }
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_before_the_upgrade() {
    let server = server().await;
    let url = server.url();
    let hs = |c: &Claims, alg: Algorithm, key: &[u8]| {
        mint_claims(&Header::new(alg), c, &EncodingKey::from_secret(key)).unwrap()
    };
    let good = hs(&claims("alice", 600, None), Algorithm::HS256, SECRET);
    let none_token = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::json!({"sub": "alice", "exp": now_unix().unwrap() + 600}))
    );
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let ed_token = mint_claims(
        &Header::new(Algorithm::EdDSA),
        &claims("alice", 600, None),
        &EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("missing", None, None),
        ("not bearer", Some(format!("Basic {good}")), None),
        ("malformed", Some("Bearer not.a.jwt".into()), None),
        ("garbage query", None, Some("%%%".into())),
        (
            "forged",
            Some(format!(
                "Bearer {}",
                hs(
                    &claims("alice", 600, None),
                    Algorithm::HS256,
                    b"wrong-secret"
                )
            )),
            None,
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                hs(&claims("alice", -3600, None), Algorithm::HS256, SECRET)
            )),
            None,
        ),
        (
            "nbf in future",
            Some(format!(
                "Bearer {}",
                hs(&claims("alice", 7200, Some(3600)), Algorithm::HS256, SECRET)
            )),
            None,
        ),
        ("alg none", Some(format!("Bearer {none_token}")), None),
        (
            "wrong alg HS512",
            Some(format!(
                "Bearer {}",
                hs(&claims("alice", 600, None), Algorithm::HS512, SECRET)
            )),
            None,
        ),
        ("wrong alg EdDSA", Some(format!("Bearer {ed_token}")), None),
        (
            "bad sub",
            Some(format!(
                "Bearer {}",
                hs(&claims("al ice/..", 600, None), Algorithm::HS256, SECRET)
            )),
            None,
        ),
        ("huge", Some(format!("Bearer {}", "a".repeat(9000))), None),
    ];
    for (name, header, query) in cases {
        let status = handshake_status(&url, header.as_deref(), query.as_deref()).await;
        assert_eq!(status, 401, "{name}");
    }
    // Controls: the good token works in the header and in the query.
    assert_eq!(
        handshake_status(&url, Some(&format!("Bearer {good}")), None).await,
        101
    );
    assert_eq!(handshake_status(&url, None, Some(&good)).await, 101);
    let (_, metrics) = http_get(server.local_addr(), "/metrics").await;
    assert!(
        metric(&metrics, "signal_auth_failures_total").unwrap() >= 12.0,
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn eddsa_is_pinned_and_hs256_with_the_public_key_is_refused() {
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let public_pem = ed.public_key_pem();
    let mut cfg = config();
    cfg.jwt = JwtKey::EdDsaPem(public_pem.clone().into_bytes());
    let server = SignalServer::start(cfg).await.unwrap();
    let ed_token = mint_claims(
        &Header::new(Algorithm::EdDSA),
        &claims("erin", 600, None),
        &EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let c = SignalClient::connect(&server.url(), &ed_token)
        .await
        .unwrap();
    assert_eq!(c.player_id(), "erin");
    // Algorithm confusion: HS256 "signed" with the public key bytes as the secret.
    let confused = mint_claims(
        &Header::new(Algorithm::HS256),
        &claims("erin", 600, None),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let err = SignalClient::connect(&server.url(), &confused)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    c.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn rs256_is_pinned_and_hs256_signed_with_the_public_key_is_refused() {
    let private = include_str!("fixtures/rs256-test-private.pem");
    let public = include_str!("fixtures/rs256-test-public.pem");
    let mut cfg = config();
    cfg.jwt = JwtKey::Rs256Pem(public.as_bytes().to_vec());
    let server = SignalServer::start(cfg).await.unwrap();
    let rs = mint_claims(
        &Header::new(Algorithm::RS256),
        &claims("rita", 600, None),
        &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    let c = SignalClient::connect(&server.url(), &rs).await.unwrap();
    assert_eq!(c.player_id(), "rita");
    for alg in [Algorithm::HS256, Algorithm::HS384] {
        let confused = mint_claims(
            &Header::new(alg),
            &claims("rita", 600, None),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        let err = SignalClient::connect(&server.url(), &confused)
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(401), "{alg:?}");
    }
    let expired = mint_claims(
        &Header::new(Algorithm::RS256),
        &claims("rita", -600, None),
        &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    let err = SignalClient::connect(&server.url(), &expired)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    c.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn ids_that_are_not_the_senders_are_refused_with_403() {
    let server = server().await;
    let mut a = lobby_client(&server, "alice").await;
    let mut b = lobby_client(&server, "bob").await;
    let mut m = lobby_client(&server, "mallory").await;
    await_lobby(&mut m, 3).await;
    let spoofs = vec![
        ClientMessage::JoinLobby(JoinLobby {
            player_id: "alice".into(),
            player_name: "x".into(),
            ..JoinLobby::default()
        }),
        ClientMessage::LeaveLobby(LeaveLobby {
            player_id: "alice".into(),
        }),
        request("alice", "bob"),
        accept("bob", "alice", "whatever"),
        ClientMessage::DeclineMatch(DeclineMatch {
            decliner_id: "bob".into(),
            requester_id: "alice".into(),
            session_id: None,
        }),
    ];
    for msg in spoofs {
        send(&m, msg);
        expect_error(&mut m, 403).await;
    }
    // Acting on someone else's session.
    let sid = matched(&mut a, &mut b).await;
    send(&m, offer("mallory", "bob", &sid, "evil"));
    let e = expect_error(&mut m, 403).await;
    assert_eq!(e.session_id.as_deref(), Some(sid.as_str()));
    send(&m, offer("alice", "bob", &sid, "evil"));
    expect_error(&mut m, 403).await;
    send(&m, report("mallory", &sid, ConnectionState::Failed));
    expect_error(&mut m, 403).await;
    // Nothing was relayed: bob's next message is the real offer.
    send(&a, offer("alice", "bob", &sid, "real"));
    let ServerMessage::SdpOfferReceived(o) = expect(&mut b, "offer", |m| {
        matches!(
            m,
            ServerMessage::SdpOfferReceived(_) | ServerMessage::MatchFailed(_)
        )
    })
    .await
    else {
        panic!("session was disturbed");
    };
    assert_eq!(o.sdp, "real");
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_connection_replaces_the_first_with_409() {
    let server = server().await;
    let mut old = raw(&server.url(), &token("alice")).await;
    assert_eq!(raw_next(&mut old).await["type"], "welcome");
    let mut new = client(&server, "alice").await;
    let err = raw_next(&mut old).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["payload"]["code"], 409);
    assert_eq!(err["payload"]["message"], "replaced by a newer connection");
    assert!(raw_close_code(&mut old).await.is_some());
    // The new connection works.
    send(
        &new,
        ClientMessage::LeaveLobby(LeaveLobby {
            player_id: "alice".into(),
        }),
    );
    expect_error(&mut new, 409).await; // not in the lobby: proves the hub answers it
    server.shutdown().await;
}

#[tokio::test]
async fn wss_with_a_generated_certificate() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let mut cfg = config();
    cfg.tls = Some(signal::server::TlsConfig {
        cert_pem: cert.cert.pem().into_bytes(),
        key_pem: cert.key_pair.serialize_pem().into_bytes(),
    });
    cfg.turn = Some(signal::server::TurnConfig {
        urls: vec!["turn:127.0.0.1:3478".into()],
        secret: b"turn-secret".to_vec(),
        ttl: Duration::from_secs(600),
    });
    let server = SignalServer::start(cfg).await.unwrap();
    assert!(server.url().starts_with("wss://"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = Arc::new(tls);
    let mut a = SignalClient::connect_with_tls(&server.url(), &token("alice"), tls.clone())
        .await
        .unwrap();
    let mut b = SignalClient::connect_with_tls(&server.url(), &token("bob"), tls.clone())
        .await
        .unwrap();
    // TURN REST credentials minted per player.
    let turn = &a.welcome().ice_servers[0];
    let user = turn.username.clone().unwrap();
    let (expiry, who) = user.split_once(':').unwrap();
    assert_eq!(who, "alice");
    assert!(expiry.parse::<u64>().unwrap() > now_unix().unwrap());
    let expected = signal::auth::turn_credentials(b"turn-secret", "alice", expiry.parse().unwrap());
    assert_eq!(
        turn.credential.as_deref(),
        Some(expected.credential.as_str())
    );
    for c in [&a, &b] {
        send(
            c,
            ClientMessage::JoinLobby(JoinLobby {
                player_id: c.player_id().into(),
                player_name: "x".into(),
                ..JoinLobby::default()
            }),
        );
    }
    await_lobby(&mut a, 2).await;
    started(&mut a, &mut b).await;
    // A plain ws:// client cannot talk to the TLS port.
    let plain = server.url().replace("wss://", "ws://");
    assert!(SignalClient::connect(&plain, &token("carol"))
        .await
        .is_err());
    server.shutdown().await;
}
