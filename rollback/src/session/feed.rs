//! The confirmed-input feed of a runner: what a host streams to spectators that joined
//! mid-match ([`crate::spectate`]).
//!
//! Like the replay hook (`record.rs`), each first-time or re-simulated `AdvanceFrame`
//! stores its inputs in a ring; when frame `f` enters the confirmed log, the inputs of
//! frame `f - 1` are final and leave as a [`ConfirmedStep`] into a bounded queue that the
//! driver drains every frame. A full queue drops its oldest step and counts it (a
//! spectator then sees a gap and is cut); the players never wait for it.

use std::collections::VecDeque;

use ggrs::{Frame, InputStatus};

/// Default capacity of the feed's queue (steps): 10 s at 60 fps between two drains.
pub const DEFAULT_FEED_CAPACITY: usize = 600;

/// The final inputs of one frame and the checksum of the state they lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedStep<I> {
    /// The frame the inputs are applied at (the state at `frame` steps to `frame + 1`).
    pub frame: Frame,
    /// Every player's input, in player order.
    pub inputs: Vec<I>,
    /// Checksum of the state at `frame + 1`.
    pub checksum: u128,
}

/// A runner's feed of confirmed steps (see the module docs).
#[derive(Debug)]
pub(crate) struct ConfirmedFeed<I> {
    ring: Vec<(Frame, Vec<I>)>,
    out: VecDeque<ConfirmedStep<I>>,
    capacity: usize,
    /// The next step frame to emit (earlier ones were emitted already).
    next: Frame,
    /// Steps dropped from a full queue, plus confirmed frames whose inputs were no longer
    /// in the ring.
    pub lost: u64,
}

impl<I: Copy + Default> ConfirmedFeed<I> {
    pub fn new(ring: usize, capacity: usize, next: Frame) -> Self {
        Self {
            ring: vec![(-1, Vec::new()); ring.max(2)],
            out: VecDeque::new(),
            capacity: capacity.max(1),
            next,
            lost: 0,
        }
    }

    fn slot(&self, frame: Frame) -> usize {
        frame.rem_euclid(self.ring.len() as Frame) as usize
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

    /// The state at `frame` is confirmed with `checksum`: the step into it is final.
    pub fn confirm(&mut self, frame: Frame, checksum: u128) {
        let step = frame - 1;
        if step < self.next {
            return; // frame 0, or re-confirmed after a restart
        }
        self.next = frame;
        let inputs = match self.ring.get(self.slot(step)) {
            Some((f, inputs)) if *f == step => inputs.clone(),
            _ => {
                self.lost = self.lost.saturating_add(1);
                return;
            }
        };
        if self.out.len() >= self.capacity {
            self.out.pop_front();
            self.lost = self.lost.saturating_add(1);
        }
        self.out.push_back(ConfirmedStep {
            frame: step,
            inputs,
            checksum,
        });
    }

    /// Takes every queued step, oldest first.
    pub fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, ConfirmedStep<I>> {
        self.out.drain(..)
    }
}
