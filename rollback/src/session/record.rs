//! The recorder hook of the runners: confirmed frames go into a [`ReplayRecorder`].
//!
//! While recording, each first-time or re-simulated `AdvanceFrame` stores its inputs in a
//! ring (the same length as the state ring, buffers reused: no allocation per frame after
//! the first lap); when a frame's checksum enters the confirmed log, the inputs that led
//! into it are final and go to the recorder. Off, the hook is one `Option` check.

use ggrs::{Frame, InputStatus};

use super::core::SessionCore;
use super::RunnerError;
use crate::game::Game;
use crate::replay::{EndReason, RecordSettings, Replay, ReplayRecorder};

/// A recording in progress.
pub(crate) struct Recording<I> {
    pub recorder: ReplayRecorder<I>,
    ring: Vec<(Frame, Vec<I>)>,
    /// Confirmed frames whose inputs were no longer in the ring (recorded as defaults).
    pub missing_inputs: u64,
}

impl<I: Copy + Default> Recording<I> {
    fn slot(&self, frame: Frame) -> usize {
        frame.rem_euclid(self.ring.len().max(1) as Frame) as usize
    }

    /// Stores the inputs of `frame` (they may still change until it is confirmed).
    pub fn store_inputs(&mut self, frame: Frame, inputs: &[(I, InputStatus)]) {
        let slot = self.slot(frame);
        if let Some((f, buf)) = self.ring.get_mut(slot) {
            *f = frame;
            buf.clear();
            buf.extend(inputs.iter().map(|(i, _)| *i));
        }
    }

    /// `frame` is confirmed with `checksum`.
    pub fn confirm(&mut self, frame: Frame, checksum: u128) {
        let Ok(f) = u32::try_from(frame) else {
            return;
        };
        if f == 0 {
            self.recorder.record_frame(0, checksum, &[]);
            return;
        }
        match self.ring.get(self.slot(frame - 1)) {
            Some((sf, inputs)) if *sf == frame - 1 => {
                self.recorder.record_frame(f, checksum, inputs)
            }
            _ => {
                self.missing_inputs += 1;
                self.recorder.record_frame(f, checksum, &[]);
            }
        }
    }
}

impl<G: Game> SessionCore<G> {
    /// Starts recording (only before the first frame is simulated).
    pub(crate) fn start_recording(
        &mut self,
        players: usize,
        input_delay: usize,
        fps: u32,
        recorded_by: Option<u8>,
        settings: RecordSettings,
    ) -> Result<(), RunnerError> {
        if self.max_frame != 0 || self.log.next_frame() > 1 {
            return Err(RunnerError::InvalidConfig(
                "recording must start before the first frame".into(),
            ));
        }
        let mut recorder =
            ReplayRecorder::for_game(&self.game, players, input_delay, fps, settings);
        recorder.set_recorded_by(recorded_by);
        let mut rec = Recording {
            recorder,
            ring: vec![(-1, Vec::with_capacity(players)); self.ring_len()],
            missing_inputs: 0,
        };
        if let Some(ck) = self.log.checksum_at(0) {
            rec.confirm(0, ck);
        }
        self.recording = Some(rec);
        Ok(())
    }

    /// The recorder, if recording.
    pub(crate) fn recorder(&self) -> Option<&ReplayRecorder<G::Input>> {
        self.recording.as_ref().map(|r| &r.recorder)
    }

    /// Adds the described state of a recent `frame` to the recording (a desync).
    pub(crate) fn note_recorded_state(&mut self, frame: Frame) {
        let Ok(f) = u32::try_from(frame) else {
            return;
        };
        let state = self.state_at(frame).cloned();
        if let (Some(rec), Some(state)) = (self.recording.as_mut(), state) {
            rec.recorder.note_state(f, &state);
        }
    }

    /// The replay so far, without ending the recording.
    pub(crate) fn replay_snapshot(&self, reason: EndReason) -> Option<Replay<G::Input>> {
        self.recorder().map(|r| r.snapshot(reason))
    }

    /// Ends the recording and returns the replay.
    pub(crate) fn take_replay(&mut self, reason: EndReason) -> Option<Replay<G::Input>> {
        self.recording.take().map(|r| {
            if r.missing_inputs > 0 {
                tracing::warn!(
                    frames = r.missing_inputs,
                    "replay: confirmed frames without stored inputs"
                );
            }
            r.recorder.finish(reason)
        })
    }
}
