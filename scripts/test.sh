#!/usr/bin/env bash
# Run every test: formatting, lints, and the whole test suite against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# The web console: built, with its packages and Debian's chromium for the browser tests.
scripts/console.sh
export BKDATA_TEST_PG="${BKDATA_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
cargo fmt --all -- --check
(cd console && npx tsc --noEmit)
scripts/check-crate-graph.sh
cargo clippy --workspace --all-targets -- -D warnings
# The tests run the real binaries (server, worker, test worker); nextest builds only test targets.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
