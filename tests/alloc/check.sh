#!/bin/bash
# Runs `migdra allocate` for one case folder and checks its exit code and output.
#   check.sh MIGDRA CASE
# CASE/args: the arguments (paths relative to CASE); CASE/exit: the expected exit code;
# CASE/expect: lines `stdout: TEXT`, `stderr: TEXT` (must occur) or `stdout-not: TEXT` (must not),
# or `results: CLAIM REQUEST=DRIVER/POOL/DEVICE...`: the claim's allocation has exactly these results,
# in any order, as upstream's tests compare them (needs `-o json` in args);
# `consumed: CLAIM REQUEST=DRIVER/POOL/DEVICE:NAME=QUANTITY[,NAME=QUANTITY]...`: the consumedCapacity of
# the results that have one, in any order (needs `-o json`);
# `config: CLAIM SOURCE:DRIVER:REQUEST[,REQUEST]...`: the allocation's devices.config, in order, each
# entry by source, opaque driver and requests (empty after the last colon when it names none).
set -u
migdra=$1
cd "$(dirname "$0")/$2" || exit 2
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# shellcheck disable=SC2046
"$migdra" allocate $(cat args) >"$out" 2>"$err"
code=$?
fail=0
if [ "$code" != "$(cat exit)" ]; then
  echo "exit code $code, want $(cat exit)"; fail=1
fi
while IFS= read -r line; do
  [ -z "$line" ] && continue
  stream=${line%%: *}; text=${line#*: }
  case $stream in
    stdout) grep -qF -- "$text" "$out" || { echo "stdout lacks: $text"; fail=1; } ;;
    stderr) grep -qF -- "$text" "$err" || { echo "stderr lacks: $text"; fail=1; } ;;
    stdout-not) if grep -qF -- "$text" "$out"; then echo "stdout has: $text"; fail=1; fi ;;
    results)
      read -r claim want <<<"$text"
      got=$(jq -r --arg claim "$claim" '.items[] | select(.metadata.name == $claim)
              | .status.allocation.devices.results[]
              | "\(.request)=\(.driver)/\(.pool)/\(.device)"' "$out" 2>/dev/null | sort | xargs)
      want=$(tr ' ' '\n' <<<"$want" | sort | xargs)
      [ "$got" == "$want" ] || { echo "claim $claim results: got [$got], want [$want]"; fail=1; } ;;
    consumed)
      read -r claim want <<<"$text"
      got=$(jq -r --arg claim "$claim" '.items[] | select(.metadata.name == $claim)
              | .status.allocation.devices.results[] | select(.consumedCapacity != null)
              | "\(.request)=\(.driver)/\(.pool)/\(.device):"
                + (.consumedCapacity | to_entries | map("\(.key)=\(.value)") | join(","))' \
              "$out" 2>/dev/null | sort | xargs)
      want=$(tr ' ' '\n' <<<"$want" | sort | xargs)
      [ "$got" == "$want" ] || { echo "claim $claim consumed: got [$got], want [$want]"; fail=1; } ;;
    config)
      read -r claim want <<<"$text"
      got=$(jq -r --arg claim "$claim" '.items[] | select(.metadata.name == $claim)
              | .status.allocation.devices.config // [] | .[]
              | "\(.source):\(.opaque.driver):\(.requests // [] | join(","))"' "$out" 2>/dev/null | xargs)
      [ "$got" == "$want" ] || { echo "claim $claim config: got [$got], want [$want]"; fail=1; } ;;
    *) echo "bad expect line: $line"; fail=1 ;;
  esac
done < expect
if [ $fail != 0 ]; then
  echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"
fi
exit $fail
