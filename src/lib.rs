//! netplay: the root package of the workspace. It owns the examples (`demo`, `bot`,
//! `botmatch`, `bench_report`, `signal_load`, `connector_cli`, `connector_server`) and the
//! criterion benches, and holds the little code they share across crates.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod netmatch;
