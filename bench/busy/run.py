#!/usr/bin/env python3
"""Training steps on a shared machine: `signet bench` idle and beside other processes.

For each load (idle; two busy loops; a niced -j2 build; a second Signet training process; a
PyTorch training process) the load is started, given two seconds, and then `signet bench` is
timed for each model under each OpenMP configuration, configurations alternating within each
round.  One JSON line per measurement goes to --out; a Markdown table (median of the rounds'
median step times, and the ratio to the same configuration idle) is printed at the end.

Configurations (environment of both the timed process and, for the "signet" load, the load):
  default   nothing set: what a user gets (all cores, fewer while others keep them busy)
  fixed     SIGNET_ADAPTIVE_THREADS=0: all cores always, libgomp's default waiting (what Signet
            did before it adapted the thread count)
  passive   fixed, and OMP_WAIT_POLICY=passive (what ./test.sh sets for ctest's parallel tests)
  spin=N    fixed, and GOMP_SPINCOUNT=N
  X+tN      configuration X with `signet bench --threads N`

Usage (from the repository root, build/signet built; the torch load needs python3-torch):
  bench/busy/run.py [--models mnist-mlp,cifar10-cnn,wrn-16-4] [--loads idle,loops,build,signet,torch]
                    [--configs default,libgomp,passive] [--rounds 3] [--out runs/busy.jsonl]
The machine must otherwise be idle: anything else running shows up in every column.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# model -> (batch size, timed steps, warm-up steps): a few seconds per measurement idle.
MODELS = {
    "mnist-mlp": (128, 500, 20),
    "cifar10-cnn": (64, 20, 3),
    "wrn-16-4": (16, 10, 2),
}
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "SIGNET_ADAPTIVE_THREADS")


def config_env(name):
    name = name.split("+")[0]
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    if name != "default":
        env["SIGNET_ADAPTIVE_THREADS"] = "0"
    if name == "passive":
        env["OMP_WAIT_POLICY"] = "passive"
    elif name.startswith("spin="):
        env["GOMP_SPINCOUNT"] = name[5:]
    elif name not in ("default", "fixed"):
        raise SystemExit(f"unknown configuration {name!r}")
    return env


def config_threads(name):
    """A "+tN" suffix runs the timed process with --threads N."""
    return ["--threads", name.split("+t")[1]] if "+t" in name else []


def start(cmd, env=None, cwd=ROOT):
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def start_load(load, model, config, signet, build_dir, torch_model=None):
    """The load's processes (each in its own session, so that stop() kills its children)."""
    if load == "idle":
        return []
    if load == "loops":
        return [start(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    if load == "build":
        env = dict(os.environ, CCACHE_DISABLE="1")
        script = (f"while :; do nice -n 10 cmake --build {build_dir} -j2 --target signet_core --clean-first; done")
        return [start(["sh", "-c", script], env=env)]
    if load == "signet":
        batch = MODELS[model][0]
        return [start([signet, "bench", "--model", model, "--batch-size", str(batch), "--steps", "1000000000",
                       "--warmup", "0"], env=config_env(config))]
    if load == "torch":
        model = torch_model or model
        batch = MODELS[model][0]
        env = dict(os.environ, PYENV_VERSION="system")
        return [start(["/usr/bin/python3", "bench/peers/torch_step.py", "--model", model, "--batch-size", str(batch),
                       "--steps", "1000000000", "--warmup", "0", "--threads", "2"], env=env)]
    raise SystemExit(f"unknown load {load!r}")


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def wait_until_working(procs, load):
    """Two seconds, and for the training loads until the load has done three seconds of CPU
    work beyond its start-up (importing torch alone takes seconds): a measurement must not
    finish before the load begins."""
    time.sleep(2)
    if load not in ("signet", "torch"):
        return
    deadline = time.time() + 120
    start_cpu = sum(cpu_seconds(p.pid) for p in procs)
    while time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"the {load} load exited with status {[p.poll() for p in procs]}")
        if sum(cpu_seconds(p.pid) for p in procs) - start_cpu >= 3.0:
            return
        time.sleep(0.25)
    raise SystemExit(f"the {load} load did not start working within two minutes")


def stop(procs):
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def bench(signet, model, config):
    batch, steps, warmup = MODELS[model]
    out = subprocess.run([signet, "bench", "--model", model, "--batch-size", str(batch), "--steps", str(steps),
                          "--warmup", str(warmup), "--json"] + config_threads(config), env=config_env(config), cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signet", default=os.path.join(ROOT, "build", "signet"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--loads", default="idle,loops,build,signet,torch")
    ap.add_argument("--configs", default="default,fixed,passive")
    ap.add_argument("--torch-model", default="", help="the PyTorch load's model (default: the timed model)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "busy.jsonl"))
    args = ap.parse_args()
    models, loads, configs = (s.split(",") for s in (args.models, args.loads, args.configs))
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"unknown model {m!r} (known: {', '.join(MODELS)})")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    build_dir = None
    if "build" in loads:
        build_dir = tempfile.mkdtemp(prefix="signet-busy-build-")
        subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                        "-DSIGNET_BUILD_TESTS=OFF", "-DSIGNET_BUILD_BENCH=OFF"], check=True,
                       stdout=subprocess.DEVNULL)
    rows = []
    with open(args.out, "a") as log:
        for load in loads:
            for model in models:
                # The "signet" load runs under the configuration being measured, so it is
                # restarted per configuration; other loads are shared by all configurations.
                per_config = load == "signet"
                procs = [] if per_config else start_load(load, model, None, args.signet, build_dir,
                                                                   args.torch_model)
                try:
                    if procs:
                        wait_until_working(procs, load)
                    for r in range(args.rounds):
                        for config in configs:
                            if per_config:
                                procs = start_load(load, model, config, args.signet, build_dir)
                                wait_until_working(procs, load)
                            try:
                                res = bench(args.signet, model, config)
                            finally:
                                if per_config:
                                    stop(procs)
                                    procs = []
                            row = {"load": load, "model": model, "config": config, "round": r,
                                   "median_ms": res["median_ms"], "min_ms": res["min_ms"], "max_ms": res["max_ms"],
                                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                            rows.append(row)
                            log.write(json.dumps(row) + "\n")
                            log.flush()
                            print(json.dumps(row), file=sys.stderr)
                finally:
                    stop(procs)
    table(rows, loads, models, configs)


def table(rows, loads, models, configs):
    med = {}
    for (load, model, config) in {(r["load"], r["model"], r["config"]) for r in rows}:
        med[load, model, config] = statistics.median(
            r["median_ms"] for r in rows if (r["load"], r["model"], r["config"]) == (load, model, config))
    print("| load | model | " + " | ".join(f"{c} ms (× idle)" for c in configs) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in configs) + " |")
    for load in loads:
        for model in models:
            cells = []
            for c in configs:
                v = med.get((load, model, c))
                idle = med.get(("idle", model, c))
                cells.append("–" if v is None else f"{v:.1f}" + (f" ({v / idle:.1f}×)" if idle else ""))
            print(f"| {load} | {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
