//! 200+ randomized two-peer matches on the simulated network (RTT 0–300 ms, loss 0–30 %,
//! jitter, duplication, reordering, input delay 0–3): every one must finish with zero
//! desyncs and identical final checksums on both peers.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollback::botmatch::{run_match, BotKind, MatchConfig};
use rollback::fighter::FighterConfig;
use rollback::netsim::LinkConditions;

const BOTS: [BotKind; 3] = [BotKind::Ai, BotKind::Random, BotKind::Scripted];

fn random_config(rng: &mut ChaCha8Rng, seed: u64) -> MatchConfig {
    let link = LinkConditions {
        latency: Duration::from_millis(rng.gen_range(0..=150)),
        jitter: Duration::from_millis(if rng.gen_bool(0.5) {
            rng.gen_range(0..=20)
        } else {
            0
        }),
        loss: if rng.gen_bool(0.7) {
            rng.gen_range(0.0..=0.3)
        } else {
            0.0
        },
        duplicate: if rng.gen_bool(0.4) {
            rng.gen_range(0.0..=0.2)
        } else {
            0.0
        },
        reorder: if rng.gen_bool(0.4) {
            rng.gen_range(0.0..=0.2)
        } else {
            0.0
        },
        ..LinkConditions::ideal()
    };
    MatchConfig {
        frames: rng.gen_range(300..=450),
        link,
        input_delay: rng.gen_range(0..=3),
        seed,
        bots: [BOTS[rng.gen_range(0..3)], BOTS[rng.gen_range(0..3)]],
        // short rounds so round transitions are exercised
        fighter: FighterConfig {
            round_frames: 240,
            round_break_frames: 20,
            ..FighterConfig::default()
        },
        ..MatchConfig::default()
    }
}

fn run_batch(batch: u64, count: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(0xbadc0de + batch);
    for k in 0..count {
        let seed = batch * 1000 + k;
        let cfg = random_config(&mut rng, seed);
        let report = run_match(&cfg).unwrap_or_else(|e| panic!("seed {seed} {cfg:?}: {e}"));
        assert_eq!(report.desyncs, 0, "seed {seed} {cfg:?}: {report:?}");
        assert_eq!(report.ggrs_desyncs, 0, "seed {seed}");
        assert!(report.checksums_match, "seed {seed} {cfg:?}");
        assert!(!report.peers[0].final_checksum.is_empty());
        assert_eq!(
            report.peers[0].final_checksum,
            report.peers[1].final_checksum
        );
        assert_eq!(report.frames, cfg.frames);
    }
}

#[test]
fn randomized_matches_batch_a() {
    run_batch(1, 52);
}

#[test]
fn randomized_matches_batch_b() {
    run_batch(2, 52);
}

#[test]
fn randomized_matches_batch_c() {
    run_batch(3, 52);
}

#[test]
fn randomized_matches_batch_d() {
    run_batch(4, 52);
}
