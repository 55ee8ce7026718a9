#!/usr/bin/env bash
# Smoke run of every criterion benchmark with tiny budgets, twice (each repeat in processes
# of their own): proves each bench builds and runs, and that the report generator reads its
# output and compares the repeats. The checkers bench (loom and shuttle builds of their own)
# is left to `cargo bench-report --checkers`. Figures from this run are not
# measurements (see `cargo bench-report --help` for the full run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== benches: smoke run"
cargo bench-report --quick
