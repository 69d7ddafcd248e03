#!/usr/bin/env bash
# Fuzzes fnwire's parsers and converters with cargo-fuzz (libFuzzer), each target for a bounded
# time. Not part of scripts/test.sh: a full run takes minutes per target. Crashes stop the run
# and are kept in fuzz/artifacts/<target>/; fix the bug, then keep the input as a regression test
# in the crate's normal suite (see RELIABILITY.md).
#
#   scripts/fuzz.sh                        # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh       # longer
#   scripts/fuzz.sh routes ncrontab        # some targets
#
# cargo-fuzz needs a nightly toolchain (libFuzzer's coverage instrumentation uses unstable
# compiler flags); it is installed here if missing. The fuzz crate is not a workspace member, so
# the stable workspace build and clippy never see it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
# The project's code forbids `unsafe`, so a crash is a panic, an overflow (debug assertions are
# on), a hang or runaway memory: libFuzzer catches those without AddressSanitizer, whose build
# and runs are several times slower. FUZZ_SANITIZER=address turns it on.
sanitizer=${FUZZ_SANITIZER:-none}
all_targets=(streaming_message http_request routes binding_expressions ncrontab config_files table_filter sql_filter)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "==> installing a nightly toolchain (cargo-fuzz needs one)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

cd fuzz
echo "==> seed corpora (transcripts, example configs, test inputs)"
cargo +nightly run --quiet --release --bin make_seeds

for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${seconds}s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: runaway memory is a crash.
  if ! cargo +nightly fuzz run --release --debug-assertions --sanitizer "$sanitizer" "$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1; then
    echo "fuzz target $target found a crash; the input is in fuzz/artifacts/$target/." >&2
    echo "Reproduce: (cd fuzz && cargo +nightly fuzz run --sanitizer $sanitizer $target <input>)" >&2
    exit 1
  fi
done
echo "all fuzz targets ran ${seconds}s each without a crash"
