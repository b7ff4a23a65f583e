#!/usr/bin/env python3
"""DeepSigns hidden-layer watermark experiments on Fashion-MNIST, through the `signet` CLI.

  experiments/deepsigns_hidden.py fidelity   [--seed 1] [--epochs 5] [--bits 32] [--others 5]
      Trains the unmarked MLP and the marked MLP (same seed and recipe), extracts the mark from
      the marked model and from `--others` unmarked models trained with other seeds.
      Writes reports/deepsigns_hidden_fidelity.{csv,md}.
  experiments/deepsigns_hidden.py capacity   [--seed 1] [--epochs 5] [--bits 4,8,16,32,64,128,256,512]
      Paper Figure 8: BER and test accuracy against the signature length N.
      Writes reports/deepsigns_hidden_capacity.{csv,md,png,svg} (the plot needs gnuplot).

Every number comes from `build/signet ... --json`; rerun the command to check it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_io import write_csv, write_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGNET = os.path.join(ROOT, "build", "signet")
REPORTS = os.path.join(ROOT, "reports")


def signet(*args):
    cmd = [SIGNET, *map(str, args), "--json"]
    print("$", " ".join(cmd[:-1]), file=sys.stderr, flush=True)
    # Passive OpenMP waiting: robust when anything else shares the cores (results are the same).
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])




def fidelity(a, work):
    common = ["--model", "mnist-mlp", "--dataset", "fashion-mnist", "--epochs", a.epochs, "--quiet"]
    unmarked = signet("train", *common, "--seed", a.seed, "--out", f"{work}/unmarked.safetensors")
    marked = signet("embed", "--scheme", "deepsigns-hidden", *common, "--layer", "relu2", "--bits", a.bits,
                    "--seed", a.seed, "--key-seed", a.seed, "--keys-out", f"{work}/keys.wmk", "--out", f"{work}/marked.safetensors")
    rows = []
    ex = signet("extract", "--keys", f"{work}/keys.wmk", "--weights", f"{work}/marked.safetensors")
    rows.append(dict(model="marked", seed=a.seed, test_accuracy=marked["test_accuracy"], ber=ex["ber"],
                     matches=ex["matches"], bits=ex["bits"], p_value=ex["p_value"], claimed=ex["ownership_proven"]))
    ex = signet("extract", "--keys", f"{work}/keys.wmk", "--weights", f"{work}/unmarked.safetensors")
    rows.append(dict(model="unmarked", seed=a.seed, test_accuracy=unmarked["test_accuracy"], ber=ex["ber"],
                     matches=ex["matches"], bits=ex["bits"], p_value=ex["p_value"], claimed=ex["ownership_proven"]))
    for s in range(a.seed + 1, a.seed + 1 + a.others):
        t = signet("train", *common, "--seed", s, "--out", f"{work}/other{s}.safetensors")
        ex = signet("extract", "--keys", f"{work}/keys.wmk", "--weights", f"{work}/other{s}.safetensors")
        rows.append(dict(model="unmarked", seed=s, test_accuracy=t["test_accuracy"], ber=ex["ber"],
                         matches=ex["matches"], bits=ex["bits"], p_value=ex["p_value"], claimed=ex["ownership_proven"]))
    base = os.path.join(REPORTS, "deepsigns_hidden_fidelity")
    write_csv(base + ".csv", rows)
    cmd = (f"experiments/deepsigns_hidden.py fidelity --seed {a.seed} --epochs {a.epochs} --bits {a.bits} "
           f"--others {a.others}")
    lines = [f"# DeepSigns hidden layer: fidelity, reliability, integrity (Fashion-MNIST MLP, layer relu2, "
             f"{a.bits} bits)", "", f"Made by `{cmd}`. Ownership is claimed when p <= 1e-6.", "",
             "| model | seed | test accuracy | BER | matching bits | p-value | ownership claimed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['seed']} | {100 * r['test_accuracy']:.2f}% | {r['ber']:.4f} | "
                     f"{r['matches']}/{r['bits']} | {r['p_value']:.3g} | {'yes' if r['claimed'] else 'no'} |")
    lines += ["", f"Accuracy change from the watermark: "
                  f"{100 * (rows[0]['test_accuracy'] - rows[1]['test_accuracy']):+.2f} points "
                  f"(paper Table 2, MNIST MLP: -0.41 points with N = 4)."]
    write_text(base + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def capacity(a, work):
    rows = []
    common = ["--model", "mnist-mlp", "--dataset", "fashion-mnist", "--epochs", a.epochs, "--quiet"]
    unmarked = signet("train", *common, "--seed", a.seed, "--out", f"{work}/unmarked.safetensors")
    for n in [int(x) for x in a.bits.split(",")]:
        r = signet("embed", "--scheme", "deepsigns-hidden", *common, "--layer", "relu2", "--bits", n,
                   "--seed", a.seed, "--key-seed", a.seed, "--keys-out", f"{work}/keys{n}.wmk", "--out", f"{work}/marked{n}.safetensors")
        rows.append(dict(bits=n, ber=r["ber"], test_accuracy=r["test_accuracy"], p_value=r["p_value"],
                         unmarked_accuracy=unmarked["test_accuracy"], train_seconds=r["train_seconds"]))
    base = os.path.join(REPORTS, "deepsigns_hidden_capacity")
    write_csv(base + ".csv", rows)
    cmd = f"experiments/deepsigns_hidden.py capacity --seed {a.seed} --epochs {a.epochs} --bits {a.bits}"
    lines = [f"# DeepSigns hidden layer: capacity (paper Figure 8), Fashion-MNIST MLP, layer relu2", "",
             f"Made by `{cmd}`. Unmarked model, same seed and recipe: "
             f"{100 * unmarked['test_accuracy']:.2f}% test accuracy.", "",
             "| N (bits) | BER | test accuracy | p-value of the marked model |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['bits']} | {r['ber']:.4f} | {100 * r['test_accuracy']:.2f}% | {r['p_value']:.3g} |")
    lines += ["", "A perfect N-bit match has p = 2^-N: N >= 20 bits are needed before a match can prove "
                  "ownership at 1e-6.", "", "![capacity](deepsigns_hidden_capacity.png)"]
    write_text(base + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    if shutil.which("gnuplot") is None:
        print("gnuplot not found (apt-get install gnuplot-nox): table written, no plot", file=sys.stderr)
        return
    for term, ext in (("pngcairo size 800,500", "png"), ("svg size 800,500", "svg")):
        script = f"""
set terminal {term}
set output '{base}.{ext}.tmp'
set datafile separator ','
set key autotitle columnhead
set logscale x 2
set xlabel 'signature length N (bits)'
set ylabel 'BER'
set y2label 'test accuracy (%)'
set yrange [0:0.6]
set y2range [80:95]
set y2tics
set ytics nomirror
set grid
set title 'DeepSigns hidden-layer capacity: Fashion-MNIST MLP (seed {a.seed}, {a.epochs} epochs)'
plot '{base}.csv' using 1:2 with linespoints lw 2 title 'BER', \\
     '' using 1:($3*100) axes x1y2 with linespoints lw 2 title 'test accuracy (marked)', \\
     '' using 1:($5*100) axes x1y2 with lines dt 2 title 'test accuracy (unmarked)'
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        os.replace(f"{base}.{ext}.tmp", f"{base}.{ext}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=["fidelity", "capacity"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--bits", default=None)
    ap.add_argument("--others", type=int, default=5)
    ap.add_argument("--signet", default=SIGNET, help="the signet binary (default build/signet)")
    a = ap.parse_args()
    if a.bits is None:
        a.bits = "32" if a.experiment == "fidelity" else "4,8,16,32,64,128,256,512"
    globals()["SIGNET"] = os.path.abspath(a.signet)
    if not os.path.exists(a.signet):
        sys.exit(f"{a.signet} not found: run ./quickstart.sh or scripts/build.sh first")
    os.makedirs(REPORTS, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="signet_exp_") as work:
        (fidelity if a.experiment == "fidelity" else capacity)(a, work)


if __name__ == "__main__":
    main()
