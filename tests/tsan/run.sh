#!/usr/bin/env bash
# Runs one test under ThreadSanitizer: run.sh REPORT_DIR BINARY -- COMMAND...
# BINARY is the TSan-built program the test exercises (skipped, exit 77, when it was not built).
# Every TSan-built process the test starts — servers in the background included — writes its
# reports to REPORT_DIR instead of stderr, so a race in a process whose output a script discards
# still fails the test: after COMMAND ends, any report fails it and is printed.
set -uo pipefail
reports=$1 binary=$2
shift 3
if [[ ! -x $binary ]]; then
  echo "ThreadSanitizer build $binary not built (scripts/test.sh builds it); skipping"
  exit 77
fi
rm -rf "$reports"
mkdir -p "$reports"
# gRPC, Abseil and cpp-httplib come from Debian's packages, not built for TSan: their own
# synchronization (absl::Mutex, function-local statics) is invisible to it, so the frees and copies
# they order would be reported as races. ignore_noninstrumented_modules leaves what they do to
# them; every access made by migdra's own code is still checked. What that cannot tell apart is
# in suppressions.txt, each entry with its reason.
here=$(cd "$(dirname "$0")" && pwd)
export TSAN_OPTIONS="log_path=$reports/report ignore_noninstrumented_modules=1 second_deadlock_stack=1 history_size=4 suppressions=$here/suppressions.txt ${TSAN_OPTIONS:-}"
"$@"
rc=$?
shopt -s nullglob
found=("$reports"/report.*)
if ((${#found[@]})); then
  echo "ThreadSanitizer reported in ${#found[@]} process(es) (exit $rc):"
  for f in "${found[@]}"; do
    echo "== $f"
    head -c 20000 "$f"
  done
  exit 1
fi
exit "$rc"
