#!/usr/bin/env bash
# Every CI tier at CI budget: std, loom, shuttle, the user crate on every backend, the
# model-checking job (at its default budget, reusing the tiers' builds, on racekit's suites
# and on the user crate, whose printed reproduce commands are run as printed), then a smoke
# run of every benchmark; the figures check (README's generated sections against the committed
# figure files) runs before it. Each backend builds in its own target directory. Runs in about
# 16 minutes on 2 cores from a cold clone.
set -euo pipefail
cd "$(dirname "$0")/.."
# One-shot builds: incremental caches would only be written, never read.
export CARGO_INCREMENTAL=0

started=$SECONDS
for tier in std loom shuttle user-crate job figures bench-smoke; do
    tier_started=$SECONDS
    bash "ci/${tier}.sh"
    echo "== ${tier}: done in $((SECONDS - tier_started)) s"
done
echo "== all tiers passed in $((SECONDS - started)) s"
