#!/usr/bin/env bash
# Tier 1: the std backend (real threads). Unit and doc tests, the model suites on real
# threads (mutant tests are ignored here: real threads find races only by chance), the
# stress suites, the job crate's own tests (unit and integration, in release), clippy and
# the docs.
#
# Budgets: RACEKIT_ITERATIONS runs of each model body (default 50); PROPTEST_CASES
# scenarios per stress test (each suite picks its own default, a few dozen).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== std: format"
cargo fmt --all --check
echo "== std: clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== std: docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== std: unit, doc, model and stress tests"
cargo test -p racekit --lib --quiet
cargo test -p racekit --doc --quiet
cargo test --test models --quiet
cargo test --test stress --quiet
echo "== std: the job crate (cargo racekit, bench-report): unit tests and its binaries' argument and figures tests"
# In release: the job and bench tiers run these binaries from the release build, so their
# dependencies are built once.
cargo test --release -p racekit-job --quiet
