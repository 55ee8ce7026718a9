#!/usr/bin/env bash
# Tier 2: loom. Every model and mutant under bounded exhaustive exploration, preemption
# bounds 1 then 2 (LOOM_MAX_PREEMPTIONS, default 2): bound 3 multiplies the state space by
# 10-20x and belongs to the model-checking job, not to CI.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="--cfg racekit_loom"
export CARGO_TARGET_DIR="${RACEKIT_LOOM_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
echo "== loom: models and mutants (preemption bound ${LOOM_MAX_PREEMPTIONS})"
cargo clippy --all-targets --quiet -- -D warnings
cargo test --test models --quiet
