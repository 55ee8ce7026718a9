#!/usr/bin/env bash
# The model-checking job at its default budget: builds loom (target/loom), shuttle
# (target/shuttle) and real threads (target), runs every model and mutant test in its own
# process at each model's own budget (the one `cargo test` uses; mutants on real threads
# too, with a 2 s hang limit per run), then proves the failure path with the self-test.
# Reports: reports/job/{job.md,job.json,junit.xml}. A few minutes on 2 cores after the
# builds. Arguments go to the job: `ci/job.sh --budget 30m`, `ci/job.sh --pattern queue`.
# Exit status: 1 on a failing model, a mutant no model checker caught, or a broken build.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== job: every model and mutant under loom, shuttle and real threads"
cargo racekit "$@"
echo "== job: self-test (a broken model's printed reproduce command, pasted, reproduces it)"
cargo racekit selftest
