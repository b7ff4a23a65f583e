#!/usr/bin/env bash
# Issue 8's roof targets measured over several separate runs, because this VM's speed drifts
# by 10-15% from minute to minute (another tenant's load): each run measures the FMA roof and
# then the benchmarks, and roof_pct is taken against that run's roof. Prints min / median /
# max of GFLOP/s and roof_pct per benchmark over the runs.
# Usage: bench/roof_runs.sh [RUNS] [FILTER]     (build/bench/signet_bench built, idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
FILTER="${2:-Matmul/(512|1024|2048)|Conv2dForward/[0-3]/}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in $(seq "$RUNS"); do
  build/bench/signet_bench --benchmark_filter="FmaRoof|$FILTER" --benchmark_format=json \
    > "$dir/run$i.json" 2>/dev/null
done
python3 - "$dir"/run*.json <<'PY'
import json, statistics, sys
rows, core = {}, None
for path in sys.argv[1:]:
    doc = json.load(open(path))
    core = doc["context"].get("openblas_core", core)
    for b in doc["benchmarks"]:
        if "roof_pct" in b and "FmaRoof" not in b["name"]:
            rows.setdefault((b["name"], b.get("label", "")), []).append((b["GFLOP/s"], b["roof_pct"]))
print(f"{len(sys.argv) - 1} runs; OpenBLAS kernels {core} (gemm_blas only; Signet's GEMM is its own)")
print(f"{'benchmark':40s} GFLOP/s min/median/max      roof_pct min/median/max")
for (name, label), v in rows.items():
    g = [x[0] for x in v]; r = [x[1] for x in v]
    print(f"{name + ' ' + label:40s} {min(g):5.0f} / {statistics.median(g):5.0f} / {max(g):5.0f}"
          f"      {min(r):5.1f} / {statistics.median(r):5.1f} / {max(r):5.1f}")
PY
