#!/usr/bin/env python3
"""PyTorch peer for the end-to-end training-step benchmark (bench/e2e compares Signet to it).

Times N training steps of a paper model on fixed synthetic data (one random batch of inputs
and labels, made once with a fixed seed): forward, mean cross-entropy, backward,
SGD(lr=0.01, momentum=0.9) step, zero_grad.  W untimed warm-up steps come first.  Prints
median/min/max milliseconds per step, or with --json one JSON object:

  {"framework": "pytorch", "model": ..., "batch_size": ..., "threads": ..., "median_ms": ...,
   "min_ms": ..., "max_ms": ..., "steps": ..., "warmup": ..., "torch_version": ...}

Run it with Debian's interpreter (it has torch) and OPENBLAS_NUM_THREADS=1:

  OPENBLAS_NUM_THREADS=1 PYENV_VERSION=system python3 bench/peers/torch_step.py \
      --model mnist-mlp --batch-size 128 --steps 50 --warmup 10 [--threads 2] [--json]

PyTorch here parallelises with its own OpenMP pool (torch.set_num_threads(--threads)); the
OpenBLAS it calls for GEMM would otherwise start its own threads too, and the two pools
fight over the cores (much slower and noisy timings).  OPENBLAS_NUM_THREADS must be set in
the environment before the process starts, so the script cannot do it itself; it warns
when it is unset.

Models live in MODELS (name -> (builder, input shape without the batch dim, classes)); add
the other paper models (cifar10-cnn, wide-resnet, ...) there with the same names as Signet's
model registry.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistMLP(nn.Module):
    """mnist-mlp (DeepSigns Table 2): 784 -> fc1 512 -> ReLU -> fc2 512 -> ReLU -> fc3 10."""

    def __init__(self, in_features=784, hidden=512, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


# name -> (constructor, per-sample input shape, number of classes)
MODELS = {
    "mnist-mlp": (MnistMLP, (1, 28, 28), 10),
}


def time_steps(model_name, batch_size, steps, warmup, threads, lr=0.01, momentum=0.9, seed=0):
    build, in_shape, classes = MODELS[model_name]
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build().train()
    x = torch.randn(batch_size, *in_shape)
    y = torch.randint(0, classes, (batch_size,))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser(description="Time PyTorch training steps (peer for bench/e2e)")
    ap.add_argument("--model", default="mnist-mlp", choices=sorted(MODELS))
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.threads < 1 or args.warmup < 0:
        ap.error("--steps, --batch-size and --threads must be >= 1, --warmup >= 0")
    if os.environ.get("OPENBLAS_NUM_THREADS") is None:
        print("warning: OPENBLAS_NUM_THREADS is not set; set it to 1 for fair timings",
              file=sys.stderr)

    times = time_steps(args.model, args.batch_size, args.steps, args.warmup, args.threads)
    res = {
        "framework": "pytorch",
        "model": args.model,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "median_ms": round(statistics.median(times), 4),
        "min_ms": round(min(times), 4),
        "max_ms": round(max(times), 4),
        "steps": args.steps,
        "warmup": args.warmup,
        "torch_version": torch.__version__,
    }
    if args.json:
        print(json.dumps(res))
    else:
        print("pytorch %s  %s  batch %d  threads %d  steps %d: median %.3f ms  min %.3f ms  max %.3f ms"
              % (res["torch_version"], args.model, args.batch_size, args.threads, args.steps,
                 res["median_ms"], res["min_ms"], res["max_ms"]))


if __name__ == "__main__":
    main()
