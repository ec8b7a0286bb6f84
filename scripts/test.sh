#!/usr/bin/env bash
# Runs every check and test of the workspace: the layering check, formatting, clippy and
# rustdoc (warnings are errors), and all unit, integration and doc tests with all features.
set -euo pipefail
cd "$(dirname "$0")/.."

# The etcd source's tests start a real etcd, sentinel-cluster's a real Redis, and
# etcd-client needs protoc to build.
if ! command -v etcd >/dev/null || ! command -v redis-server >/dev/null || ! command -v protoc >/dev/null || ! command -v python3 >/dev/null; then
    packages="etcd-server etcd-client redis-server protobuf-compiler libprotobuf-dev python3"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing $packages"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
    else
        echo "The tests need etcd, redis-server and protoc: sudo apt-get install $packages" >&2
        exit 1
    fi
fi

echo "== layering (scripts/layers.py)"
python3 scripts/layers.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --all-features
echo "== cargo test"
cargo test --workspace --all-features
