#!/bin/bash
# scripts/check_host_loops.py: the tree passes, and a host loop planted in a copy of an op is
# found (so the check can fail), while a call into cpu:: and a single flag read are not.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check=$root/scripts/check_host_loops.py
python3 "$check" "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/engine/ops" "$tmp/layers" "$tmp/watermark/deepsigns"
cat >"$tmp/engine/ops/planted.cpp" <<'CPP'
Tensor twice(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.f32();
  float* py = y.f32();
  for (int64_t i = 0; i < x.numel(); ++i) py[i] = 2 * px[i];  // the loop the check must find
  for (int64_t t = 0; t < 3; ++t) cpu::kernel(px, py, t);      // a loop that calls kernels is fine
  if (flag.to(Device::cpu()).i64()[0] != 0) throw Error("x");  // one value read: fine
  return y;
}
CPP
if out=$(python3 "$check" "$tmp" 2>&1); then
  echo "FAIL: the planted loop was not found: $out"
  exit 1
fi
grep -q "engine/ops/planted.cpp:5:" <<<"$out" || { echo "FAIL: expected a finding at planted.cpp:5, got: $out"; exit 1; }
[[ $(grep -c "planted.cpp" <<<"$out") == 1 ]] || { echo "FAIL: expected exactly one finding, got: $out"; exit 1; }
echo "ok: the tree passes and the planted loop is found"
