//! Riding out a cut (issue 10 §2) on the simulated network in virtual time: all traffic is
//! dropped mid-match for 3 s and for 15 s, then restored; the runners keep predicting up
//! to the window, stall without declaring the opponent gone, and finish the match from the
//! last confirmed frame with equal checksums and no desync. A 25 s cut is longer than the
//! resume timeout (20 s) and ends the match with `EndReason::ResumeTimeout`.

use std::time::Duration;

use rollback::botmatch::{run_pair, LinkCut, PairConfig, PairOutcome};
use rollback::fighter::{FighterGame, FighterInput};
use rollback::netsim::LinkConditions;
use rollback::session::{EndReason, DEFAULT_RESUME_TIMEOUT};
use rollback::RunnerConfig;

const FRAMES: u32 = 1200;
const CUT_AT: Duration = Duration::from_secs(8);

fn cut_match(cut: Duration) -> PairOutcome<FighterGame> {
    let cfg = PairConfig {
        frames: FRAMES,
        link: LinkConditions::with_latency_loss(Duration::from_millis(30), 0.02),
        reverse_link: None,
        runner: RunnerConfig {
            disconnect_timeout: Duration::from_secs(60),
            ..RunnerConfig::default()
        },
        seed: cut.as_secs(),
        diff_dir: None,
        // recording rides out the cut too (checked in assert_survived)
        record_interval: Some(60),
        cut: Some(LinkCut {
            at: CUT_AT,
            duration: cut,
        }),
    };
    let out = run_pair(&cfg, FighterGame::new(9), |p, g| {
        FighterInput::new(((g.frame / 13) as u8 + 3 * p as u8) & FighterInput::ALL)
    });
    match out {
        Ok(out) => out,
        Err(e) => panic!("match failed: {e}"),
    }
}

fn assert_survived(out: &PairOutcome<FighterGame>, cut: Duration) {
    assert_eq!(out.ended_early, None);
    assert_eq!(out.desyncs, 0);
    assert_eq!(out.ggrs_desyncs, 0);
    assert!(out.final_checksums[0].is_some());
    assert_eq!(out.final_checksums[0], out.final_checksums[1]);
    // both peers' replays span the cut and re-simulate to the live final checksum
    for replay in &out.replays {
        let replay = replay.as_ref().expect("recorded");
        assert_eq!(replay.frames(), FRAMES);
        let v = rollback::replay::verify::<FighterGame>(replay).expect("verifies");
        assert!(v.ok(), "{v:?}");
        assert_eq!(Some(v.final_checksum), out.final_checksums[0]);
    }
    // the match really was held up by the cut: it took the cut's length longer
    assert!(
        out.virtual_time >= Duration::from_secs_f64(f64::from(FRAMES) / 60.0) + cut,
        "{:?}",
        out.virtual_time
    );
    for s in &out.stats {
        assert_eq!(s.interruptions, 1, "{s:?}");
        assert_eq!(s.events.disconnected, 0);
        let resumed = *s.resumed_after_ms.first().expect("the interruption ended");
        let cut_ms = cut.as_millis() as u64;
        assert!(
            (cut_ms..cut_ms + 1000).contains(&resumed),
            "resumed after {resumed} ms, cut {cut_ms} ms"
        );
    }
}

#[test]
fn a_3_s_cut_mid_match_is_ridden_out() {
    let cut = Duration::from_secs(3);
    assert_survived(&cut_match(cut), cut);
}

#[test]
fn a_15_s_cut_mid_match_is_ridden_out() {
    let cut = Duration::from_secs(15);
    assert_survived(&cut_match(cut), cut);
}

#[test]
fn a_25_s_cut_ends_the_match_with_a_resume_timeout() {
    let out = cut_match(Duration::from_secs(25));
    let (_, reason) = out.ended_early.expect("the match ended early");
    assert_eq!(reason, EndReason::ResumeTimeout);
    assert!(reason.to_string().contains("resume timeout"));
    // it ended at the timeout, not at the budget: ~20 s after the cut began
    let at = CUT_AT + DEFAULT_RESUME_TIMEOUT;
    assert!(
        out.virtual_time >= at && out.virtual_time < at + Duration::from_secs(2),
        "{:?}",
        out.virtual_time
    );
    assert!(out.final_checksums[0].is_none());
}
