//! Desync detection: a deliberately non-deterministic game is caught by the confirmed
//! checksum comparison (first diverging frame, both checksums, a field-by-field diff file),
//! by ggrs's own checksum exchange, and by the SyncTest runner.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ggrs::InputStatus;
use rollback::botmatch::{run_pair, PairConfig};
use rollback::desync::diff_states;
use rollback::netsim::LinkConditions;
use rollback::replay::{self, EndReason, RecordSettings, StateSource};
use rollback::{Game, RunnerConfig, RunnerError, StateHasher, SyncTestRunner};

/// Counts every `step` call in the process: peers that re-simulate a different number of
/// frames (rollbacks) end up with different states.
static STEPS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug, Default)]
struct Leaky {
    frame: u32,
    score: i64,
    noise: u64,
}

impl Game for Leaky {
    type Input = u8;
    fn step(&mut self, inputs: &[(u8, InputStatus)]) {
        self.frame += 1;
        for (i, _) in inputs {
            self.score += i64::from(*i);
        }
        if self.frame >= 50 {
            // the bug: state depends on how often the process stepped. Every step call
            // folds in a value no other call gets, so two peers that diverged never land
            // on the same noise again by chance (a `% 7` here made the final states equal
            // one run in seven).
            let leak = STEPS.fetch_add(1, Ordering::Relaxed);
            self.noise = self
                .noise
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(leak);
        }
    }
    fn hash_state(&self, h: &mut StateHasher) {
        h.write_u32(self.frame);
        h.write_i64(self.score);
        h.write_u64(self.noise);
    }
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("frame".into(), self.frame.to_string()),
            ("score".into(), self.score.to_string()),
            ("noise".into(), self.noise.to_string()),
        ]
    }
    fn game_id() -> String {
        "leaky".into()
    }
    fn from_initial_bytes(_: &[u8]) -> Option<Self> {
        Some(Self::default())
    }
}

#[test]
fn a_non_deterministic_game_is_caught_and_diffed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PairConfig {
        frames: 200,
        link: LinkConditions::with_latency_loss(Duration::from_millis(60), 0.05),
        reverse_link: None,
        runner: RunnerConfig {
            desync_interval: 5,
            disconnect_timeout: Duration::from_secs(60),
            ..RunnerConfig::default()
        },
        seed: 3,
        diff_dir: Some(dir.path().to_path_buf()),
        record_interval: None,
        cut: None,
    };
    let out = run_pair(&cfg, Leaky::default(), |p, g| {
        ((g.frame / 7 + p as u32) % 3) as u8
    })
    .unwrap();
    assert!(out.desyncs > 0, "desync not detected");
    let first = out.first_desync.expect("first desync reported");
    assert!(
        first.frame >= 50,
        "diverged before the bug could act: {}",
        first.frame
    );
    assert_ne!(first.checksum_p0, first.checksum_p1);
    let path = first.diff_file.expect("diff file written");
    assert!(path.starts_with(dir.path()));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(&format!("desync at frame {}", first.frame)),
        "{text}"
    );
    assert!(text.contains(&first.checksum_p0) && text.contains(&first.checksum_p1));
    assert!(text.contains("== differing fields"));
    assert!(
        text.lines().any(|l| l.starts_with("noise: ")),
        "the diff names the field: {text}"
    );
    assert_ne!(out.final_checksums[0], out.final_checksums[1]);
}

#[test]
fn diff_lists_only_differing_fields() {
    let a = Leaky {
        frame: 3,
        score: 5,
        noise: 1,
    };
    let b = Leaky {
        frame: 3,
        score: 6,
        noise: 1,
    };
    let d = diff_states(&a, &b);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].field.as_str(), d[0].left.as_str(), d[0].right.as_str()),
        ("score", "5", "6")
    );
    assert!(diff_states(&a, &a.clone()).is_empty());
}

#[test]
fn synctest_catches_the_non_deterministic_game() {
    let config = RunnerConfig {
        check_distance: 4,
        ..RunnerConfig::default()
    };
    let mut runner = SyncTestRunner::new(config, Leaky::default(), 2).unwrap();
    let mut caught = None;
    for f in 0..200u32 {
        match runner.advance(&[(f % 3) as u8, 1]) {
            Ok(_) => {}
            Err(RunnerError::SyncTestMismatch { frame, mismatched }) => {
                caught = Some((frame, mismatched));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (frame, mismatched) = caught.expect("synctest did not catch the bug");
    assert!(frame >= 50);
    assert!(!mismatched.is_empty());
}

#[test]
fn ggrs_desyncs_are_handed_to_the_caller_who_writes_the_files() {
    use rollback::clock::VirtualClock;
    use rollback::netsim::SimNetwork;
    use rollback::session::{P2PRunner, RunnerOptions};
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::new();
    let net = SimNetwork::new(5, clock.clone());
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let (a0, a1) = (s0.addr(), s1.addr());
    net.set_symmetric(
        a0,
        a1,
        LinkConditions::with_latency_loss(Duration::from_millis(40), 0.0),
    )
    .unwrap();
    let config = RunnerConfig {
        desync_interval: 5,
        disconnect_timeout: Duration::from_secs(60),
        ..RunnerConfig::default()
    };
    let opts = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let mut peers = [
        P2PRunner::with_options(config.clone(), Leaky::default(), s0, 0, a1, opts()).unwrap(),
        P2PRunner::with_options(config, Leaky::default(), s1, 1, a0, opts()).unwrap(),
    ];
    let mut taken = Vec::new();
    while clock.now() < Duration::from_secs(20) && taken.is_empty() {
        clock.advance(Duration::from_millis(16));
        for (i, p) in peers.iter_mut().enumerate() {
            p.poll();
            if p.is_running() {
                p.advance(((p.current_frame() / 5 + i as i32) % 3) as u8)
                    .unwrap();
            }
        }
        for e in peers[0].take_desync_events() {
            let path = dir.path().join(format!("frame{}.txt", e.frame));
            assert!(peers[0].write_state(&path, e.frame).unwrap());
            taken.push((e, path));
        }
    }
    let (event, path) = taken.first().expect("ggrs reported no desync");
    assert!(event.frame >= 50);
    assert_ne!(event.local_checksum, event.remote_checksum);
    assert!(
        peers[0].take_desync_events().is_empty(),
        "events are handed out once"
    );
    assert_eq!(peers[0].desync_events().len(), taken.len());
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("noise"), "{text}");
}

fn leaky_pair(record_interval: Option<u32>) -> rollback::botmatch::PairOutcome<Leaky> {
    let cfg = PairConfig {
        frames: 200,
        link: LinkConditions::with_latency_loss(Duration::from_millis(60), 0.05),
        reverse_link: None,
        runner: RunnerConfig {
            desync_interval: 0,
            disconnect_timeout: Duration::from_secs(60),
            ..RunnerConfig::default()
        },
        seed: 3,
        diff_dir: None,
        record_interval,
        cut: None,
    };
    run_pair(&cfg, Leaky::default(), |p, g| {
        ((g.frame / 7 + p as u32) % 3) as u8
    })
    .expect("the pair plays")
}

#[test]
fn replay_diff_finds_the_first_diverging_frame_and_field() {
    let out = leaky_pair(Some(1));
    let first = out.first_desync.clone().expect("desync");
    let [a, b] = out.replays;
    // through the file format, as the `replay diff` command reads them
    let a = replay::decode_for::<Leaky>(&replay::encode(&a.unwrap()).unwrap()).unwrap();
    let b = replay::decode_for::<Leaky>(&replay::encode(&b.unwrap()).unwrap()).unwrap();
    assert_eq!(
        a.end.reason,
        EndReason::Desync {
            frame: first.frame as u32
        }
    );
    let d = replay::diff::<Leaky>(&a, &b).unwrap();
    assert!(!d.identical());
    assert!(d.not_same_match.is_none());
    assert!(
        d.input_divergence.is_none(),
        "the inputs agree: {:?}",
        d.input_divergence
    );
    let c = d.checksum_divergence.expect("checksums diverge");
    assert_eq!(c.frame, first.frame as u32);
    assert_eq!(c.last_agreeing, Some(c.frame - 1));
    assert_eq!(d.state_frame, Some(c.frame));
    assert_eq!(d.state_source, Some(StateSource::Recorded));
    assert_eq!(d.fields.len(), 1, "{:?}", d.fields);
    assert_eq!(d.fields[0].field, "noise");
    // each replay alone: the recorded checksums cannot be reproduced from the inputs
    let v = replay::verify::<Leaky>(&a).unwrap();
    assert!(!v.ok());
}

#[test]
fn a_live_desync_writes_the_replay_next_to_the_state() {
    use rollback::clock::VirtualClock;
    use rollback::netsim::SimNetwork;
    use rollback::session::{P2PRunner, RunnerOptions};
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::new();
    let net = SimNetwork::new(5, clock.clone());
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let (a0, a1) = (s0.addr(), s1.addr());
    let link = LinkConditions::with_latency_loss(Duration::from_millis(40), 0.0);
    net.set_symmetric(a0, a1, link).unwrap();
    let config = RunnerConfig {
        desync_interval: 5,
        disconnect_timeout: Duration::from_secs(60),
        ..RunnerConfig::default()
    };
    let opts = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let mut peers = [
        P2PRunner::with_options(config.clone(), Leaky::default(), s0, 0, a1, opts()).unwrap(),
        P2PRunner::with_options(config, Leaky::default(), s1, 1, a0, opts()).unwrap(),
    ];
    for p in &mut peers {
        p.start_recording(RecordSettings::default()).unwrap();
    }
    let mut written = Vec::new();
    while written.is_empty() {
        clock.advance(Duration::from_nanos(16_666_667));
        for (i, p) in peers.iter_mut().enumerate() {
            p.poll();
            if p.is_running() {
                let input = ((p.current_frame() / 7 + i as i32) % 3) as u8;
                p.advance(input).unwrap();
            }
            // what a caller does with a desync event: the state, then the replay beside it
            for e in p.take_desync_events() {
                let state = dir.path().join(format!("desync-p{i}-frame{}.txt", e.frame));
                assert!(p.write_state(&state, e.frame).unwrap());
                let replay = p.write_desync_replay(dir.path(), e.frame).unwrap();
                written.push((e, state, replay.expect("recording, so a replay")));
            }
        }
        assert!(clock.now() < Duration::from_secs(60), "no desync detected");
    }
    let (event, state_path, replay_path) = &written[0];
    assert_eq!(replay_path.parent(), state_path.parent());
    let r = replay::read_file::<Leaky>(replay_path).unwrap();
    assert_eq!(
        r.end.reason,
        EndReason::Desync {
            frame: event.frame as u32
        }
    );
    let d = r
        .described_at(event.frame as u32)
        .expect("the desync state is in the replay");
    assert!(d.fields.iter().any(|(k, _)| k == "noise"));
    assert_eq!(
        r.checksum_at(event.frame as u32),
        Some(event.local_checksum)
    );
    let cmd = replay::diff_command(replay_path, &dir.path().join("x"));
    assert!(cmd.starts_with("cargo run --release --example replay -- diff "));
}
