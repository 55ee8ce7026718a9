#!/usr/bin/env bash
# Optional: ThreadSanitizer over the std model and stress suites. Needs a nightly
# toolchain with rust-src: std must be rebuilt with the sanitizer (-Zbuild-std), or TSan
# reports false races inside std's own locks. Skipped, with the reason, where nightly or
# rust-src is missing. Not part of ci/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "== tsan: skipped: no nightly toolchain (rustup toolchain install nightly --component rust-src)"
    exit 0
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "== tsan: skipped: nightly has no rust-src (rustup component add rust-src --toolchain nightly)"
    exit 0
fi
target="$(rustc -vV | sed -n 's/^host: //p')"
echo "== tsan: models and stress on real threads (${target})"
RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
    cargo +nightly test -Zbuild-std --target "${target}" --test models --test stress
