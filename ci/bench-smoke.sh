#!/usr/bin/env bash
# Smoke run of every criterion benchmark with tiny budgets: proves each bench builds and
# runs, and that the report generator reads its output. Figures from this run are not
# measurements (see `cargo bench-report --help` for the full run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== benches: smoke run"
cargo bench-report --quick
