//! Spectators joining mid-match on the simulator (virtual time): a snapshot of the host's
//! latest confirmed state, the confirmed inputs since, then the stream; the spectator
//! ends on the players' final checksum, and slow or vanished spectators never touch the
//! players.

use std::time::Duration;

use rollback::bot::{Bot, RandomBot, ReactiveBot};
use rollback::botmatch::{PairConfig, VIRTUAL_DISCONNECT_TIMEOUT};
use rollback::fighter::FighterGame;
use rollback::netsim::LinkConditions;
use rollback::spectate::sim::{run_watched, SpectatorPlan, WatchedConfig, WatchedOutcome};
use rollback::RunnerConfig;

const FRAMES: u32 = 3600;

fn pair(seed: u64) -> PairConfig {
    PairConfig {
        frames: FRAMES,
        link: LinkConditions::with_latency_loss(Duration::from_millis(30), 0.02),
        reverse_link: None,
        runner: RunnerConfig {
            disconnect_timeout: VIRTUAL_DISCONNECT_TIMEOUT,
            ..RunnerConfig::default()
        },
        seed,
        diff_dir: None,
        record_interval: None,
        cut: None,
    }
}

fn play(cfg: &WatchedConfig) -> WatchedOutcome {
    let mut bots: [Box<dyn Bot>; 2] = [Box::new(ReactiveBot::new(3)), Box::new(RandomBot::new(4))];
    run_watched(cfg, FighterGame::new(11), |i, g| bots[i].next_input(g, i)).expect("the match runs")
}

fn reader(join_at: i32, after_ms: u64) -> SpectatorPlan {
    SpectatorPlan {
        join_at,
        reads_after: Some(Duration::from_millis(after_ms)),
    }
}

#[test]
fn spectator_joining_at_frame_1200_ends_on_the_players_final_checksum() {
    // it is still loading for 1 s after joining: 60 frames to catch up on
    let cfg = WatchedConfig::new(pair(5), vec![reader(1200, 1000)]);
    let out = play(&cfg);
    let players = out.final_checksums;
    assert!(players[0].is_some());
    assert_eq!(players[0], players[1], "the players disagree");
    let s = &out.spectators[0];
    assert_eq!(s.error, None);
    assert!(s.joined && s.finished && !s.cut, "{s:?}");
    assert_eq!(s.frame, FRAMES as i32);
    assert_eq!(s.checksum, players[0], "spectator's final checksum");
    // it started from a snapshot near frame 1,200, not from frame 0
    assert!(
        (1180..=1200).contains(&s.stats.joined_at),
        "joined at {}",
        s.stats.joined_at
    );
    assert_eq!(s.stats.frames, u64::from(FRAMES) - s.stats.joined_at as u64);
    // it caught up faster than real time: a backlog of ~60 frames, at most 16 a tick
    assert!(s.stats.max_behind >= 50, "{:?}", s.stats);
    assert!(s.stats.catch_up_ticks >= 3, "{:?}", s.stats);
    assert!(s.stats.ticks_to_catch_up < 60 + 20, "{:?}", s.stats);
    assert_eq!(out.host.joined, 1);
    assert_eq!(out.host.cut_slow, 0);
    assert_eq!(out.feed_lost, 0);
}

#[test]
fn eight_spectators_one_never_reading_leave_the_players_unaffected() {
    let alone = play(&WatchedConfig::new(pair(9), Vec::new()));
    let mut plans: Vec<SpectatorPlan> = (0..7)
        .map(|i| reader(300 + 250 * i, 20 * i as u64))
        .collect();
    plans.push(SpectatorPlan {
        join_at: 600,
        reads_after: None,
    });
    let watched = play(&WatchedConfig::new(pair(9), plans));
    // the players finish their match either way, in agreement (the bots react to
    // predicted states, so the two matches themselves differ)
    for out in [&alone, &watched] {
        assert!(out.final_checksums[0].is_some());
        assert_eq!(out.final_checksums[0], out.final_checksums[1]);
    }
    // the rollback figures stay within noise: two runs without spectators differ by a
    // few rollbacks too (ggrs keeps wall-clock timers), so allow that much
    let near = |a: u64, b: u64| a.abs_diff(b) <= 30 + a / 5;
    for (a, w) in alone.stats.iter().zip(&watched.stats) {
        assert!(
            a.frames.abs_diff(w.frames) <= 8,
            "{} vs {}",
            a.frames,
            w.frames
        );
        assert!(near(a.rollbacks, w.rollbacks), "{a:?}\n{w:?}");
        assert!(
            near(a.rolled_back_frames, w.rolled_back_frames),
            "{a:?}\n{w:?}"
        );
        assert!(near(a.stalls, w.stalls), "{a:?}\n{w:?}");
        assert!(
            w.max_rollback_depth <= a.max_rollback_depth + 2,
            "{a:?}\n{w:?}"
        );
    }
    // the seven readers end on the players' checksum; the vanished one was cut
    for s in &watched.spectators[..7] {
        assert_eq!(s.error, None);
        assert!(s.finished, "{s:?}");
        assert_eq!(s.checksum, watched.final_checksums[0]);
    }
    let vanished = &watched.spectators[7];
    assert!(vanished.cut && !vanished.finished, "{vanished:?}");
    assert_eq!(watched.host.joined, 8);
    assert_eq!(watched.host.cut_slow, 1);
    assert_eq!(watched.feed_lost, 0);
}

#[test]
fn a_ninth_spectator_is_refused() {
    let plans = (0..9).map(|i| reader(100 + 10 * i, 0)).collect();
    let mut p = pair(3);
    p.frames = 600;
    let out = run_watched(
        &WatchedConfig::new(p, plans),
        FighterGame::new(1),
        |_, _| Default::default(),
    )
    .unwrap();
    assert_eq!(out.host.joined, 8);
    assert_eq!(out.host.refused, 1);
    let refused = &out.spectators[8];
    assert!(!refused.joined);
    assert!(refused
        .error
        .as_deref()
        .unwrap_or("")
        .contains("8 spectators"));
    assert!(out.spectators[..8].iter().all(|s| s.finished));
}
