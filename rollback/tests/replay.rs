//! Replays: a recorded bot match verifies to the live final checksum; tampered inputs and
//! checksums are found at their frame; damaged, truncated and hostile files are typed
//! errors; playback seeks through its snapshots.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

use std::time::Duration;

use ggrs::InputStatus;
use proptest::prelude::*;
use rollback::botmatch::{run_match, BotKind, MatchConfig};
use rollback::fighter::{FighterConfig, FighterGame, FighterInput};
use rollback::netsim::LinkConditions;
use rollback::replay::{
    self, codec, EndReason, Playback, PlaybackControl, RecordSettings, Replay, ReplayError,
    ReplayRecorder,
};
use rollback::{Game, RunnerConfig, SyncTestRunner};

fn recorded_match(frames: u32, interval: u32, seed: u64) -> (Replay<FighterInput>, String) {
    let report = run_match(&MatchConfig {
        frames,
        seed,
        link: LinkConditions::with_latency_loss(Duration::from_millis(40), 0.05),
        record_interval: Some(interval),
        ..MatchConfig::default()
    })
    .unwrap();
    assert!(report.checksums_match);
    let [r0, r1] = report.replays;
    let (r0, r1) = (r0.expect("peer 0 recorded"), r1.expect("peer 1 recorded"));
    assert_eq!(r0.inputs, r1.inputs, "both peers record the same inputs");
    (r0, report.peers[0].final_checksum.clone())
}

fn round_trip(replay: &Replay<FighterInput>) -> Replay<FighterInput> {
    replay::decode_for::<FighterGame>(&replay::encode(replay).unwrap()).unwrap()
}

#[test]
fn a_recorded_botmatch_verifies_to_the_live_final_checksum() {
    let (replay, live_final) = recorded_match(1200, 60, 11);
    assert_eq!(replay.frames(), 1200);
    assert_eq!(replay.end.frames, 1200);
    assert_eq!(replay.header.game_id, "netplay-fighter");
    assert_eq!(replay.header.recorded_by, Some(0));
    let decoded = round_trip(&replay);
    assert_eq!(decoded, replay);
    let report = replay::verify::<FighterGame>(&decoded).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.checked, 1200 / 60 + 1);
    assert_eq!(format!("{:032x}", report.final_checksum), live_final);
}

/// The first frame at or after `from` where replacing player 0's input changes the next
/// state, and the replacement.
fn effective_tamper(replay: &Replay<FighterInput>, from: u32) -> (u32, FighterInput) {
    let mut game = replay::simulate_to::<FighterGame>(replay, from).unwrap();
    for f in from..replay.frames() {
        let inputs = replay.inputs_at(f).unwrap();
        let other = FighterInput::new(inputs[0].0 ^ (FighterInput::UP | FighterInput::RIGHT));
        let step = |i: [FighterInput; 2]| {
            let mut g = game.clone();
            g.step(&i.map(|i| (i, InputStatus::Confirmed)));
            g.checksum()
        };
        if step([other, inputs[1]]) != step([inputs[0], inputs[1]]) {
            return (f, other);
        }
        game.step(&[inputs[0], inputs[1]].map(|i| (i, InputStatus::Confirmed)));
    }
    panic!("no frame where the input matters");
}

#[test]
fn a_tampered_input_fails_at_the_first_checked_frame_after_it() {
    for interval in [1, 60] {
        let (mut replay, _) = recorded_match(900, interval, 5);
        let (frame, other) = effective_tamper(&replay, 450);
        replay.inputs[frame as usize * 2] = other;
        let report = replay::verify::<FighterGame>(&round_trip(&replay)).unwrap();
        assert!(!report.ok());
        let m = report.first_mismatch.expect("mismatch");
        let expected = (frame + 1).div_ceil(interval) * interval;
        assert_eq!(m.frame, expected, "interval {interval}, tampered {frame}");
        assert_eq!(m.input_frame, Some(expected - 1));
        assert_eq!(m.inputs.len(), 2);
    }
}

#[test]
fn a_tampered_checksum_fails_at_exactly_its_frame() {
    let (mut replay, _) = recorded_match(900, 60, 6);
    let i = replay
        .checksums
        .iter()
        .position(|(f, _)| *f == 420)
        .unwrap();
    replay.checksums[i].1 ^= 1;
    let report = replay::verify::<FighterGame>(&round_trip(&replay)).unwrap();
    let m = report.first_mismatch.expect("mismatch");
    assert_eq!(m.frame, 420);
    assert!(!m.recorded_state && !m.state.is_empty());
}

/// Offsets of the sections (kind, first frame, stored length) after the header.
fn sections(bytes: &[u8]) -> Vec<(usize, u8, u32, usize)> {
    let header_len = u64::from_le_bytes(bytes[10..18].try_into().unwrap()) as usize;
    let mut at = codec::PREAMBLE_BYTES + header_len;
    let mut out = Vec::new();
    while at < bytes.len() {
        let first = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap());
        let stored = u64::from_le_bytes(bytes[at + 17..at + 25].try_into().unwrap()) as usize;
        out.push((at, bytes[at], first, stored));
        at += codec::SECTION_HEAD_BYTES + stored;
    }
    out
}

#[test]
fn damage_in_a_middle_chunk_is_located_not_refused() {
    let (replay, _) = recorded_match(2700, 60, 7);
    let bytes = replay::encode(&replay).unwrap();
    let secs = sections(&bytes);
    assert_eq!(
        secs.iter().filter(|s| s.1 == codec::SECTION_INPUTS).count(),
        3
    );
    let (at, _, first, stored) = secs[1];
    assert_eq!(first, 900);
    let mut damaged = bytes.clone();
    damaged[at + codec::SECTION_HEAD_BYTES + stored / 2] ^= 0x5a;
    let decoded = replay::decode_for::<FighterGame>(&damaged).expect("not refused");
    assert_eq!(decoded.damage.len(), 1);
    assert_eq!(decoded.damage[0].first_frame, 900);
    assert_eq!(decoded.damage[0].frames, 900);
    let report = replay::verify::<FighterGame>(&decoded).unwrap();
    assert!(!report.ok());
    if decoded.damage[0].readable {
        // the content still parsed: re-simulation finds where it differs, inside the chunk
        if let Some(m) = &report.first_mismatch {
            assert!((900..=1800).contains(&m.frame), "{}", m.frame);
        }
    } else {
        assert_eq!(report.simulated, 900, "verified up to the damaged chunk");
    }
}

fn fighter_err(bytes: &[u8]) -> ReplayError {
    replay::decode_for::<FighterGame>(bytes).unwrap_err()
}

#[test]
fn bad_files_are_clear_errors() {
    let (replay, _) = recorded_match(600, 60, 8);
    let bytes = replay::encode(&replay).unwrap();
    // wrong magic
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(fighter_err(&b), ReplayError::BadMagic);
    // future version
    let mut b = bytes.clone();
    b[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(
        fighter_err(&b),
        ReplayError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    ));
    // damaged header
    let mut b = bytes.clone();
    b[codec::PREAMBLE_BYTES + 3] ^= 1;
    assert!(matches!(fighter_err(&b), ReplayError::HeaderDamaged(_)));
    // a header size field of 2^40
    let mut b = bytes.clone();
    b[10..18].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(fighter_err(&b), ReplayError::TooLarge { size, .. } if size == 1 << 40));
    // a section size field of 2^40
    let mut b = bytes.clone();
    let (at, ..) = sections(&bytes)[0];
    b[at + 9..at + 17].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(fighter_err(&b), ReplayError::TooLarge { size, .. } if size == 1 << 40));
    // truncated anywhere
    for cut in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
        let e = fighter_err(&bytes[..cut]);
        assert!(
            matches!(e, ReplayError::Truncated { .. } | ReplayError::BadMagic),
            "cut {cut}: {e}"
        );
    }
    // another build of the game
    let mut other = replay.clone();
    other.header.game_version ^= 1;
    let e = fighter_err(&replay::encode(&other).unwrap());
    assert!(matches!(e, ReplayError::WrongGameVersion { .. }));
    assert!(e.to_string().contains("another build"), "{e}");
    // another game
    let mut other = replay.clone();
    other.header.game_id = "chess".into();
    assert!(matches!(
        fighter_err(&replay::encode(&other).unwrap()),
        ReplayError::WrongGame { .. }
    ));
    // a damaged end section
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 1] ^= 0xff;
    assert!(matches!(fighter_err(&b), ReplayError::EndDamaged(_)));
    // trailing garbage
    let mut b = bytes.clone();
    b.push(0);
    assert!(matches!(fighter_err(&b), ReplayError::Corrupt { .. }));
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x1234_5678_u64;
    let (replay, _) = recorded_match(300, 60, 9);
    let bytes = replay::encode(&replay).unwrap();
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % b.len();
            b[i] = (state >> 32) as u8;
        }
        let _ = replay::decode::<FighterInput>(&b);
    }
}

#[test]
fn sizes_are_within_the_targets_for_a_minute_of_bot_play() {
    let (replay, _) = recorded_match(3600, 60, 1);
    let bytes = replay::encode(&replay).unwrap();
    let sizes = replay::size_breakdown(&bytes).unwrap();
    eprintln!("one minute, botmatch defaults: {sizes:?}");
    assert_eq!(sizes.total, bytes.len());
    assert_eq!(sizes.checksums, 61 * 17 + 4);
    assert!(sizes.total <= 4096, "{sizes:?}");
    assert!(sizes.inputs <= 2048, "{sizes:?}");
}

#[test]
fn synctest_runner_records_confirmed_frames() {
    let mut runner = SyncTestRunner::new(RunnerConfig::default(), FighterGame::new(3), 2).unwrap();
    runner
        .start_recording(RecordSettings {
            checksum_interval: 1,
            ..RecordSettings::default()
        })
        .unwrap();
    for f in 0..400u32 {
        let i = FighterInput::new(((f / 9) % 128) as u8);
        runner
            .advance(&[i, FighterInput::new(((f / 5) % 128) as u8)])
            .unwrap();
    }
    let replay = runner.take_replay(EndReason::Completed).unwrap();
    assert!(replay.frames() >= 390, "{}", replay.frames());
    assert_eq!(replay.checksums.len() as u32, replay.frames() + 1);
    let report = replay::verify::<FighterGame>(&round_trip(&replay)).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        Some(report.final_checksum),
        runner
            .confirmed_checksums()
            .checksum_at(replay.frames() as i32)
    );
}

#[test]
fn playback_seeks_through_snapshots_and_flags_checksums() {
    let (mut replay, _) = recorded_match(1500, 60, 12);
    let i = replay
        .checksums
        .iter()
        .position(|(f, _)| *f == 1200)
        .unwrap();
    replay.checksums[i].1 ^= 1;
    let expected_900 = replay::simulate_to::<FighterGame>(&replay, 900).unwrap();
    let mut p = Playback::<FighterGame>::load(replay).unwrap();
    assert_eq!(p.frames(), 1500);
    assert_eq!(p.mismatches(), 1);
    assert_eq!(p.checksum_matched(1200), Some(false));
    assert_eq!(p.checksum_matched(1140), Some(true));
    assert_eq!(p.checksum_matched(1141), None);
    p.seek(900);
    assert_eq!(p.frame(), 900);
    assert_eq!(p.state(), &expected_900);
    p.seek_by_secs(10);
    assert_eq!(p.frame(), 1500);
    assert!(!p.step(), "at the end");
    assert_eq!(p.checked_at_or_before(1210), Some((1200, false)));
    p.seek_by_secs(-10);
    assert_eq!(p.frame(), 900);
    assert_eq!(p.state(), &expected_900);
    p.seek_by_secs(-100);
    assert_eq!(p.frame(), 0);
    assert!(p.step());
    assert_eq!(p.state().frame, 1);
}

#[test]
fn playback_control_pauses_steps_and_changes_speed() {
    let mut c = PlaybackControl::new(60);
    let tick = Duration::from_nanos(16_666_667);
    assert_eq!(c.frames_due(tick * 6), 6);
    c.faster();
    c.faster();
    assert_eq!(c.speed(), 4.0);
    c.faster();
    assert_eq!(c.speed(), 4.0);
    assert_eq!(c.frames_due(tick * 3), 12);
    for _ in 0..5 {
        c.slower();
    }
    assert_eq!(c.speed(), 0.25);
    let frames: u32 = (0..8).map(|_| c.frames_due(tick)).sum();
    assert_eq!(frames, 2);
    c.toggle_pause();
    assert_eq!(c.frames_due(tick * 10), 0);
    c.request_step();
    assert_eq!(c.frames_due(tick), 1);
    assert_eq!(c.frames_due(tick), 0);
}

#[test]
fn scripted_human_like_input_size() {
    // a human-like player: holds directions for a while, taps attacks, blocks in bursts
    let mut game = FighterGame::with_config(FighterConfig::default(), 4);
    let mut rec = ReplayRecorder::for_game(&game, 2, 2, 60, RecordSettings::default());
    rec.record_frame(0, game.checksum(), &[]);
    let mut bots = [
        rollback::botmatch::make_bot(BotKind::Scripted, 1),
        rollback::botmatch::make_bot(BotKind::Scripted, 5),
    ];
    for f in 0..3600u32 {
        let inputs = [bots[0].next_input(&game, 0), bots[1].next_input(&game, 1)];
        game.step(&inputs.map(|i| (i, InputStatus::Confirmed)));
        rec.record_frame(f + 1, game.checksum(), &inputs);
    }
    let replay = rec.finish(EndReason::Completed);
    let bytes = replay::encode(&replay).unwrap();
    eprintln!("one minute, scripted bots: {} B", bytes.len());
    assert!(bytes.len() <= 4096);
    assert!(replay::verify::<FighterGame>(&round_trip(&replay))
        .unwrap()
        .ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn random_matches_resimulate_to_the_same_final_checksum(
        seed in 0u64..10_000,
        latency_ms in 0u64..120,
        loss in 0.0f64..0.15,
        delay in 0usize..4,
        bots in (0usize..3, 0usize..3),
    ) {
        const KINDS: [BotKind; 3] = [BotKind::Ai, BotKind::Random, BotKind::Scripted];
        let report = run_match(&MatchConfig {
            frames: 360,
            seed,
            link: LinkConditions::with_latency_loss(Duration::from_millis(latency_ms), loss),
            input_delay: delay,
            bots: [KINDS[bots.0], KINDS[bots.1]],
            record_interval: Some(60),
            ..MatchConfig::default()
        })
        .unwrap();
        for (i, r) in report.replays.iter().enumerate() {
            let r = round_trip(r.as_ref().unwrap());
            let v = replay::verify::<FighterGame>(&r).unwrap();
            prop_assert!(v.ok(), "peer {}: {:?}", i, v);
            prop_assert_eq!(format!("{:032x}", v.final_checksum), report.peers[i].final_checksum.clone());
        }
    }
}

/// Writes the fuzz seeds (fuzz/corpus/replay_decode/seed-*) when `REPLAY_FUZZ_SEEDS` names
/// a directory; otherwise only checks that the seeds decode.
#[test]
fn fuzz_seeds_decode() {
    let short = |frames, interval, chunk| {
        let mut game = FighterGame::new(2);
        let mut rec = ReplayRecorder::for_game(
            &game,
            2,
            2,
            60,
            RecordSettings {
                checksum_interval: interval,
                ..RecordSettings::default()
            },
        );
        rec.record_frame(0, game.checksum(), &[]);
        for f in 0..frames {
            let i = [
                FighterInput::new((f / 5 % 97) as u8),
                FighterInput::new((f / 3 % 11) as u8),
            ];
            game.step(&i.map(|i| (i, InputStatus::Confirmed)));
            rec.record_frame(f + 1, game.checksum(), &i);
        }
        rec.note_state(frames / 2, &game);
        replay::encode_with_chunk(&rec.finish(EndReason::Completed), chunk).unwrap()
    };
    let seeds = [
        ("seed-short", short(40, 1, 16)),
        ("seed-chunks", short(300, 60, 100)),
        ("seed-empty", short(0, 60, 900)),
    ];
    for (name, bytes) in &seeds {
        assert!(replay::decode::<FighterInput>(bytes).is_ok(), "{name}");
        if let Ok(dir) = std::env::var("REPLAY_FUZZ_SEEDS") {
            std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
        }
    }
}
