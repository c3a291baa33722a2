#!/usr/bin/env bash
# Runs `migdra validate -f FILE` on one invalid manifest and checks that it exits 2 and prints
# exactly the lines the file announces in its `# expect: ` comments (each prefixed "FILE: "),
# in any order, on stdout and nothing else there.
# Usage: check.sh MIGDRA FILE
set -uo pipefail
migdra=$1
file=$2
expected=$(sed -n 's/^# expect: //p' "$file" | sed "s|^|$file: |" | sort)
if [[ -z $expected ]]; then
  echo "FAIL: $file has no '# expect: ' line" >&2
  exit 1
fi
actual=$("$migdra" validate -f "$file" 2>/dev/null | sort)
rc=$("$migdra" validate -f "$file" >/dev/null 2>&1; echo $?)
status=0
if [[ $rc -ne 2 ]]; then
  echo "FAIL: $file: exit code $rc, want 2" >&2
  status=1
fi
if [[ $actual != "$expected" ]]; then
  echo "FAIL: $file: stdout differs (--- want, +++ got)" >&2
  diff <(echo "$expected") <(echo "$actual") >&2
  status=1
fi
exit $status
