//! The spectator snapshot and message decoders: round trips, and untrusted bytes that
//! must be refused with a typed error (never a panic, never a large allocation).

use ggrs::InputStatus;
use proptest::prelude::*;
use rollback::bot::{Bot, RandomBot};
use rollback::fighter::{FighterGame, FighterInput};
use rollback::session::ConfirmedStep;
use rollback::spectate::{
    decode_fighter_snapshot, SpectateError, SpectatorMessage, StateSnapshot, MAX_STATE_BYTES,
    SNAPSHOT_OVERHEAD,
};
use rollback::Game;

fn played(frames: u32) -> FighterGame {
    let mut g = FighterGame::new(42);
    let (mut a, mut b) = (RandomBot::new(1), RandomBot::new(2));
    for _ in 0..frames {
        let i = [
            (a.next_input(&g, 0), InputStatus::Confirmed),
            (b.next_input(&g, 1), InputStatus::Confirmed),
        ];
        g.step(&i);
    }
    g
}

#[test]
fn a_snapshot_restores_the_same_state_and_steps_identically() {
    let game = played(900);
    let snap = StateSnapshot::of(900, &game).unwrap();
    let bytes = snap.encode();
    assert!(bytes.len() < 200, "{} bytes", bytes.len());
    let back = StateSnapshot::decode(&bytes).unwrap();
    assert_eq!(back, snap);
    let mut restored: FighterGame = back.restore().unwrap();
    assert_eq!(restored, game);
    let mut original = game.clone();
    let inputs = [(
        FighterInput::new(FighterInput::HEAVY),
        InputStatus::Confirmed,
    ); 2];
    for _ in 0..300 {
        original.step(&inputs);
        restored.step(&inputs);
    }
    assert_eq!(restored.checksum(), original.checksum());
}

#[test]
fn damaged_snapshots_are_refused() {
    let snap = StateSnapshot::of(10, &played(10)).unwrap();
    let bytes = snap.encode();
    // any flipped byte: the CRC (or the magic / version / length) catches it
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x41;
        assert!(StateSnapshot::decode(&b).is_err(), "byte {i}");
    }
    // truncated at any length
    for n in 0..bytes.len() {
        assert!(StateSnapshot::decode(&bytes[..n]).is_err(), "length {n}");
    }
    // a huge announced length is refused before allocating
    let mut huge = bytes.clone();
    let at = SNAPSHOT_OVERHEAD - 8;
    huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        StateSnapshot::decode(&huge),
        Err(SpectateError::TooLarge(u32::MAX as usize))
    );
    assert!(MAX_STATE_BYTES < u32::MAX as usize);
}

#[test]
fn a_state_that_does_not_match_its_checksum_is_refused() {
    let game = played(60);
    let mut snap = StateSnapshot::of(60, &game).unwrap();
    snap.checksum ^= 1;
    // re-encoded with a valid CRC: only the state checksum can catch it
    let back = StateSnapshot::decode(&snap.encode()).unwrap();
    assert!(matches!(
        back.restore::<FighterGame>(),
        Err(SpectateError::Checksum { frame: 60, .. })
    ));
    // an invalid field value with a matching checksum is refused by the game
    let mut bad = StateSnapshot::of(60, &game).unwrap();
    let last = bad.state.len() - 9; // a fighter's `crouching` flag
    bad.state[last] = 7;
    assert_eq!(bad.restore::<FighterGame>(), Err(SpectateError::BadState));
    assert_eq!(
        decode_fighter_snapshot(&bad.encode()),
        Err(SpectateError::BadState)
    );
}

#[test]
fn messages_round_trip_and_refuse_garbage() {
    let step = ConfirmedStep {
        frame: 1234,
        inputs: vec![FighterInput::new(3), FighterInput::new(0x40)],
        checksum: 0xfeed,
    };
    let msgs = [
        SpectatorMessage::Step(step),
        SpectatorMessage::End {
            frame: 3600,
            checksum: 7,
        },
        SpectatorMessage::Snapshot(StateSnapshot::of(5, &played(5)).unwrap()),
    ];
    for m in msgs {
        let bytes = m.encode().unwrap();
        assert_eq!(SpectatorMessage::decode(&bytes).unwrap(), m);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SpectatorMessage::<FighterInput>::decode(&longer).is_err());
    }
    assert!(SpectatorMessage::<FighterInput>::decode(&[]).is_err());
    assert!(SpectatorMessage::<FighterInput>::decode(&[9, 1, 2]).is_err());
    // a step announcing 255 players
    let mut b = vec![2u8];
    b.extend_from_slice(&[0; 20]);
    b.push(255);
    assert!(SpectatorMessage::<FighterInput>::decode(&b).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SpectatorMessage::<FighterInput>::decode(&bytes);
        let _ = decode_fighter_snapshot(&bytes);
        if let Some(mut g) = FighterGame::from_state_bytes(&bytes) {
            g.step(&[(FighterInput::new(0x7f), InputStatus::Confirmed); 2]);
        }
    }

    #[test]
    fn fighter_states_round_trip(frames in 0u32..400) {
        let g = played(frames);
        let bytes = g.state_bytes().unwrap();
        prop_assert_eq!(FighterGame::from_state_bytes(&bytes), Some(g));
    }
}

/// Found by the `spectate_decode` fuzzer: a fighter field of `i32::MIN` overflowed `abs()`
/// while the decoder checked its range. It must be refused, not panic.
#[test]
fn a_state_with_an_i32_min_field_is_refused_without_panicking() {
    let bytes: [u8; 102] = [
        0x10, 0x0e, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x02, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x1c, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xa4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x21, 0xfc, 0xff, 0xff, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0xf3, 0x07, 0x00, 0x3b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x05,
        0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xe8, 0x02, 0x00, 0x00, 0x05, 0x0a, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x3f, 0x7c, 0x4a, 0x7f, 0xb9, 0x79, 0x37, 0x9e,
    ];
    assert!(FighterGame::from_state_bytes(&bytes).is_none());
}
