#!/usr/bin/env bash
# Runs one libFuzzer binary for a bounded time: run_fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS.
# New inputs go to WORK_DIR (never the source tree); a crash fails the test and leaves the
# reproducer in WORK_DIR. Exit 77 (ctest: skipped) when the fuzzer was not built.
set -uo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
if [[ ! -x $fuzzer ]]; then
  echo "fuzzer $fuzzer not built (scripts/test.sh builds fuzz/ with clang-19); skipping"
  exit 77
fi
mkdir -p "$work"
dirs=("$work")
[[ -d $seeds ]] && dirs+=("$seeds")
# A crash must fail the test: libFuzzer's own exit code for it (77) is ctest's "skipped".
# A fixed seed and run count make the suite's run the same everywhere (the time bound only caps
# a slow machine); set MIGDRA_FUZZ_SEED=0 and a larger MIGDRA_FUZZ_RUNS to explore.
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -seed="${MIGDRA_FUZZ_SEED:-1}" -runs="${MIGDRA_FUZZ_RUNS:-40000}" \
  -error_exitcode=1 -timeout_exitcode=1 \
  -print_final_stats=1 -artifact_prefix="$work/" "${dirs[@]}"
