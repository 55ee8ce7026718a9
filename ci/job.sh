#!/usr/bin/env bash
# The model-checking job, on cargo-nextest, at its default budget:
#   1. racekit's own suites: builds the `models` and `stress` test binaries once per
#      backend (target/loom, target/shuttle, target: the directories the other tiers
#      build in, so nothing is built twice) into nextest archives, runs every model and
#      mutant test in its own process at each model's own budget (mutants on real threads
#      too, with a 2 s hang limit per run), and writes reports/job/{job.md,job.json,junit.xml};
#   2. the job on a crate that is not racekit (ci/fixture.sh): installed as users install
#      it, its detection table, its reproduce commands run as printed, and two partitions
#      of one archive merged against one unpartitioned run.
# Arguments go to the job on racekit's suites: `ci/job.sh --budget 30m`,
# `ci/job.sh --filter 'test(queue)'`. Exit status: 1 on a failing model, a mutant no model
# checker caught, or a broken build.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== job: racekit's models and stress suites under loom, shuttle and real threads"
cargo racekit --out reports/job "$@"
echo "== job: the job on a user crate (examples/user-crate)"
bash ci/fixture.sh
