#!/bin/bash
# Registers, stack and spills of each of our CUDA kernels, as ptxas reports them (-Xptxas -v),
# for every architecture the build targets; written to engine/cuda/RESOURCES.txt, which is
# committed so that a change in a kernel's register use shows in review.
#   scripts/cuda_resources.sh            rewrite engine/cuda/RESOURCES.txt
#   scripts/cuda_resources.sh --check    fail when the committed file is stale or a kernel spills
# Needs nvcc (the CUDA toolkit); ctest runs --check when the build has the CUDA backend.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-write}
nvcc=${NVCC:-nvcc}
archs=(80 90)
out=$(mktemp)
trap 'rm -f "$out" "$out".*' EXIT
{
  echo "# ptxas -v of engine/cuda/*.cu ($("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), -O3): regenerate with scripts/cuda_resources.sh"
  echo "# arch kernel registers stack_bytes spill_stores spill_loads"
  for src in "$root"/engine/cuda/*.cu; do
    for a in "${archs[@]}"; do
      "$nvcc" -std=c++17 -O3 -I"$root" -arch=sm_$a -Xptxas -v -c "$src" -o /dev/null 2>"$out.log" || {
        cat "$out.log" >&2
        exit 1
      }
      # ptxas prints, per entry function: its mangled name, then stack/spills, then registers.
      awk -v arch="sm_$a" '
        /Compiling entry function/ { match($0, /'"'"'[^'"'"']*'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2) }
        /bytes stack frame/ { stack = $1; stores = $5; loads = $9 }
        /Used [0-9]+ registers/ && name != "" {
          match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
          print arch, name, regs, stack, stores, loads; name = ""
        }' "$out.log"
    done
  done | while read -r arch name regs stack stores loads; do
    printf '%s %s %s %s %s %s\n' "$arch" "$(echo "$name" | c++filt | sed 's/(.*//; s/ /_/g')" "$regs" "$stack" "$stores" "$loads"
  done | sort
} >"$out.txt"
spills=$(awk '!/^#/ && ($5 > 0 || $6 > 0)' "$out.txt")
if [[ $mode == --check ]]; then
  if ! diff -u "$root/engine/cuda/RESOURCES.txt" "$out.txt"; then
    echo "engine/cuda/RESOURCES.txt is stale: run scripts/cuda_resources.sh and commit it" >&2
    exit 1
  fi
else
  cp "$out.txt" "$root/engine/cuda/RESOURCES.txt"
fi
if [[ -n $spills ]]; then
  echo "kernels that spill registers (arch kernel registers stack stores loads):" >&2
  echo "$spills" >&2
  exit 1
fi
echo "$(grep -vc '^#' "$out.txt") kernel builds, no spills"
