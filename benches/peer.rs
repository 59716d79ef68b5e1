//! Criterion suite `peer/*` (filled in by the peer crate work).
fn main() {}
