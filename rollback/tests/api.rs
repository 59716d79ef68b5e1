//! API guarantees other crates rely on: runners and reports can move across threads (tokio
//! tasks, worker threads), reports serialize to JSON with the documented fields, and config
//! validation rejects out-of-range settings.

use rollback::botmatch::{run_match, MatchConfig, MatchReport};
use rollback::fighter::FighterGame;
use rollback::netsim::{Impaired, SimAddr, SimSocket};
use rollback::{P2PRunner, RunnerConfig, RunnerError, SpectatorRunner, SyncTestRunner};

fn assert_send<T: Send>() {}

#[test]
fn runners_are_send() {
    assert_send::<P2PRunner<FighterGame, SimAddr>>();
    assert_send::<SpectatorRunner<FighterGame, SimAddr>>();
    assert_send::<SyncTestRunner<FighterGame>>();
    assert_send::<Impaired<SimSocket, SimAddr>>();
    assert_send::<MatchReport>();
}

#[test]
fn match_report_json_has_the_documented_fields() {
    let report = run_match(&MatchConfig {
        frames: 120,
        ..MatchConfig::default()
    })
    .unwrap();
    let v = serde_json::to_value(&report).unwrap();
    for key in [
        "frames",
        "desyncs",
        "checksums_match",
        "physical_limit_depth",
        "virtual_seconds",
        "wall_seconds",
        "realtime_factor",
        "winner",
        "peers",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let peers = v["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    for p in peers {
        for key in [
            "rollbacks",
            "rolled_back_frames",
            "mean_rollback_depth",
            "max_rollback_depth",
            "stalls",
            "final_checksum",
        ] {
            assert!(p.get(key).is_some(), "peer missing {key}");
        }
        assert_eq!(p["final_checksum"].as_str().unwrap().len(), 32);
    }
    assert_eq!(v["bot"], serde_json::Value::Null);
    assert_eq!(peers[0]["bot"], "ai");
    assert_eq!(v["frames"], 120);
}

#[test]
fn invalid_runner_configs_are_rejected() {
    for cfg in [
        RunnerConfig {
            max_prediction: 0,
            ..RunnerConfig::default()
        },
        RunnerConfig {
            fps: 0,
            ..RunnerConfig::default()
        },
        RunnerConfig {
            input_delay: 100,
            ..RunnerConfig::default()
        },
    ] {
        assert!(matches!(cfg.validate(), Err(RunnerError::InvalidConfig(_))));
        assert!(SyncTestRunner::new(cfg, FighterGame::new(1), 2).is_err());
    }
}

/// The physical limit is `max(0, ceil(one-way latency / (1/60 s)) − input delay)`, exact at
/// whole frames: 50 ms is 3 frames, 100 ms is 6, 150 ms is 9 (not one more from a truncated
/// 16.666666 ms frame length).
#[test]
fn physical_limit_depth_is_exact_at_frame_multiples() {
    use rollback::stats::physical_limit_depth;
    use std::time::Duration;
    let ms = Duration::from_millis;
    assert_eq!(physical_limit_depth(ms(0), 2, 60), 0);
    assert_eq!(physical_limit_depth(ms(50), 2, 60), 1);
    assert_eq!(physical_limit_depth(ms(100), 2, 60), 4);
    assert_eq!(physical_limit_depth(ms(150), 2, 60), 7);
    assert_eq!(physical_limit_depth(ms(150), 0, 60), 9);
    assert_eq!(physical_limit_depth(ms(151), 0, 60), 10);
    assert_eq!(physical_limit_depth(ms(10), 2, 60), 0);
}
