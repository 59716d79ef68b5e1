//! Criterion suite `rollback/*` (filled in by the rollback crate work).
fn main() {}
