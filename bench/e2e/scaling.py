#!/usr/bin/env python3
"""Data-parallel scaling: measured on this machine for P = 1 and 2, modelled beyond it.

For each model it times `signet bench` (training steps on synthetic data) as one process using
all cores, and under `mpirun -np 2` (one rank per core, each with half of the same global batch),
and reads the step time, the samples per second and the time of the gradient exchange. P = 2 is
timed twice: with the exchange after backward (--no-overlap: the whole exchange is measured) and
as training runs it, each bucket's allreduce starting during backward (what is left to wait for
after backward is measured).

Then a model of many machines, each rank running the per-rank batch measured here:
    step(P) = compute + allreduce(P),   allreduce(P) = 2 (P - 1) / P * bytes / bandwidth
                                                       + 2 (P - 1) * latency
(ring allreduce, no overlap with the backward pass: an upper bound, since training overlaps the
two on CPUs), where compute is the measured two-rank step without overlap minus its exchange and
bytes the model's gradient (float32). It
prints, per network, the efficiency compute / step(P) and the smallest P at which the exchange
takes longer than the computation.

Output: one JSON line per model into --out and a markdown table on stdout. Usage:
  bench/e2e/scaling.py --signet build/signet [--steps 20] [--out runs/scaling.jsonl]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

# model, global batch, input shape (empty: the model's own), as in bench/RESULTS.md's tables.
MODELS = [
    ("mnist-mlp", 128, ""),
    ("cifar10-cnn", 128, ""),
    ("wrn-16-4", 128, "3,32,32"),
    ("imdb-lstm", 128, ""),
    ("resnet50", 16, "3,64,64"),
]
# name, bytes per second, per-hop latency in seconds (typical published figures, not measured).
NETWORKS = [
    ("10 GbE", 1.25e9, 30e-6),
    ("25 GbE", 3.125e9, 20e-6),
    ("100 Gb/s InfiniBand", 12.5e9, 2e-6),
]
RANKS = [2, 4, 8, 16, 32, 64, 128, 256]


def bench(signet, model, batch, shape, steps, ranks, extra=()):
    args = [signet, "bench", "--model", model, "--batch-size", str(batch), "--steps", str(steps),
            "--warmup", "5", "--json", *extra]
    if shape:
        args += ["--input-shape", shape]
    env = dict(os.environ)
    if ranks > 1:
        if os.getuid() == 0:
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        env.update(OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none")
        args = ["mpirun", "-np", str(ranks), "--oversubscribe"] + args + ["--distributed"]
    else:
        args += ["--threads", str(os.cpu_count())]
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"scaling.py: {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def allreduce_seconds(p, nbytes, bandwidth, latency):
    return 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * latency


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signet", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", default=",".join(m for m, _, _ in MODELS))
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    wanted = a.models.split(",")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for model, batch, shape in MODELS:
        if model not in wanted:
            continue
        print(f"scaling.py: {model} batch {batch}", file=sys.stderr)
        one = bench(a.signet, model, batch, shape, a.steps, 1)
        two = bench(a.signet, model, batch, shape, a.steps, 2, ["--no-overlap"])
        overlapped = bench(a.signet, model, batch, shape, a.steps, 2)
        step2 = two["median_ms"] / 1e3
        comm2 = two["comm_median_ms"] / 1e3
        compute = max(step2 - comm2, 1e-9)
        nbytes = two["parameter_bytes"]
        row = {"model": model, "batch": batch, "input_shape": shape or "default", "p1_ms": one["median_ms"],
               "p1_threads": one["threads"], "p2_ms": two["median_ms"], "p2_threads_per_rank": two["threads"],
               "p1_samples_s": one["samples_per_second"], "p2_samples_s": two["samples_per_second"],
               "comm_ms": two["comm_median_ms"], "comm_share": two["comm_share"], "bytes": nbytes,
               "loopback_gb_s": nbytes / comm2 / 1e9 if comm2 > 0 else None, "compute_ms": compute * 1e3,
               "allreduce_calls": two["allreduce_calls_per_step"], "model_rows": {},
               "p2_overlap_ms": overlapped["median_ms"], "comm_left_ms": overlapped["comm_median_ms"],
               "buckets_started_during_backward": overlapped["buckets_started_during_backward"],
               "commit": commit, "cpu": cpu, "cores": os.cpu_count(), "date": when, "host": platform.node()}
        for name, bw, lat in NETWORKS:
            eff = {p: compute / (compute + allreduce_seconds(p, nbytes, bw, lat)) for p in RANKS}
            dominated = next((p for p in RANKS if allreduce_seconds(p, nbytes, bw, lat) > compute), None)
            row["model_rows"][name] = {"efficiency": eff, "comm_dominates_from": dominated}
        rows.append(row)
    if a.out:
        with open(a.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print(f"Measured: {cpu}, {os.cpu_count()} cores, commit {commit}, {when}; `bench/e2e/scaling.py "
          f"--steps {a.steps}`. P = 1: one process, all cores; P = 2: `mpirun -np 2`, one core each, "
          "half the batch each.\n")
    print("| model (global batch) | gradient MB | P=1 ms/step | P=2 ms/step | P=2 exchange ms (share) "
          "| P=2 overlapped: ms/step, exchange left ms | samples/s P=1 → P=2 | loopback GB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} ({r['batch']}) | {r['bytes'] / 1e6:.2f} | {r['p1_ms']:.1f} | {r['p2_ms']:.1f} | "
              f"{r['comm_ms']:.2f} ({100 * r['comm_share']:.1f}%) | {r['p2_overlap_ms']:.1f}, "
              f"{r['comm_left_ms']:.2f} | {r['p1_samples_s']:.0f} → "
              f"{r['p2_samples_s']:.0f} | {r['loopback_gb_s']:.1f} |")
    print("\nModel: each rank computes its measured P = 2 share per step (without overlap); ring allreduce, "
          "no overlap. "
          "Efficiency compute / step at P ranks, and the smallest P where the exchange exceeds the compute:\n")
    head = " | ".join(f"P={p}" for p in (8, 64, 256))
    print(f"| model | network | {head} | exchange > compute from |")
    print("|---|---|" + "---|" * 3 + "---|")
    for r in rows:
        for name, _, _ in NETWORKS:
            m = r["model_rows"][name]
            effs = " | ".join(f"{100 * m['efficiency'][p]:.0f}%" for p in (8, 64, 256))
            dom = m["comm_dominates_from"]
            print(f"| {r['model']} | {name} | {effs} | {'P = ' + str(dom) if dom else 'beyond 256'} |")


if __name__ == "__main__":
    main()
