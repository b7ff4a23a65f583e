#!/usr/bin/env python3
"""End-to-end training-step comparison: Signet vs PyTorch, alternating, in one run.

Each round runs `signet bench` and then `bench/peers/torch_step.py` (Debian's python3-torch,
through `PYENV_VERSION=system python3`, with OPENBLAS_NUM_THREADS=1 as PyTorch is fastest here)
on the same model, batch size, thread count and step counts. Alternating the two in several
rounds means both see the same machine conditions. Prints every round, then per framework the
median of the round medians and the best round min, and the ratio Signet / PyTorch (< 1 means
Signet is faster).

Usage: bench/e2e/compare.py [--model mnist-mlp] [--batch-size 128] [--threads 2]
                            [--steps 100] [--warmup 10] [--rounds 5] [--input-shape 3,64,64] [--json]

The OpenBLAS kernel set each side ran with is printed (signet's `blas_core`): an
OPENBLAS_CORETYPE in the environment (e.g. Haswell) binds both frameworks to it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mnist-mlp")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of both; 0: Signet's default (all cores, adapted to the load), PyTorch all cores")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--signet", default=os.path.join(ROOT, "build", "signet"))
    ap.add_argument("--input-shape", default="", help="C,H,W (e.g. resnet50 at 3,64,64); default: the model's")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    common = ["--model", a.model, "--batch-size", str(a.batch_size), "--steps", str(a.steps),
              "--warmup", str(a.warmup), "--json"]
    if a.input_shape:
        common += ["--input-shape", a.input_shape]
    signet_cmd = [a.signet, "bench"] + common + (["--threads", str(a.threads)] if a.threads > 0 else [])
    torch_threads = a.threads if a.threads > 0 else os.cpu_count()
    # Debian's own interpreter has python3-torch; under pyenv a bare "python3" may be another one.
    torch_python = os.environ.get("SIGNET_TORCH_PYTHON") or (
        "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3")
    torch_cmd = [torch_python, os.path.join(ROOT, "bench", "peers", "torch_step.py")] + common + ["--threads", str(torch_threads)]
    torch_env = dict(os.environ, PYENV_VERSION="system", OPENBLAS_NUM_THREADS="1")
    signet_env = dict(os.environ)

    rows = {"signet": [], "pytorch": []}
    for r in range(a.rounds):
        s = run_json(signet_cmd, signet_env)
        t = run_json(torch_cmd, torch_env)
        rows["signet"].append(s)
        rows["pytorch"].append(t)
        if not a.json:
            print(f"round {r + 1}: signet median {s['median_ms']:.3f} ms (min {s['min_ms']:.3f})   "
                  f"pytorch median {t['median_ms']:.3f} ms (min {t['min_ms']:.3f})", flush=True)

    def summary(rs):
        return {"median_ms": statistics.median(x["median_ms"] for x in rs),
                "min_ms": min(x["min_ms"] for x in rs),
                "max_ms": max(x["max_ms"] for x in rs)}

    s, t = summary(rows["signet"]), summary(rows["pytorch"])
    result = {"model": a.model, "input_shape": a.input_shape or None, "batch_size": a.batch_size,
              "blas_core": rows["signet"][0].get("blas_core"),
              "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"), "threads": a.threads, "steps": a.steps,
              "warmup": a.warmup, "rounds": a.rounds, "signet": s, "pytorch": t,
              "torch_version": rows["pytorch"][0].get("torch_version"),
              "ratio_median": s["median_ms"] / t["median_ms"], "ratio_min": s["min_ms"] / t["min_ms"]}
    if a.json:
        print(json.dumps(result))
    else:
        shape = f" input {a.input_shape}" if a.input_shape else ""
        print(f"\n{a.model}{shape} batch {a.batch_size}, {a.threads} threads, {a.rounds} rounds x {a.steps} steps, "
              f"OpenBLAS kernels {result['blas_core']} (OPENBLAS_CORETYPE={result['openblas_coretype_env']})")
        print(f"  signet : median {s['median_ms']:.3f} ms   min {s['min_ms']:.3f}   max {s['max_ms']:.3f}")
        print(f"  pytorch: median {t['median_ms']:.3f} ms   min {t['min_ms']:.3f}   max {t['max_ms']:.3f}"
              f"   (torch {result['torch_version']})")
        print(f"  ratio signet/pytorch: median {result['ratio_median']:.2f}x   min {result['ratio_min']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
