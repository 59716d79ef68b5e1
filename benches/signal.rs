//! Criterion suite `signal/*` (filled in by the signal crate work).
fn main() {}
