//! Criterion suite `connector/*` (filled in by the connector crate work).
fn main() {}
