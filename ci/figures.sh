#!/usr/bin/env bash
# README's figures are generated, never typed: the sections between its
# `<!-- figures:begin NAME -->` and `<!-- figures:end NAME -->` markers (pattern ratios,
# verdicts, mutant detection) must be exactly what `cargo bench-report figures` writes from
# the committed figure files, docs/benchmarks/figures.json (a full bench report) and
# docs/benchmarks/detection.json (a job report). Runs no bench and no model: it builds the
# report tool (seconds once the job tier has built its crate) and compares.
# To fix a failure: `cargo bench-report figures`, then commit README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== figures: README matches docs/benchmarks/figures.json and detection.json"
cargo bench-report figures --check
