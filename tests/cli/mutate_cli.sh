#!/usr/bin/env bash
# mutate_cli.sh — the dlmc process must end with status 0 or 1 (never a crash, a signal or a
# sanitizer report) on mutated versions of every models/*.dsl. Complements the in-process
# test_frontend_mutate, which runs thousands of cases without process start-up costs.
set -u
: "${DLMC:?DLMC must point at the dlmc binary}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cases=0; bad=0
for model in models/*.dsl; do
  size=$(stat -c %s "$model")
  lines=$(wc -l < "$model")
  for i in $(seq 1 40); do
    # the mutant sits next to the original so that its imports resolve the same way
    mutant="models/.mutant_$$_$i.dsl"
    cp "$model" "$mutant"
    case $((i % 3)) in
      0) head -c $(( (i * 7919) % size )) "$model" > "$mutant" ;;                 # truncation
      1) off=$(( (i * 104729) % size ))                                            # byte overwrite
         printf "\\x$(printf %02x $(( (i * 37) % 256 )))" | dd of="$mutant" bs=1 seek="$off" conv=notrunc status=none ;;
      2) sed -i "$(( (i % lines) + 1 ))d" "$mutant" ;;                            # deleted line
    esac
    "$DLMC" compile "$mutant" >/dev/null 2>"$tmp/err"; st=$?
    rm -f "$mutant"
    cases=$((cases + 1))
    if { [ $st -ne 0 ] && [ $st -ne 1 ]; } || grep -q -E "Sanitizer|runtime error" "$tmp/err"; then
      bad=$((bad + 1)); echo "FAIL: $model mutant $i: status $st"; head -5 "$tmp/err"
    fi
  done
done
echo "mutate_cli: $((cases - bad)) passed, $bad failed"
[ $bad -eq 0 ]
