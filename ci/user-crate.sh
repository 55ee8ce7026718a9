#!/usr/bin/env bash
# The user crate (examples/user-crate, package `shop`): racekit used only as a user uses it
# (a path dependency, the public API, the documented manifest setup, its own tokio and
# proptest). Its tests prove the user-facing features on every backend: failures headlined
# at the user's line with a trace, replay tokens that travel, proptest scenarios whose last
# printed command replays, tokio code under shuttle, loom's refusal of tokio. Tests that do
# not apply to a backend are ignored there with a reason.
#
# Builds reuse the tiers' target directories (target, target/loom, target/shuttle): the
# fixture's lock file pins the same dependency versions, so only the fixture itself and
# racekit are compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${CARGO_TARGET_DIR:-$root/target}
case $base in /*) ;; *) base=$root/$base ;; esac
cd examples/user-crate

echo "== user crate: std"
CARGO_TARGET_DIR=$base cargo test --quiet
echo "== user crate: loom"
RUSTFLAGS="--cfg racekit_loom" CARGO_TARGET_DIR=$base/loom LOOM_MAX_PREEMPTIONS=2 cargo test --quiet
echo "== user crate: shuttle"
RUSTFLAGS="--cfg racekit_shuttle" CARGO_TARGET_DIR=$base/shuttle cargo test --quiet
