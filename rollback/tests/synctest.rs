//! ggrs SyncTest of the fighter: check distance 7 over 10,000 frames of random inputs finds
//! no non-determinism, and the runner's statistics and confirmed log are filled.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollback::bot::RandomBot;
use rollback::fighter::{FighterConfig, FighterGame};
use rollback::{RunnerConfig, SyncTestRunner};

#[test]
fn fighter_passes_synctest_with_check_distance_7_over_10000_frames() {
    let config = RunnerConfig {
        check_distance: 7,
        max_prediction: 8,
        input_delay: 0,
        ..RunnerConfig::default()
    };
    // short rounds so KOs, timeouts and round resets all happen within the run
    let rules = FighterConfig {
        round_frames: 900,
        ..FighterConfig::default()
    };
    let mut runner = SyncTestRunner::new(config, FighterGame::with_config(rules, 11), 2).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut inputs = [RandomBot::random_input(&mut rng); 2];
    for frame in 0..10_000 {
        for i in &mut inputs {
            if rng.gen_bool(0.3) {
                *i = RandomBot::random_input(&mut rng);
            }
        }
        runner
            .advance(&inputs)
            .unwrap_or_else(|e| panic!("frame {frame}: {e}"));
    }
    let stats = runner.stats();
    assert_eq!(stats.frames, 10_000);
    assert!(stats.rollbacks >= 9_990, "synctest rolls back every frame");
    assert_eq!(stats.max_rollback_depth, 7);
    assert!(
        stats.game_ns > 0 && stats.snapshot_ns > 0 && stats.engine_ns > 0,
        "sampled timing"
    );
    assert!(runner.confirmed_checksums().len() >= 9_990);
    assert!(runner.game().round > 0, "several rounds were played");
}
