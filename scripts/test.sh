#!/usr/bin/env bash
# Runs every test of the workspace: installs the system packages the tests need, then
# `cargo test --workspace` (unit, integration and doc tests of every crate, examples built).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export NETPLAY_PYTHON="$PWD/target/pyenv/bin/python"
cargo test --workspace "$@"
