#![no_main]
//! Fuzzes the spectator stream decoders: `SpectatorMessage::decode`, the snapshot decoder
//! with its restore (checksum check), and the fighter's state bytes. None may panic or
//! allocate unbounded; a state the fighter accepts must step safely and re-encode to the
//! same bytes, and an accepted message re-encodes to the same message.
use ggrs::InputStatus;
use libfuzzer_sys::fuzz_target;
use rollback::fighter::{FighterGame, FighterInput};
use rollback::spectate::{decode_fighter_snapshot, SpectatorMessage};
use rollback::Game;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SpectatorMessage::<FighterInput>::decode(data) {
        let bytes = m.encode().expect("a decoded message re-encodes");
        let again = SpectatorMessage::<FighterInput>::decode(&bytes).expect("and decodes");
        assert_eq!(again, m, "round trip changed the message");
    }
    let _ = decode_fighter_snapshot(data);
    if let Some(mut g) = FighterGame::from_state_bytes(data) {
        assert_eq!(g.state_bytes().as_deref(), Some(data), "state round trip");
        for bits in [0x7f, 0x15, 0x2a, 0] {
            g.step(&[(FighterInput::new(bits), InputStatus::Confirmed); 2]);
        }
    }
});
