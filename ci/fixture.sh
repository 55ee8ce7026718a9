#!/usr/bin/env bash
# The model-checking job on a crate that is not racekit: examples/user-crate (package
# `shop`, racekit by path). Installs `cargo racekit` the way a user does, runs it on the
# fixture's job_proof tests on all three backends, and requires:
#   1. the detection table: the sync bug caught by loom and shuttle, the tokio bug by
#      shuttle, the fixes and the proptest-picked scenario passing everywhere they are
#      built, the two planted failures (ignored tests: --include-ignored) reported as
#      failures (so the job exits 1);
#   2. each printed reproduce command, run as printed from where the job ran, fails again
#      with the same message;
#   3. two partitions run from the same archives and merged equal the unpartitioned run.
# Reading the job's JSON takes python3 only (ci/job_json.py).
# Budgets: each model's own (CI scale). Builds reuse the shared target directories
# ($CARGO_TARGET_DIR, else target/): the job is installed from the release build the
# `cargo racekit` alias also uses, and the fixture builds in target, target/loom and
# target/shuttle like every other tier. The installed binary is called as cargo calls a
# subcommand (`cargo-racekit racekit ...`): inside this repository racekit's own alias
# would answer `cargo racekit`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${CARGO_TARGET_DIR:-$root/target}
case $base in /*) ;; *) base=$root/$base ;; esac
out=$base/racekit-fixture
filter='binary(job_proof)'

echo "== fixture: install cargo-racekit"
CARGO_TARGET_DIR=$base cargo install --path job --locked --root "$base/racekit-install" --quiet --force
racekit=("$base/racekit-install/bin/cargo-racekit" racekit)
rm -rf "$out"
cd examples/user-crate

echo "== fixture: the job on every backend (two planted bugs: exit 1 expected)"
status=0
"${racekit[@]}" --include-ignored --target-dir "$base" --out "$out/full" --filter "$filter" || status=$?
if [[ $status -ne 1 ]]; then
    echo "expected exit 1 (the planted bugs), got $status" >&2
    exit 1
fi

job_json() { python3 "$root/ci/job_json.py" "$@"; }
table() { job_json table "$1/job.json" | sort; }
expected=$(sort <<'EOF'
loom any_few_buyers_never_oversell passed
loom mutants::a_lost_visit_is_caught passed
loom planted::a_lost_visit_fails failed
loom visits_are_all_counted passed
shuttle a_ring_always_wakes_the_waiter passed
shuttle any_few_buyers_never_oversell passed
shuttle mutants::a_lost_visit_is_caught passed
shuttle mutants::a_missed_ring_is_caught passed
shuttle planted::a_lost_visit_fails failed
shuttle planted::a_missed_ring_fails failed
shuttle visits_are_all_counted passed
std a_ring_always_wakes_the_waiter passed
std any_few_buyers_never_oversell passed
std visits_are_all_counted passed
EOF
)
echo "== fixture: the detection table"
if ! diff <(echo "$expected") <(table "$out/full"); then
    echo "the job's table differs from the expected one (< expected, > found)" >&2
    exit 1
fi
caught=$(job_json caught "$out/full/job.json")
echo "   $caught mutant runs caught, fixes pass, planted bugs fail"

echo "== fixture: each printed reproduce command, run as printed, reproduces its failure"
count=0
while IFS=$'\t' read -r backend test message command; do
    count=$((count + 1))
    log=$out/reproduce-$count.log
    # Only RACEKIT_REPORT_FILE is added around the command, to read what the replay did.
    if RACEKIT_REPORT_FILE=$out/reproduce-$count.jsonl bash -c "$command" >"$log" 2>&1; then
        echo "$backend $test: the reproduce command passed: $command" >&2
        exit 1
    fi
    replayed=$(job_json replayed "$out/reproduce-$count.jsonl")
    if [[ "$replayed" != "$message" ]]; then
        echo "$backend $test: the replay did not fail with \"$message\" (got \"$replayed\"); see $log" >&2
        exit 1
    fi
    echo "   $backend $test: reproduced ($message)"
done < <(job_json replays "$out/full/job.json")
if [[ $count -ne 3 ]]; then
    echo "expected 3 reproduce commands (one per planted failure), found $count" >&2
    exit 1
fi

echo "== fixture: two partitions from the same archives, merged, equal the unpartitioned run"
for i in 1 2; do
    "${racekit[@]}" run --include-ignored --archives "$out/full/archives" --partition "$i/2" --target-dir "$base" \
        --out "$out/partition-$i" --filter "$filter" >/dev/null || true
done
"${racekit[@]}" merge "$out/partition-1" "$out/partition-2" --out "$out/merged" >/dev/null || true
if ! diff <(table "$out/full") <(table "$out/merged"); then
    echo "the merged partitions differ from the unpartitioned run (< unpartitioned, > merged)" >&2
    exit 1
fi
for i in 1 2; do
    echo "   partition $i/2: $(job_json rows "$out/partition-$i/job.json") run(s)"
done
echo "== fixture: OK"
