#!/usr/bin/env python3
"""PyTorch peer for the end-to-end training-step benchmark (bench/e2e compares Signet to it).

Times N training steps of a paper model on fixed synthetic data (one random batch of inputs
and labels, made once with a fixed seed): forward, mean cross-entropy, backward,
SGD(lr=0.01, momentum=0.9) step, zero_grad.  W untimed warm-up steps come first.  Prints
median/min/max milliseconds per step, or with --json one JSON object:

  {"framework": "pytorch", "model": ..., "batch_size": ..., "threads": ..., "median_ms": ...,
   "min_ms": ..., "max_ms": ..., "steps": ..., "warmup": ..., "torch_version": ...,
   "forward_only": ..., "channels_last": ..., "mkldnn": ..., "flush_denormal": ..., "env": {...}}

The knobs bench/e2e/fair.py searches over to find PyTorch's fastest configuration:
  --forward-only   time inference instead: eval mode, torch.no_grad(), the forward pass only
                   (what a serving endpoint answers with; `signet bench --forward-only` is its peer)
  --channels-last  model and input in torch.channels_last memory format (convolutional models only)
  --mkldnn on|off  torch.backends.mkldnn.enabled (oneDNN kernels); default: PyTorch's own (on)
  --flush-denormal torch.set_flush_denormal(True) before any op (Signet always flushes denormals)
  --profile        after the timed steps, profile a few more (torch.autograd.profiler) and print
                   time per op type, the peer of `signet bench --profile`
The JSON records them ("mkldnn" is the setting the timed steps ran with) and, under "env", the
environment variables that change the timings (OpenBLAS threads and kernels, OpenMP wait
policy, glibc malloc tunables).

Run it with Debian's interpreter (it has torch) and OPENBLAS_NUM_THREADS=1:

  OPENBLAS_NUM_THREADS=1 PYENV_VERSION=system python3 bench/peers/torch_step.py \
      --model mnist-mlp --batch-size 128 --steps 50 --warmup 10 [--threads 2] [--json]

PyTorch here parallelises with its own OpenMP pool (torch.set_num_threads(--threads)); the
OpenBLAS it calls for GEMM would otherwise start its own threads too, and the two pools
fight over the cores (much slower and noisy timings).  OPENBLAS_NUM_THREADS must be set in
the environment before the process starts, so the script cannot do it itself; it warns
when it is unset.

Models live in MODELS (name -> (builder(input_shape, classes), default input shape without the
batch dim, default classes, loss)), with the same names and defaults as Signet's model registry
(models/registry.h, default_model_config); wrn-D-K works for any valid D, K. The PyTorch
modules of the other paper models are the golden-test ones (tests/golden/make_*.py), imported
from there so there is one definition of each. --input-shape / --classes override the
defaults as in `signet bench` (e.g. --model resnet50 --input-shape 3,64,64). imdb-lstm takes
int64 token ids [B, L] (uniform in [0, 5002)) and trains with BCE-with-logits on one logit.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden"))
from make_cnn import Cifar10CNN  # noqa: E402
from make_imdb_lstm import ImdbLSTM  # noqa: E402
from make_mlp import MnistMLP  # noqa: E402
from make_resnet50 import ResNet50  # noqa: E402
from make_wrn import WideResNet  # noqa: E402



IMDB_VOCAB = 5002

# name -> (builder(input_shape, classes), per-sample input shape, number of classes, loss)
MODELS = {
    "mnist-mlp": (lambda s, c: MnistMLP(in_features=s[0] * s[1] * s[2], classes=c), (1, 28, 28), 10, "ce"),
    "cifar10-cnn": (lambda s, c: Cifar10CNN(tuple(s), c), (3, 32, 32), 10, "ce"),
    "wrn-16-4": (lambda s, c: WideResNet(16, 4, c, in_channels=s[0]), (3, 32, 32), 10, "ce"),
    "wrn-28-10": (lambda s, c: WideResNet(28, 10, c, in_channels=s[0]), (3, 32, 32), 10, "ce"),
    "resnet50": (lambda s, c: ResNet50(c, in_channels=s[0]), (3, 224, 224), 1000, "ce"),
    "imdb-lstm": (lambda s, c: ImdbLSTM(IMDB_VOCAB), (500,), 2, "bce"),
}


def model_entry(name):
    if name in MODELS:
        return MODELS[name]
    parts = name.split("-")
    if len(parts) == 3 and parts[0] == "wrn" and parts[1].isdigit() and parts[2].isdigit():
        d, k = int(parts[1]), int(parts[2])
        if d >= 10 and (d - 4) % 6 == 0 and k >= 1:
            return (lambda s, c: WideResNet(d, k, c, in_channels=s[0]), (3, 32, 32), 10, "ce")
    raise SystemExit("unknown model %r (known: %s, wrn-D-K)" % (name, ", ".join(sorted(MODELS))))


# The environment variables that change PyTorch's CPU timings; recorded beside each result.
TIMING_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GLIBC_TUNABLES",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def time_steps(model_name, batch_size, steps, warmup, threads, lr=0.01, momentum=0.9, seed=0,
               input_shape=None, classes=None, device="cpu", forward_only=False, channels_last=False,
               profile_steps=0):
    build, in_shape, n_classes, loss_kind = model_entry(model_name)
    in_shape = tuple(input_shape) if input_shape else in_shape
    n_classes = classes or n_classes
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build(in_shape, n_classes).train(not forward_only).to(device)
    if channels_last and not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        raise SystemExit("--channels-last: %s has no convolution, so there is no memory format to choose; "
                         "drop the flag" % model_name)
    if loss_kind == "bce":
        x = torch.randint(0, IMDB_VOCAB, (batch_size,) + in_shape)
        y = torch.randint(0, 2, (batch_size,)).float()
    else:
        x = torch.randn(batch_size, *in_shape)
        y = torch.randint(0, n_classes, (batch_size,))
    x, y = x.to(device), y.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    # On a GPU each timed step ends in a synchronisation, as `signet bench --device cuda` does.
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if forward_only:
        with torch.no_grad():
            return _profiled(lambda: model(x), steps, warmup, sync, profile_steps)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def step():
        out = model(x)
        loss = F.binary_cross_entropy_with_logits(out[:, 0], y) if loss_kind == "bce" else F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return _profiled(step, steps, warmup, sync, profile_steps)


def _profiled(step, steps, warmup, sync, profile_steps):
    """_time, then (profile_steps > 0) that many more steps under the autograd profiler, whose
    table of time per op (self CPU time, the profiled steps' total) goes to stderr."""
    times = _time(step, steps, warmup, sync)
    if profile_steps > 0:
        with torch.autograd.profiler.profile() as prof:
            for _ in range(profile_steps):
                step()
            sync()
        print("PyTorch profile, %d steps (totals over them):" % profile_steps, file=sys.stderr)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)
    return times


def _time(step, steps, warmup, sync):
    """Milliseconds of each of `steps` calls of step(), after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser(description="Time PyTorch training steps (peer for bench/e2e)")
    ap.add_argument("--model", default="mnist-mlp", help="%s, or wrn-D-K" % " | ".join(sorted(MODELS)))
    ap.add_argument("--input-shape", default="", help="C,H,W or L (default: the model's)")
    ap.add_argument("--classes", type=int, default=0, help="number of classes (0: the model's default)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (scripts/gpu_check.sh)")
    ap.add_argument("--forward-only", action="store_true",
                    help="time inference: eval mode, torch.no_grad(), forward pass only")
    ap.add_argument("--channels-last", action="store_true",
                    help="model and input in channels_last memory format (convolutional models only)")
    ap.add_argument("--mkldnn", choices=("on", "off"), default=None,
                    help="torch.backends.mkldnn.enabled (oneDNN); default: PyTorch's own setting")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True) before any op, so the intra-op threads inherit it")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="then profile STEPS more steps and print time per op (stderr)")
    args = ap.parse_args()
    flushed = bool(torch.set_flush_denormal(True)) if args.flush_denormal else False
    if args.steps < 1 or args.batch_size < 1 or args.threads < 1 or args.warmup < 0:
        ap.error("--steps, --batch-size and --threads must be >= 1, --warmup >= 0")
    if os.environ.get("OPENBLAS_NUM_THREADS") is None:
        print("warning: OPENBLAS_NUM_THREADS is not set; set it to 1 for fair timings",
              file=sys.stderr)

    if args.mkldnn is not None:
        torch.backends.mkldnn.enabled = args.mkldnn == "on"
    shape = [int(v) for v in args.input_shape.split(",")] if args.input_shape else None
    times = time_steps(args.model, args.batch_size, args.steps, args.warmup, args.threads,
                       input_shape=shape, classes=args.classes or None, device=args.device,
                       forward_only=args.forward_only, channels_last=args.channels_last,
                       profile_steps=args.profile)
    res = {
        "framework": "pytorch",
        "model": args.model,
        "device": args.device,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "median_ms": round(statistics.median(times), 4),
        "min_ms": round(min(times), 4),
        "max_ms": round(max(times), 4),
        "steps": args.steps,
        "warmup": args.warmup,
        "torch_version": torch.__version__,
        "forward_only": args.forward_only,
        "channels_last": args.channels_last,
        "mkldnn": torch.backends.mkldnn.enabled,
        "flush_denormal": flushed,
        "env": {k: os.environ.get(k) for k in TIMING_ENV},
    }
    if args.json:
        print(json.dumps(res))
    else:
        knobs = "".join([" forward-only" if args.forward_only else "",
                         " channels-last" if args.channels_last else "",
                         " mkldnn " + ("on" if res["mkldnn"] else "off"),
                         " flush-denormal" if flushed else ""])
        print("pytorch %s  %s%s  batch %d  threads %d  steps %d: median %.3f ms  min %.3f ms  max %.3f ms"
              % (res["torch_version"], args.model, knobs, args.batch_size, args.threads, args.steps,
                 res["median_ms"], res["min_ms"], res["max_ms"]))


if __name__ == "__main__":
    main()
