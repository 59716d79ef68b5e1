//! netplay: examples and benchmarks for the workspace crates.
