#!/usr/bin/env python3
"""Fair harness: Signet against PyTorch at its fastest configuration, per model and batch size.

For each model, batch size and mode (training step; with --forward-only-batch1 also inference
at batch 1, what a serving endpoint answers with) it runs:

1. A search over PyTorch configurations (bench/peers/torch_step.py, --search-steps steps each):
     OPENBLAS_NUM_THREADS 1 | 2;  OMP_WAIT_POLICY unset | PASSIVE | ACTIVE;
     oneDNN (torch.backends.mkldnn.enabled) on | off;
     denormals flushed to zero (torch.set_flush_denormal) off | on (Signet always flushes them);
     channels-last memory format off | on (convolutional models only: cifar10-cnn, resnet50, wrn-*).
   The configuration with the lowest median step time is chosen. Signet's OpenMP pool reads
   OMP_WAIT_POLICY too (spinning threads cost a loaded machine dearly), so Signet gets the same
   search over it (--signet-omp-wait-policy fixes it instead). The search's timings are short
   single runs; they only choose, they are not the result.
2. --rounds alternating rounds (default 5; the first engine alternates from round to round) of
   `signet bench` and torch_step.py in the chosen configuration, --steps timed steps each.
   Reported per engine: median, min and max of the round medians; the ratio Signet / PyTorch of
   the medians (< 1: Signet is faster).

Both engines run with the glibc malloc tunables of --malloc-tunables in GLIBC_TUNABLES and with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from their environment (they bind OpenBLAS to
slower kernels); the shell's own environment is left as it is. Otherwise both run with the
caller's environment, the searched variables set (or removed) per configuration.

Output: one JSON line per (model, batch, mode) on stdout and into --out (written whole at the
end), with both engines' summaries and round medians, the chosen PyTorch configuration, every
configuration the search timed, the timing environment of both, the commit and the date;
then a markdown table. Progress goes to stderr.

Usage:
  bench/e2e/fair.py [--models mnist-mlp,cifar10-cnn,imdb-lstm,resnet50,wrn-16-4]
                    [--batch-sizes 1,16,128]   (default per model: 1, 16 and its table size)
                    [--rounds 5] [--steps N] [--search-steps N] [--warmup N] [--threads 2]
                    [--no-forward-only-batch1] [--signet-omp-wait-policy search|unset|PASSIVE|ACTIVE]
                    [--signet build/signet] [--out FILE]
  bench/e2e/fair.py --table FILE [FILE ...]    (print the tables of earlier runs)
  bench/e2e/fair.py --compare RUN1 RUN2 [--target 0.8]   (two runs cell by cell: both ratios, and
                                                whether both are at or below the target)
  bench/e2e/fair_twice.sh runs it twice in separate processes and prints both tables.

Default steps: the model's table step count (bench/e2e/run_all.sh), times table batch / batch
for smaller batches (at most 10x), so a round does comparable work; --search-steps defaults to a
third of that (at least 2). Run on an idle machine: every other process shows in both columns.
Needs Debian's python3-torch (through /usr/bin/python3, or SIGNET_TORCH_PYTHON) and a built
signet; this script itself needs only the standard library.
"""
import argparse
import datetime
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"
# Removed from both engines' environments: they bind OpenBLAS to slower kernels on this machine.
SLOW_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Recorded beside each result: the variables that change CPU step times.
TIMING_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GLIBC_TUNABLES") + SLOW_BLAS_ENV

# name -> batch size, steps and warm-up of the results table (bench/e2e/run_all.sh), input shape
# ("" = the model's default), whether it has convolutions (channels-last applies)
MODELS = {
    "mnist-mlp": (128, 100, 10, "", False),
    "cifar10-cnn": (128, 10, 2, "", True),
    "imdb-lstm": (64, 5, 1, "", False),
    "resnet50": (16, 5, 1, "3,64,64", True),
    "wrn-16-4": (64, 3, 1, "", True),
}

# The PyTorch configurations searched: (name, values); None = variable unset / flag absent.
SEARCH_SPACE = (
    ("openblas_num_threads", ("1", "2")),
    ("omp_wait_policy", (None, "PASSIVE", "ACTIVE")),
    ("mkldnn", ("on", "off")),
    ("flush_denormal", (False, True)),
    ("channels_last", (False, True)),
)


def configs(conv):
    names = [n for n, _ in SEARCH_SPACE]
    values = [v if n != "channels_last" or conv else (False,) for n, v in SEARCH_SPACE]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


SIGNET_WAIT_POLICIES = (None, "PASSIVE", "ACTIVE")


def config_str(c):
    return "OBT={} OMP_WAIT={} mkldnn={}{}{}".format(c["openblas_num_threads"], c["omp_wait_policy"] or "unset",
                                                     c["mkldnn"], " flush-denormal" if c["flush_denormal"] else "",
                                                     " channels-last" if c["channels_last"] else "")


def base_env(tunables):
    env = {k: v for k, v in os.environ.items() if k not in SLOW_BLAS_ENV}
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    else:
        env.pop("GLIBC_TUNABLES", None)
    return env


def torch_env(config, tunables):
    env = base_env(tunables)
    env["PYENV_VERSION"] = "system"  # Debian's interpreter has python3-torch
    env["OPENBLAS_NUM_THREADS"] = config["openblas_num_threads"]
    env.pop("OMP_WAIT_POLICY", None)
    if config["omp_wait_policy"]:
        env["OMP_WAIT_POLICY"] = config["omp_wait_policy"]
    return env


def signet_env(wait_policy, tunables):
    env = base_env(tunables)
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    return env


def timing_env(env):
    return {k: env.get(k) for k in TIMING_ENV}


class RunFailed(Exception):
    pass


def run_json(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        raise RunFailed("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                              (p.stderr.strip().splitlines() or ["(no output)"])[-1]))
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise RunFailed("%s printed no JSON: %s" % (" ".join(cmd), lines[-1]))


class Job:
    """One (model, batch, mode) cell: the commands of both engines."""

    def __init__(self, a, model, batch, forward_only):
        table_batch, table_steps, table_warmup, shape, self.conv = MODELS[model]
        self.model, self.batch, self.forward_only, self.shape = model, batch, forward_only, shape
        self.steps = a.steps or table_steps * min(10, max(1, table_batch // batch))
        self.search_steps = a.search_steps or max(2, self.steps // 3)
        self.warmup = table_warmup if a.warmup is None else a.warmup
        self.threads, self.signet, self.tunables = a.threads, a.signet, a.malloc_tunables
        fixed = a.signet_omp_wait_policy
        self.signet_policies = SIGNET_WAIT_POLICIES if fixed == "search" else (None if fixed == "unset" else fixed,)
        self.torch_python = os.environ.get("SIGNET_TORCH_PYTHON") or (
            "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3")

    def common(self, steps):
        c = ["--model", self.model, "--batch-size", str(self.batch), "--steps", str(steps),
             "--warmup", str(self.warmup), "--threads", str(self.threads), "--json"]
        c += ["--input-shape", self.shape] if self.shape else []
        return c + (["--forward-only"] if self.forward_only else [])

    def torch(self, config, steps):
        cmd = [self.torch_python, os.path.join(ROOT, "bench", "peers", "torch_step.py")] + self.common(steps)
        cmd += ["--mkldnn", config["mkldnn"]] + (["--channels-last"] if config["channels_last"] else [])
        cmd += ["--flush-denormal"] if config["flush_denormal"] else []
        return run_json(cmd, torch_env(config, self.tunables))

    def signet_run(self, wait_policy, steps):
        return run_json([self.signet, "bench"] + self.common(steps), signet_env(wait_policy, self.tunables))

    def name(self):
        return "%s%s batch %d %s" % (self.model, " @" + self.shape if self.shape else "", self.batch,
                                     "forward" if self.forward_only else "train")


def search(job, engine, candidates, run, describe, log):
    """Times each candidate configuration once; returns the fastest by median and all timings."""
    tried = []
    for c in candidates:
        try:
            r = run(c)
            tried.append({"config": c, "median_ms": r["median_ms"], "min_ms": r["min_ms"]})
            log("  search %-7s %-50s median %9.3f ms" % (engine, describe(c), r["median_ms"]))
        except RunFailed as e:
            tried.append({"config": c, "error": str(e)})
            log("  search %-7s %-50s failed: %s" % (engine, describe(c), e))
    ok = [t for t in tried if "median_ms" in t]
    if not ok:
        raise RunFailed("%s: every %s configuration failed; the first: %s" % (job.name(), engine, tried[0]["error"]))
    return min(ok, key=lambda t: t["median_ms"])["config"], tried


def signet_config_str(c):
    return "OMP_WAIT=%s" % (c["omp_wait_policy"] or "unset")


def summary(runs):
    medians = [r["median_ms"] for r in runs]
    return {"median_ms": statistics.median(medians), "min_ms": min(medians), "max_ms": max(medians),
            "round_medians_ms": medians, "best_step_ms": min(r["min_ms"] for r in runs)}


def measure(job, rounds, log):
    log("%s: %d PyTorch and %d Signet configurations, %d steps each" % (
        job.name(), len(configs(job.conv)), len(job.signet_policies), job.search_steps))
    chosen, tried = search(job, "pytorch", configs(job.conv), lambda c: job.torch(c, job.search_steps), config_str, log)
    s_candidates = [{"omp_wait_policy": p} for p in job.signet_policies]
    s_chosen, s_tried = (s_candidates[0], []) if len(s_candidates) == 1 else search(
        job, "signet", s_candidates, lambda c: job.signet_run(c["omp_wait_policy"], job.search_steps),
        signet_config_str, log)
    log("  chosen: pytorch %s; signet %s" % (config_str(chosen), signet_config_str(s_chosen)))
    runs = {"signet": [], "pytorch": []}
    for r in range(rounds):
        order = ("signet", "pytorch") if r % 2 == 0 else ("pytorch", "signet")
        for engine in order:
            runs[engine].append(job.signet_run(s_chosen["omp_wait_policy"], job.steps) if engine == "signet"
                                else job.torch(chosen, job.steps))
        log("  round %d: signet %9.3f ms   pytorch %9.3f ms" % (r + 1, runs["signet"][-1]["median_ms"],
                                                               runs["pytorch"][-1]["median_ms"]))
    s, t = summary(runs["signet"]), summary(runs["pytorch"])
    first_s, first_t = runs["signet"][0], runs["pytorch"][0]
    return {
        "model": job.model, "input_shape": job.shape or None, "batch_size": job.batch,
        "mode": "forward" if job.forward_only else "train", "threads": job.threads, "steps": job.steps,
        "warmup": job.warmup, "rounds": rounds, "search_steps": job.search_steps,
        "signet": dict(s, config=s_chosen), "pytorch": dict(t, config=chosen),
        "ratio_median": s["median_ms"] / t["median_ms"], "ratio_min": s["min_ms"] / t["min_ms"],
        "search": tried, "signet_search": s_tried,
        "env": {"signet": timing_env(signet_env(s_chosen["omp_wait_policy"], job.tunables)),
                "pytorch": timing_env(torch_env(chosen, job.tunables))},
        "blas_core": first_s.get("blas_core"), "signet_forward_only": first_s.get("forward_only"),
        "torch_version": first_t.get("torch_version"), "torch_mkldnn": first_t.get("mkldnn"),
    }


def git_commit():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def print_table(rows, out=sys.stdout):
    print("| model | batch | mode | Signet median / min / max ms | PyTorch median / min / max ms | "
          "ratio (median) | PyTorch configuration | Signet configuration |", file=out)
    print("| --- | --- | --- | --- | --- | --- | --- | --- |", file=out)
    for r in rows:
        s, t = r["signet"], r["pytorch"]
        shape = " @" + r["input_shape"] if r.get("input_shape") else ""
        print("| %s%s | %d | %s | %.3f / %.3f / %.3f | %.3f / %.3f / %.3f | %.2fx | %s | %s |" % (
            r["model"], shape, r["batch_size"], r["mode"], s["median_ms"], s["min_ms"], s["max_ms"],
            t["median_ms"], t["min_ms"], t["max_ms"], r["ratio_median"], config_str(t["config"]),
            signet_config_str(s["config"]) if "config" in s else "(not recorded)"), file=out)


def compare_runs(path1, path2, target, out=sys.stdout):
    """One row per cell of two runs (matched by model, input shape, batch and mode): both ratios
    and whether both are at or below `target`. Returns the number of cells that are not."""
    def load(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return {(r["model"], r.get("input_shape") or "", r["batch_size"], r["mode"]): r for r in rows}
    run1, run2 = load(path1), load(path2)
    print("| model | batch | mode | run 1: Signet / PyTorch ms | ratio | run 2: Signet / PyTorch ms | ratio | "
          "both <= %.2fx | PyTorch's configuration, run 1; run 2 |" % target, file=out)
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |", file=out)
    missing = 0
    for key in sorted(set(run1) | set(run2), key=lambda k: (list(MODELS).index(k[0]) if k[0] in MODELS else 99,
                                                          k[3] != "train", k[2])):
        model, shape, batch, mode = key
        cells, chosen = [], []
        ok = True
        for run in (run1, run2):
            r = run.get(key)
            if r is None:
                cells += ["(not run)", "–"]
                ok = False
                continue
            chosen.append(config_str(r["pytorch"]["config"]))
            cells += ["%.3f / %.3f" % (r["signet"]["median_ms"], r["pytorch"]["median_ms"]), "%.2fx" % r["ratio_median"]]
            ok = ok and r["ratio_median"] <= target
        missing += not ok
        print("| %s%s | %d | %s | %s | %s | %s | %s | %s | %s |" % (model, " @" + shape if shape else "", batch, mode,
                                                                   *cells, "yes" if ok else "**no**",
                                                                   "; ".join(chosen)), file=out)
    return missing


def int_list(text):
    try:
        v = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers, got %r" % text)
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be >= 1, got %r" % text)
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all five)")
    ap.add_argument("--batch-sizes", type=int_list, default=None,
                    help="comma-separated, for every model (default per model: 1, 16 and its table size)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating timed rounds (default 5)")
    ap.add_argument("--steps", type=int, default=0, help="timed steps per round (0: per model, see above)")
    ap.add_argument("--search-steps", type=int, default=0, help="steps per searched configuration (0: steps / 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: the model's)")
    ap.add_argument("--threads", type=int, default=2, help="threads of both engines (default 2)")
    ap.add_argument("--forward-only-batch1", action=argparse.BooleanOptionalAction, default=True,
                    help="also time inference (eval, no grad, forward only) at batch 1 (default on)")
    ap.add_argument("--signet-omp-wait-policy", choices=("search", "unset", "PASSIVE", "ACTIVE"), default="search",
                    help="Signet's OMP_WAIT_POLICY: searched as PyTorch's is (default), or fixed")
    ap.add_argument("--malloc-tunables", default=MALLOC_TUNABLES,
                    help="GLIBC_TUNABLES of both engines ('' leaves it unset); default: %(default)s")
    ap.add_argument("--signet", default=os.path.join(ROOT, "build", "signet"))
    ap.add_argument("--out", default="", help="write the JSON lines here too (whole, at the end)")
    ap.add_argument("--table", nargs="+", metavar="FILE", help="only print the tables of these JSON-lines files")
    ap.add_argument("--compare", nargs=2, metavar=("RUN1", "RUN2"),
                    help="only print one table of two runs' files, cell by cell, against --target")
    ap.add_argument("--target", type=float, default=0.8, help="the ratio --compare checks (default 0.8)")
    a = ap.parse_args()

    if a.compare:
        short = compare_runs(a.compare[0], a.compare[1], a.target)
        print("\n%d cell(s) not at or below %.2fx in both runs" % (short, a.target))
        return 0
    if a.table:
        for i, path in enumerate(a.table):
            with open(path) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            print("%s%s (%d rows)\n" % ("\n" if i else "", path, len(rows)))
            print_table(rows)
        return 0
    models = [m for m in a.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error("unknown model(s) %s (known: %s)" % (", ".join(unknown), ", ".join(MODELS)))
    if a.rounds < 1 or a.steps < 0 or a.search_steps < 0 or a.threads < 1 or (a.warmup is not None and a.warmup < 0):
        ap.error("--rounds and --threads must be >= 1; --steps, --search-steps and --warmup >= 0")
    if not os.access(a.signet, os.X_OK):
        ap.error("no signet binary at %s: build it (cmake --build build --target signet) or pass --signet" % a.signet)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if a.rounds < 5:
        log("note: %d rounds; a result for the tables needs at least 5" % a.rounds)

    jobs = []
    for m in models:
        table_batch = MODELS[m][0]
        for b in a.batch_sizes or sorted({1, 16, table_batch}):
            jobs.append(Job(a, m, b, False))
        if a.forward_only_batch1:
            jobs.append(Job(a, m, 1, True))
    version = subprocess.run([a.signet, "--version"], capture_output=True, text=True).stdout.split("\n")
    stamp = {"signet_version": " ".join(" ".join(line.split()) for line in version[:2]), "commit": git_commit(), "date_utc": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
             "cpu": cpu_name(), "cores": os.cpu_count()}
    rows = []
    try:
        for job in jobs:
            row = dict(measure(job, a.rounds, log), **stamp)
            rows.append(row)
            print(json.dumps(row), flush=True)
    except RunFailed as e:
        log("error: %s" % e)
        return 1
    if a.out:
        tmp = a.out + ".part"
        with open(tmp, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        os.replace(tmp, a.out)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
