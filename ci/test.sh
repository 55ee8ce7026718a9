#!/usr/bin/env bash
# Every CI tier at CI budget: std, loom, shuttle, then a smoke run of every benchmark.
# Each tier builds in its own target directory. Runs in well under 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
for tier in std loom shuttle bench-smoke; do
    tier_started=$SECONDS
    bash "ci/${tier}.sh"
    echo "== ${tier}: done in $((SECONDS - tier_started)) s"
done
echo "== all tiers passed in $((SECONDS - started)) s"
