#!/usr/bin/env bash
# The fair harness (bench/e2e/fair.py) run twice, in two separate processes one after the other,
# and both tables printed: a difference between the two runs is the noise a reader must allow
# for when comparing the engines.
# Usage: bench/e2e/fair_twice.sh OUT_PREFIX [fair.py flags...]
#   writes OUT_PREFIX.run1.jsonl and OUT_PREFIX.run2.jsonl (and each run's output and progress log beside
#   them, .log), then prints the table of run 1, the table of run 2, and both runs cell by cell
#   against the 0.8x target (fair.py --compare).
#   e.g. bench/e2e/fair_twice.sh bench/e2e/fair --rounds 5
# Needs build/signet and Debian's python3-torch. Run on an idle machine.
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  echo "usage: $0 OUT_PREFIX [fair.py flags...]" >&2
  exit 2
fi
prefix="$1"
shift
fair="$(dirname "$0")/fair.py"
for run in 1 2; do
  echo "fair.py run $run of 2 -> $prefix.run$run.jsonl (progress: $prefix.run$run.log)" >&2
  python3 "$fair" "$@" --out "$prefix.run$run.jsonl" > "$prefix.run$run.log" 2>&1 || {
    echo "run $run failed; the end of its log:" >&2
    tail -n 5 "$prefix.run$run.log" >&2
    exit 1
  }
done
python3 "$fair" --table "$prefix.run1.jsonl" "$prefix.run2.jsonl"
echo
python3 "$fair" --compare "$prefix.run1.jsonl" "$prefix.run2.jsonl"
