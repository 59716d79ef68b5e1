//! Compression of one player's input column: an adaptive binary range coder (the
//! LZMA-style coder: 11-bit probabilities, carry propagation through a cached byte) over a
//! model of how inputs repeat.
//!
//! Each byte is coded as "same as the previous byte?" (in the context of how long the
//! current run already is), and if not, the new byte through a binary tree of 8 decisions
//! (order 0). Inputs mostly repeat, and when they
//! change they move between a few values: this gets a minute of bot play to about 1.5 KiB
//! where deflate needs 2.1 KiB (figures in BENCHMARKS.md). The decoder never panics: past the end of its input it
//! reads zeros, and the caller knows how many bytes to decode.

const PROB_BITS: u32 = 12;
const PROB_ONE: i32 = 1 << PROB_BITS;
/// Probabilities stay within `[PROB_MIN, PROB_ONE - PROB_MIN]`.
const PROB_MIN: i32 = 31;
/// A probability adapts at rate `1 / (n + 1.5)` after `n` observations, down to
/// `1 / (RATE_LIMIT + 1.5)`: fast learning at the start of a chunk, stable later.
const RATE_LIMIT: u8 = 60;
const TOP: u32 = 1 << 24;
/// Run-length buckets of the "same" decision.
const RUN_CONTEXTS: usize = 16;
/// An adaptive probability that the next bit is 0.
#[derive(Debug, Clone, Copy)]
struct Prob {
    p: u16,
    n: u8,
}

impl Prob {
    const HALF: Self = Self {
        p: (PROB_ONE / 2) as u16,
        n: 0,
    };

    fn update(&mut self, bit: bool) {
        let target = if bit { 0 } else { PROB_ONE };
        let p = i32::from(self.p);
        // (target - p) / (n + 1.5), in fixed point
        let delta = (target - p) * 2 / (2 * i32::from(self.n) + 3);
        self.p = (p + delta).clamp(PROB_MIN, PROB_ONE - PROB_MIN) as u16;
        self.n = (self.n + 1).min(RATE_LIMIT);
    }
}

struct Model {
    same: [Prob; RUN_CONTEXTS],
    value: [Prob; 256],
}

impl Model {
    fn new() -> Self {
        Self {
            same: [Prob::HALF; RUN_CONTEXTS],
            value: [Prob::HALF; 256],
        }
    }
}

struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl Encoder {
    fn new(capacity: usize) -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::with_capacity(capacity),
        }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xff00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            loop {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xff;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xff) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    fn bit(&mut self, prob: &mut Prob, bit: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(prob.p);
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        prob.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a [u8]) -> Self {
        let mut d = Self {
            input,
            pos: 0,
            range: u32::MAX,
            code: 0,
        };
        for _ in 0..5 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    fn next_byte(&mut self) -> u8 {
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    fn bit(&mut self, prob: &mut Prob) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(prob.p);
        let bit = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        prob.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.next_byte());
        }
        bit
    }
}

fn run_context(run: usize) -> usize {
    run.min(RUN_CONTEXTS - 1)
}

/// Compresses one column of bytes.
pub(crate) fn compress(column: &[u8]) -> Vec<u8> {
    let mut model = Model::new();
    let mut enc = Encoder::new(column.len() / 4 + 8);
    let mut prev = 0u8;
    let mut run = 0usize;
    for &b in column {
        let same = b == prev;
        if let Some(p) = model.same.get_mut(run_context(run)) {
            enc.bit(p, same);
        }
        if same {
            run += 1;
            continue;
        }
        let mut node = 1usize;
        for i in (0..8).rev() {
            let bit = (b >> i) & 1 == 1;
            if let Some(p) = model.value.get_mut(node) {
                enc.bit(p, bit);
            }
            node = (node << 1) | usize::from(bit);
        }
        prev = b;
        run = 0;
    }
    enc.finish()
}

/// Decompresses `len` bytes (the caller checked `len` against its limits).
pub(crate) fn decompress(data: &[u8], len: usize) -> Vec<u8> {
    let mut model = Model::new();
    let mut dec = Decoder::new(data);
    let mut out = Vec::with_capacity(len);
    let mut prev = 0u8;
    let mut run = 0usize;
    for _ in 0..len {
        let same = model
            .same
            .get_mut(run_context(run))
            .is_some_and(|p| dec.bit(p));
        if same {
            out.push(prev);
            run += 1;
            continue;
        }
        let mut node = 1usize;
        for _ in 0..8 {
            let bit = model.value.get_mut(node).is_some_and(|p| dec.bit(p));
            node = (node << 1) | usize::from(bit);
        }
        let b = (node & 0xff) as u8;
        out.push(b);
        prev = b;
        run = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_bytes() {
        let mut x = 7u32;
        for len in [0usize, 1, 2, 17, 600, 5000] {
            let column: Vec<u8> = (0..len)
                .map(|i| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if i % 5 == 0 {
                        (x >> 24) as u8
                    } else {
                        (i / 7) as u8
                    }
                })
                .collect();
            let packed = compress(&column);
            assert_eq!(decompress(&packed, column.len()), column, "len {len}");
        }
    }

    #[test]
    fn repeated_inputs_cost_almost_nothing() {
        let column = vec![3u8; 3600];
        assert!(compress(&column).len() < 24);
    }
}
