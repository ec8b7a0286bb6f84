#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy (warnings are errors),
# and all unit, integration and doc tests with all features.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo test"
cargo test --workspace --all-features
