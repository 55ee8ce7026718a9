#!/usr/bin/env bash
# Tier 3: shuttle. Every model and mutant, and the async models on shuttle's executor,
# under the scheduler portfolio (random and PCT, four seeds) with RACEKIT_ITERATIONS
# schedules per model (default 2000, split across the portfolio).
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="--cfg racekit_shuttle"
export CARGO_TARGET_DIR="${RACEKIT_SHUTTLE_TARGET_DIR:-target/shuttle}"
echo "== shuttle: models and mutants (${RACEKIT_ITERATIONS:-2000} schedules per model, ${RACEKIT_SCHEDULER:-portfolio})"
cargo clippy --all-targets --quiet -- -D warnings
cargo test --test models --quiet
