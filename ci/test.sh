#!/usr/bin/env bash
# Every CI tier at CI budget: std, loom, shuttle, the model-checking job (at its default
# budget, reusing the tiers' builds, plus its self-test: a failure's printed reproduce
# command, pasted, reproduces it), then a smoke run of every benchmark. Each backend builds
# in its own target directory. Runs in well under 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
for tier in std loom shuttle job bench-smoke; do
    tier_started=$SECONDS
    bash "ci/${tier}.sh"
    echo "== ${tier}: done in $((SECONDS - tier_started)) s"
done
echo "== all tiers passed in $((SECONDS - started)) s"
