//! The players' rollback figures with 8 real-WebRTC spectators vs none: an in-process
//! signal server on 127.0.0.1:0, two loopback peers playing at 60 fps (or unpaced: as fast
//! as the link allows, which makes the players compete for CPU with the spectators in the
//! same process) and, in the watched runs, 8 watchers joining at frame 300 (7 reading with
//! `netplay::spectate::follow` at 60 ticks per second, 1 never reading, with a 4 KiB SCTP window so that its
//! stall reaches its host within the match). Runs alternate none / 8 so that drift in the
//! machine's load hits both alike.

use std::time::Duration;

use netplay::netmatch::{play, PlayConfig, PlayOutcome};
use peer::{MatchRule, Peer, PeerConfig, WatchOptions};
use signal::server::{ServerConfig, SignalServer};

/// Figures of one match (both players summed).
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    frames: f64,
    rollbacks: f64,
    resimulated: f64,
    stalls: f64,
    max_depth: u32,
    confirm_lag: f64,
    seconds: f64,
    readers_ok: u64,
    cut: u64,
    desyncs: u64,
}

fn add(a: &mut Figures, p: &PlayOutcome) {
    a.frames += f64::from(p.frames_simulated.max(0));
    a.rollbacks += p.rollbacks as f64;
    a.resimulated += p.rolled_back_frames as f64;
    a.stalls += p.stalls as f64;
    a.max_depth = a.max_depth.max(p.max_rollback_depth);
    a.confirm_lag += p.mean_confirm_lag / 2.0;
    a.seconds = a.seconds.max(p.seconds);
    a.cut += p.spectators.cut;
    a.desyncs += p.ggrs_desyncs;
}

async fn one_match(
    round: u32,
    frames: u32,
    realtime: bool,
    spectators: bool,
) -> Result<Figures, String> {
    let secret = format!("bench secret {round}").into_bytes();
    let listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let server = SignalServer::start(ServerConfig::new(secret.clone()).with_listen(listen))
        .await
        .map_err(|e| e.to_string())?;
    let url = server.url();
    let token = |sub: &str| {
        signal::auth::mint_token(&secret, sub, Some(sub), Duration::from_secs(600))
            .map_err(|e| e.to_string())
    };
    let config = |name: &str| {
        let mut c = PeerConfig::loopback(name);
        c.connect_timeout = Duration::from_secs(30);
        c
    };
    let alice = Peer::connect(&url, &token("alice")?, config("Alice"))
        .await
        .map_err(|e| e.to_string())?;
    let bob = Peer::connect(&url, &token("bob")?, config("Bob"))
        .await
        .map_err(|e| e.to_string())?;
    let (a, b) = tokio::join!(
        alice.start_match(MatchRule::Challenge("bob".into())),
        bob.start_match(MatchRule::Accept(peer::AcceptRule::Any)),
    );
    let (mut a, mut b) = (a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?);
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0);
    let mut play_a = PlayConfig::new(frames);
    play_a.realtime = realtime;
    let mut play_b = play_a.clone();
    play_b.bot_seed = 2;
    let pa = tokio::spawn(async move {
        let out = play(&mut a, 0, &play_a, |p| {
            let _ = progress_tx.send(p.confirmed);
        })
        .await;
        a.finish().await;
        out
    });
    let pb = tokio::spawn(async move {
        let out = play(&mut b, 1, &play_b, |_| {}).await;
        b.finish().await;
        out
    });
    let mut readers = Vec::new();
    let mut silent = None;
    if spectators {
        let _ = progress.wait_for(|f| *f >= 300).await;
        for i in 0..8 {
            let id = format!("watcher{i}");
            let peer = Peer::connect(&url, &token(&id)?, config(&id))
                .await
                .map_err(|e| e.to_string())?;
            if i == 0 {
                let options = WatchOptions {
                    queue_messages: 8,
                    receive_buffer: Some(4_096),
                };
                silent = Some(
                    peer.watch_with("alice", options)
                        .await
                        .map_err(|e| e.to_string())?,
                );
                continue;
            }
            readers.push(tokio::spawn(async move {
                let mut watch = peer.watch("alice").await.map_err(|e| e.to_string())?;
                // a viewer's pace: one tick per 60 fps frame
                let out =
                    netplay::spectate::follow(&mut watch, true, Duration::from_secs(120)).await;
                watch.finish().await;
                Ok::<_, String>(out)
            }));
        }
    }
    let (ra, rb) = tokio::join!(pa, pb);
    let ra = ra.map_err(|e| e.to_string())??;
    let rb = rb.map_err(|e| e.to_string())??;
    let mut f = Figures::default();
    add(&mut f, &ra);
    add(&mut f, &rb);
    if ra.checksum.is_none() || ra.checksum != rb.checksum {
        return Err(format!(
            "players disagree: {:?} vs {:?}",
            ra.checksum, rb.checksum
        ));
    }
    for reader in readers {
        let out = reader.await.map_err(|e| e.to_string())??;
        if out.completed && out.checksum == ra.checksum {
            f.readers_ok += 1;
        }
    }
    drop(silent);
    server.shutdown().await;
    Ok(f)
}

/// Plays `rounds` × (none, 8 spectators) matches of `frames` frames; returns the table.
pub(crate) async fn run_spectator_webrtc_table(
    rounds: u32,
    frames: u32,
    realtime: bool,
) -> Result<String, String> {
    let mut sums = [Figures::default(); 2];
    for round in 0..rounds {
        for (i, with) in [false, true].into_iter().enumerate() {
            let f = one_match(round * 2 + i as u32, frames, realtime, with).await?;
            eprintln!("round {round} spectators {with}: {f:?}");
            let s = &mut sums[i];
            s.frames += f.frames;
            s.rollbacks += f.rollbacks;
            s.resimulated += f.resimulated;
            s.stalls += f.stalls;
            s.max_depth = s.max_depth.max(f.max_depth);
            s.confirm_lag += f.confirm_lag / f64::from(rounds);
            s.seconds += f.seconds / f64::from(rounds);
            s.readers_ok += f.readers_ok;
            s.cut += f.cut;
            s.desyncs += f.desyncs;
        }
    }
    let mut md = String::from(
        "| spectators | rollbacks / 1k frames | re-sim. frames / frame | stalls / 1k frames | max depth | mean confirm lag (frames) | s per match | desyncs | readers at final checksum | cut |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, s) in sums.iter().enumerate() {
        let per_k = |x: f64| 1000.0 * x / s.frames.max(1.0);
        md.push_str(&format!(
            "| {} | {:.1} | {:.3} | {:.1} | {} | {:.2} | {:.2} | {} | {} | {} |\n",
            if i == 0 { "none" } else { "8 (1 never reads)" },
            per_k(s.rollbacks),
            s.resimulated / s.frames.max(1.0),
            per_k(s.stalls),
            s.max_depth,
            s.confirm_lag,
            s.seconds,
            s.desyncs,
            if i == 0 {
                "-".to_owned()
            } else {
                format!("{}/{}", s.readers_ok, 7 * rounds)
            },
            s.cut,
        ));
    }
    let ratio = |f: fn(&Figures) -> f64| f(&sums[1]) / f(&sums[0]).max(f64::MIN_POSITIVE);
    md.push_str(&format!(
        "\nRatios 8 / none: rollbacks per frame {:.2}, re-simulated frames per frame {:.2}, s per match {:.2}.\n",
        ratio(|s| s.rollbacks / s.frames.max(1.0)),
        ratio(|s| s.resimulated / s.frames.max(1.0)),
        ratio(|s| s.seconds),
    ));
    Ok(md)
}
