#!/bin/bash
# The GPU checks, in one run of a few minutes, for the first session that has a GPU machine:
# builds with the CUDA backend, lists the devices, runs our kernels on the GPU against the CPU
# references (ctest -L cuda) and the SIMT-harness tests (ctest -L cuda-sim), checks the kernels'
# register record, trains mnist-mlp, cifar10-cnn and wrn-16-4 on the GPU and on the CPU from the same seed
# and compares their losses, trains cifar10-cnn on two MPI ranks on the GPU(s) and on the CPU and
# compares those (NCCL where there are two GPUs), times a training step of the five paper models beside PyTorch CUDA
# (when the machine has it), and writes everything it found to one JSON file.
#   scripts/gpu_check.sh [OUT.json]      (default: gpu_check.json)
# Exit status: 0 when every check passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-gpu_check.json}
build=${BUILD_DIR:-$root/build-gpu}
log=$(mktemp -d)
status=0
step() {  # step NAME COMMAND...: runs it, keeps its output, remembers a failure
  local name=$1
  shift
  local t0=$SECONDS rc=0
  "$@" >"$log/$name.txt" 2>&1 || rc=$?
  if [[ $rc == 0 ]]; then echo "ok   $name ($((SECONDS - t0)) s)"; else
    echo "FAIL $name ($((SECONDS - t0)) s): see the JSON or $log/$name.txt"
    tail -20 "$log/$name.txt"
    status=1
  fi
  echo "$name $rc $((SECONDS - t0))" >>"$log/steps"
}
step configure cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSIGNET_CUDA=ON
step build cmake --build "$build" -j"$(nproc)" --target signet signet_cuda_tests signet_cuda_sim_tests
step devices "$build/signet" info --devices --json
step cuda_tests bash -c "cd '$build' && ctest -L cuda --output-on-failure --no-tests=error"
step cuda_sim_tests bash -c "cd '$build' && ctest -L cuda-sim --output-on-failure"
step resources "$root/scripts/cuda_resources.sh" --check
# The same training on both devices (synthetic data: no data set is needed on the GPU machine).
for model in mnist-mlp cifar10-cnn wrn-16-4; do
  train_args=(train --model "$model" --dataset synthetic:1x28x28:4:4096:10:3 --epochs 2 --quiet --json)
  step "train_${model}_cpu" "$build/signet" "${train_args[@]}" --device cpu --out "$log/${model}_cpu.safetensors"
  step "train_${model}_gpu" "$build/signet" "${train_args[@]}" --device cuda --out "$log/${model}_gpu.safetensors"
  step "train_${model}_same" python3 -c '
import json, sys
c, g = (json.loads(open(f).read().strip().split("\n")[-1]) for f in sys.argv[1:3])
print("cpu", c["epoch_loss"], c["test_accuracy"], c["train_seconds"])
print("gpu", g["epoch_loss"], g["test_accuracy"], g["train_seconds"])
ok = all(abs(a - b) <= 1e-3 * max(1, abs(a)) for a, b in zip(c["epoch_loss"], g["epoch_loss"]))
sys.exit(0 if ok and abs(c["test_accuracy"] - g["test_accuracy"]) <= 0.01 else 1)' "$log/train_${model}_cpu.txt" "$log/train_${model}_gpu.txt"
done
# Data-parallel training with the gradients on GPUs: two ranks on the GPU against two on the CPU
# (the same shards and exchange, so the same losses). With two GPUs the ranks sum through NCCL; with
# one they share it and sum through host memory (rank 0 says which on stderr).
if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  dp_args=(train --model cifar10-cnn --dataset synthetic:1x28x28:4:4096:10:3 --epochs 2 --quiet --json --distributed)
  step dp_cpu mpirun -np 2 --oversubscribe "$build/signet" "${dp_args[@]}" --device cpu --out "$log/dp_cpu.safetensors"
  step dp_gpu mpirun -np 2 --oversubscribe "$build/signet" "${dp_args[@]}" --device cuda --out "$log/dp_gpu.safetensors"
  step dp_same python3 -c '
import json, sys
c, g = (json.loads([l for l in open(f) if l.startswith("{")][-1]) for f in sys.argv[1:3])
print("cpu", c["epoch_loss"], c["test_accuracy"]); print("gpu", g["epoch_loss"], g["test_accuracy"])
ok = all(abs(a - b) <= 1e-3 * max(1, abs(a)) for a, b in zip(c["epoch_loss"], g["epoch_loss"]))
sys.exit(0 if ok and abs(c["test_accuracy"] - g["test_accuracy"]) <= 0.01 else 1)' "$log/dp_cpu.txt" "$log/dp_gpu.txt"
fi
# A training step of each paper model on the GPU, Signet beside PyTorch CUDA when the machine has
# it (bench/peers/torch_step.py --device cuda); batch sizes and inputs as bench/RESULTS.md's CPU table.
for spec in "mnist-mlp 128" "cifar10-cnn 128" "wrn-16-4 64" "resnet50 16 3,64,64" "imdb-lstm 64"; do
  read -r model batch shape <<<"$spec"
  extra=()
  [[ -n ${shape:-} ]] && extra=(--input-shape "$shape")
  step "bench_${model}_signet" "$build/signet" bench --model "$model" --batch-size "$batch" "${extra[@]}" \
    --steps 30 --warmup 5 --device cuda --json
  if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step "bench_${model}_pytorch" python3 "$root/bench/peers/torch_step.py" --model "$model" --batch-size "$batch" \
      "${extra[@]}" --steps 30 --warmup 5 --device cuda --json
  fi
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$log/nvidia_smi.txt" 2>&1
python3 - "$log" "$out" "$(git -C "$root" rev-parse HEAD 2>/dev/null)" <<'PY'
import json, os, sys
log, out, commit = sys.argv[1:4]
def text(name):
    p = os.path.join(log, name)
    return open(p, errors="replace").read()[-20000:] if os.path.exists(p) else ""
steps = []
for line in text("steps").split("\n"):
    if line.strip():
        name, rc, secs = line.split()
        steps.append({"step": name, "passed": rc == "0", "seconds": int(secs), "output_tail": text(name + ".txt")[-4000:]})
try:
    devices = json.loads(text("devices.txt"))
except ValueError:
    devices = None
json.dump({"commit": commit, "gpu": text("nvidia_smi.txt").strip(), "devices": devices, "steps": steps},
          open(out, "w"), indent=1)
PY
echo "wrote $out"
exit $status
