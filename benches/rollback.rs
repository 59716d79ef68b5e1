//! Criterion suite `rollback/*` and `netsim/*`: the fighter's worst frame (an 8-frame
//! rollback), the runner's SyncTest loop against a bare ggrs SyncTest loop with the same game
//! and depth (engine overhead), full two-peer matches on the simulated network against a
//! bare ggrs pair on an ideal in-memory link, and the link shaper's per-packet cost; the
//! same SyncTest loop with replay recording on, and `replay/*`: verifying, decoding and
//! encoding a one-minute bot match replay.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use ggrs::{
    GgrsRequest, InputStatus, Message, NonBlockingSocket, PlayerType, SessionBuilder, SessionState,
};
use rollback::bot::{Bot, RandomBot};
use rollback::botmatch::{run_match, BotKind, MatchConfig};
use rollback::fighter::{FighterConfig, FighterGame, FighterInput};
use rollback::netsim::{LinkConditions, LinkShaper};
use rollback::replay::{self, RecordSettings};
use rollback::session::GgrsConfig;
use rollback::{Game, RunnerConfig, SyncTestRunner};

/// A fighter state in the middle of a round (fighters close, round not over), with rules
/// that keep it fighting for the whole benchmark (no KO, no timeout).
fn busy_game() -> FighterGame {
    let rules = FighterConfig {
        round_frames: u32::MAX,
        max_health: i32::MAX,
        ..FighterConfig::default()
    };
    let mut g = FighterGame::with_config(rules, 7);
    let (mut a, mut b) = (RandomBot::new(1), RandomBot::new(2));
    for _ in 0..200 {
        let (ia, ib) = (a.next_input(&g, 0), b.next_input(&g, 1));
        g.step(&[(ia, InputStatus::Confirmed), (ib, InputStatus::Confirmed)]);
    }
    assert!(g.is_fighting(), "benchmark state must be mid-round");
    g
}

fn inputs_for(frame: u32) -> [FighterInput; 2] {
    let x = frame.wrapping_mul(2_654_435_761);
    [
        FighterInput::new((x >> 8) as u8 & 0x7f),
        FighterInput::new((x >> 16) as u8 & 0x7f),
    ]
}

fn worst_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollback");
    let base = busy_game();
    group.bench_function("fighter_step", |b| {
        let mut g = base.clone();
        let mut f = 0u32;
        b.iter(|| {
            f = f.wrapping_add(1);
            let [x, y] = inputs_for(f);
            g.step(&[(x, InputStatus::Confirmed), (y, InputStatus::Predicted)]);
            black_box(&g);
        })
    });
    group.bench_function("fighter_save_clone_checksum", |b| {
        b.iter(|| black_box((base.clone(), base.checksum())))
    });
    // the worst frame: load a state 8 frames back, re-simulate 8 frames saving each, then
    // simulate the new frame (what a runner does for an 8-frame rollback)
    group.bench_function("worst_frame_8_rollback", |b| {
        let saved = base.clone();
        let mut ring: Vec<(FighterGame, u128)> = Vec::with_capacity(9);
        b.iter(|| {
            ring.clear();
            let mut g = saved.clone();
            for f in 0..9u32 {
                ring.push((g.clone(), g.checksum()));
                let [x, y] = inputs_for(f);
                g.step(&[(x, InputStatus::Confirmed), (y, InputStatus::Confirmed)]);
            }
            black_box((&g, &ring));
        })
    });
    group.finish();
}

fn bare_synctest_frame(
    session: &mut ggrs::SyncTestSession<GgrsConfig<FighterGame, usize>>,
    game: &mut FighterGame,
    frame: u32,
) {
    let [x, y] = inputs_for(frame);
    let _ = session.add_local_input(0, x);
    let _ = session.add_local_input(1, y);
    let Ok(requests) = session.advance_frame() else {
        panic!("bare synctest failed")
    };
    for r in requests {
        match r {
            GgrsRequest::SaveGameState { cell, frame } => {
                cell.save(frame, Some(game.clone()), Some(game.checksum()))
            }
            GgrsRequest::LoadGameState { cell, .. } => {
                if let Some(g) = cell.load() {
                    *game = g;
                }
            }
            GgrsRequest::AdvanceFrame { inputs } => game.step(&inputs),
        }
    }
}

fn engine_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollback");
    group.throughput(Throughput::Elements(1));
    let check = 7;
    group.bench_function("synctest_bare_ggrs_cd7_frame", |b| {
        let mut session = SessionBuilder::<GgrsConfig<FighterGame, usize>>::new()
            .with_num_players(2)
            .map(|s| s.with_check_distance(check).with_max_prediction_window(8))
            .and_then(|s| s.start_synctest_session())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut game = busy_game();
        let mut f = 0u32;
        b.iter(|| {
            f = f.wrapping_add(1);
            bare_synctest_frame(&mut session, &mut game, f);
        })
    });
    for (name, sample) in [
        ("synctest_runner_cd7_frame", 0),
        ("synctest_runner_cd7_frame_sampled_timing", 16),
        ("synctest_runner_cd7_frame_timed_every_frame", 1),
    ] {
        group.bench_function(name, |b| {
            let cfg = RunnerConfig {
                check_distance: check,
                max_prediction: 8,
                input_delay: 0,
                time_sample_every: sample,
                ..RunnerConfig::default()
            };
            let mut runner =
                SyncTestRunner::new(cfg, busy_game(), 2).unwrap_or_else(|e| panic!("{e}"));
            let mut f = 0u32;
            b.iter(|| {
                f = f.wrapping_add(1);
                let _ = black_box(runner.advance(&inputs_for(f)));
            })
        });
    }
    group.bench_function("synctest_runner_cd7_frame_recording", |b| {
        let mut runner = recording_runner();
        let mut f = 0u32;
        b.iter(|| {
            f = f.wrapping_add(1);
            let _ = black_box(runner.advance(&inputs_for(f)));
        })
    });
    group.finish();
}

fn synctest_cd7_config() -> RunnerConfig {
    RunnerConfig {
        check_distance: 7,
        max_prediction: 8,
        input_delay: 0,
        ..RunnerConfig::default()
    }
}

/// The SyncTest runner (cd 7, sampled timing) recording a replay (checksum every 60 frames).
fn recording_runner() -> SyncTestRunner<FighterGame> {
    let mut runner = SyncTestRunner::new(synctest_cd7_config(), busy_game(), 2)
        .unwrap_or_else(|e| panic!("{e}"));
    runner
        .start_recording(RecordSettings::default())
        .unwrap_or_else(|e| panic!("{e}"));
    runner
}

/// `replay verify` of a one-minute match (3600 frames, `botmatch` defaults, checksum every
/// 60 frames), plus decoding and encoding it.
fn replays(c: &mut Criterion) {
    let report = run_match(&MatchConfig {
        frames: 3600,
        record_interval: Some(60),
        ..MatchConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let [Some(recorded), _] = report.replays else {
        panic!("no replay recorded")
    };
    let bytes = replay::encode(&recorded).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "replay/size_one_minute: {:?}",
        replay::size_breakdown(&bytes)
    );
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(3600));
    group.bench_function("verify_one_minute", |b| {
        b.iter(|| {
            let v = replay::verify::<FighterGame>(black_box(&recorded));
            assert!(v.is_ok_and(|v| v.ok()));
        })
    });
    group.bench_function("decode_one_minute", |b| {
        b.iter(|| replay::decode_for::<FighterGame>(black_box(&bytes)).map(|r| r.frames()))
    });
    group.bench_function("encode_one_minute", |b| {
        b.iter(|| replay::encode(black_box(&recorded)).map(|b| b.len()))
    });
    group.finish();
}

/// Per-endpoint inboxes of the ideal pipe.
type Inboxes = Arc<Mutex<[VecDeque<(usize, Message)>; 2]>>;

/// An ideal in-memory link for the bare-ggrs baseline.
#[derive(Clone, Default)]
struct Pipe {
    queues: Inboxes,
    me: usize,
}

impl NonBlockingSocket<usize> for Pipe {
    fn send_to(&mut self, msg: &Message, addr: &usize) {
        if let Ok(mut q) = self.queues.lock() {
            if let Some(q) = q.get_mut(*addr) {
                q.push_back((self.me, msg.clone()));
            }
        }
    }
    fn receive_all_messages(&mut self) -> Vec<(usize, Message)> {
        match self.queues.lock() {
            Ok(mut q) => q
                .get_mut(self.me)
                .map(|q| q.drain(..).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

fn bare_pair_match(frames: i32) {
    let pipe = Pipe::default();
    let mut sessions: Vec<_> = (0..2)
        .map(|me| {
            let sock = Pipe { me, ..pipe.clone() };
            SessionBuilder::<GgrsConfig<FighterGame, usize>>::new()
                .with_input_delay(2)
                .add_player(PlayerType::Local, me)
                .and_then(|b| b.add_player(PlayerType::Remote(1 - me), 1 - me))
                .and_then(|b| b.start_p2p_session(sock))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let mut games = [FighterGame::new(1), FighterGame::new(1)];
    let mut frame = [0i32; 2];
    while frame.iter().any(|f| *f < frames) {
        for (i, s) in sessions.iter_mut().enumerate() {
            s.poll_remote_clients();
            if s.current_state() != SessionState::Running {
                continue;
            }
            let [x, _] = inputs_for(frame[i] as u32);
            let _ = s.add_local_input(i, x);
            if let Ok(reqs) = s.advance_frame() {
                for r in reqs {
                    match r {
                        GgrsRequest::SaveGameState { cell, frame } => {
                            cell.save(frame, Some(games[i].clone()), Some(games[i].checksum()))
                        }
                        GgrsRequest::LoadGameState { cell, frame: f } => {
                            if let Some(g) = cell.load() {
                                games[i] = g;
                                frame[i] = f;
                            }
                        }
                        GgrsRequest::AdvanceFrame { inputs } => {
                            games[i].step(&inputs);
                            frame[i] += 1;
                        }
                    }
                }
            }
        }
    }
}

fn matches(c: &mut Criterion) {
    let mut group = c.benchmark_group("netsim");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let frames = 1800u32; // 30 s of game time per iteration
    group.throughput(Throughput::Elements(u64::from(frames)));
    group.bench_function("bare_ggrs_pair_ideal_1800f_after_sync", |b| {
        // includes ggrs's wall-clock sync handshake (~tens of ms on an ideal pipe)
        b.iter(|| bare_pair_match(frames as i32))
    });
    for (name, latency_ms, loss) in [
        ("match_ideal_1800f", 0u64, 0.0),
        ("match_100ms_rtt_5pct_loss_1800f", 50, 0.05),
        ("match_300ms_rtt_20pct_loss_1800f", 150, 0.2),
    ] {
        let cfg = MatchConfig {
            frames,
            link: LinkConditions::with_latency_loss(Duration::from_millis(latency_ms), loss),
            bots: [BotKind::Ai, BotKind::Random],
            ..MatchConfig::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let r = run_match(&cfg).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.desyncs, 0);
                black_box(r)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("netsim");
    group.throughput(Throughput::Elements(1));
    group.bench_function("shaper_packet_submit_deliver", |b| {
        let c = LinkConditions {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(5),
            loss: 0.05,
            reorder: 0.05,
            ..LinkConditions::ideal()
        };
        let mut s = LinkShaper::new(c, 1);
        let mut now = Duration::ZERO;
        b.iter(|| {
            now += Duration::from_micros(500);
            s.submit(now, 1u64, 32);
            s.deliver_due(now, |x| {
                black_box(x);
            });
        })
    });
    group.finish();
}

/// Engine overhead measured A/B-interleaved (robust to a shared machine's changing load):
/// 31 rounds of 3000 SyncTest frames (check distance 7) with the bare ggrs loop, then the
/// runner; prints the median of the per-round time ratios.
fn interleaved_overhead() {
    let rounds = 31;
    let frames = 3000u32;
    let mut ratios = Vec::with_capacity(rounds);
    let mut session = SessionBuilder::<GgrsConfig<FighterGame, usize>>::new()
        .with_num_players(2)
        .map(|s| s.with_check_distance(7).with_max_prediction_window(8))
        .and_then(|s| s.start_synctest_session())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut game = busy_game();
    let cfg = RunnerConfig {
        check_distance: 7,
        max_prediction: 8,
        input_delay: 0,
        ..RunnerConfig::default()
    };
    let mut runner = SyncTestRunner::new(cfg, busy_game(), 2).unwrap_or_else(|e| panic!("{e}"));
    let mut recording = recording_runner();
    let mut rec_ratios = Vec::with_capacity(rounds);
    let mut f = 0u32;
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        for _ in 0..frames {
            f = f.wrapping_add(1);
            bare_synctest_frame(&mut session, &mut game, f);
        }
        let bare = t.elapsed();
        let t = std::time::Instant::now();
        for _ in 0..frames {
            f = f.wrapping_add(1);
            let _ = black_box(runner.advance(&inputs_for(f)));
        }
        let ours = t.elapsed();
        ratios.push(ours.as_secs_f64() / bare.as_secs_f64());
        let t = std::time::Instant::now();
        for _ in 0..frames {
            f = f.wrapping_add(1);
            let _ = black_box(recording.advance(&inputs_for(f)));
        }
        let rec = t.elapsed();
        rec_ratios.push((
            rec.as_secs_f64() / bare.as_secs_f64(),
            rec.as_secs_f64() / ours.as_secs_f64(),
        ));
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(rounds / 2).copied().unwrap_or(f64::NAN);
    let (lo, hi) = (
        ratios.first().copied().unwrap_or(f64::NAN),
        ratios.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "rollback/engine_overhead_interleaved: runner / bare ggrs SyncTest (cd 7, sampled timing) = {median:.3}x median (min {lo:.3}, max {hi:.3}, {rounds} rounds x {frames} frames)"
    );
    let mut vs_bare: Vec<f64> = rec_ratios.iter().map(|r| r.0).collect();
    let mut vs_off: Vec<f64> = rec_ratios.iter().map(|r| r.1).collect();
    vs_bare.sort_by(f64::total_cmp);
    vs_off.sort_by(f64::total_cmp);
    let mid = |v: &[f64]| v.get(rounds / 2).copied().unwrap_or(f64::NAN);
    println!(
        "rollback/engine_overhead_interleaved_recording: runner with replay recording / bare ggrs = {:.3}x median; recording on / off = {:.3}x median (min {:.3}, max {:.3})",
        mid(&vs_bare),
        mid(&vs_off),
        vs_off.first().copied().unwrap_or(f64::NAN),
        vs_off.last().copied().unwrap_or(f64::NAN),
    );
}

/// Runs every group of this suite.
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    worst_frame(&mut c);
    engine_overhead(&mut c);
    replays(&mut c);
    matches(&mut c);
    c.final_summary();
    interleaved_overhead();
}

criterion_main!(benches);
