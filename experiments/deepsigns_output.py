#!/usr/bin/env python3
"""DeepSigns output-layer (1-bit, black-box) watermark experiments on Fashion-MNIST, through the
`signet` CLI (paper Section 3.2, Algorithm 2, Eq. 5; Section 4.3 integrity, Figure 7).

  experiments/deepsigns_output.py [--signet build/signet] [--seed 1] [--keys 20] [--epochs 5]
                                  [--cnn-epochs 2] [--no-cnn] [--key-seeds 3]
                                  [--attack-epochs 1,2,5] [--attack-lr 0.005] [--others 5]
                                  [--cnn-others 5] [--cache runs/cache]

(a) fidelity / reliability: the unmarked model (`signet train`, seed --seed) is watermarked with
    `signet embed --scheme deepsigns-output --keys K` (density key search); the marked model must
    be detected; test accuracy of marked vs unmarked. For mnist-mlp and, unless --no-cnn and when
    the registry has it, cifar10-cnn (trained --cnn-epochs epochs on Fashion-MNIST, 1x28x28).
    Beside the unmarked model, the same unmarked model fine-tuned for as many epochs at the same
    learning rate WITHOUT keys (`signet finetune`): the watermark's own cost, apart from the
    extra training the embedding gives.
(b) integrity (paper Figure 7 / Table 6): each key set of (a) is asked of every unmarked model:
    --others mnist-mlp and --cnn-others cifar10-cnn trained with other seeds, so each key set
    meets at least 5 models of its own architecture with other seeds and 5 of the other
    architecture. None may be detected. Table + gnuplot plot of mismatches against theta.
(c) density-selected vs random keys (`--key-search density|random`, --key-seeds key seeds on
    the same unmarked MLP): fidelity, key yield (survivors of Key Generation 2 / K'), and
    detection after the fine-tuning attack (`signet finetune` on the training data only, plain
    cross-entropy, learning rate --attack-lr, cumulative --attack-epochs), plus one stronger
    attack at the original learning rate 0.05 for 2 epochs.

Unmarked models are cached in --cache as <model>-e<E>-s<S>.safetensors (+ .json, the output of
`signet train --json`), exactly what `signet train --model M --dataset fashion-mnist --epochs E
--seed S` writes; they are trained only when missing (the evaluation configs share them).

Writes reports/deepsigns_output_{fidelity,integrity,keysearch}.{csv,md},
reports/deepsigns_output_integrity.{png,svg} (needs gnuplot) and reports/deepsigns_output.md
(all tables). Every number comes from `signet ... --json`; rerun the command to check it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_io import write_csv, write_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORTS = os.path.join(ROOT, "reports")
SIGNET = os.path.join(ROOT, "build", "signet")
LOG = []
WORK = ""  # the temporary directory, shown as $W in the command log


def signet(*args):
    cmd = [SIGNET, *map(str, args), "--json"]
    shown = " ".join(["signet", *cmd[1:-1]])
    if WORK:
        shown = shown.replace(WORK + "/", "$W/")
    print("$", shown, file=sys.stderr, flush=True)
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")
    LOG.append((shown, time.time() - t0))
    return json.loads(out.stdout.strip().splitlines()[-1])




def verify(keys, weights):
    args = ["verify", "--keys", keys]
    for w in weights:
        args += ["--weights", w]
    r = signet(*args)
    return r["results"] if "results" in r else [r]


def pct(x):
    return f"{100 * x:.2f}%"


def has_model(name):
    out = subprocess.run([SIGNET, "train", "--help"], capture_output=True, text=True).stdout
    return name in out


def main():
    global SIGNET, WORK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signet", default=SIGNET, help="the signet binary (default build/signet)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=5, help="training epochs of every MLP")
    ap.add_argument("--cnn-epochs", type=int, default=2, help="training epochs of every CNN")
    ap.add_argument("--no-cnn", action="store_true", help="skip cifar10-cnn")
    ap.add_argument("--others", type=int, default=5, help="unmarked MLPs with other seeds")
    ap.add_argument("--cnn-others", type=int, default=5, help="unmarked CNNs with other seeds")
    ap.add_argument("--cache", default=os.path.join(ROOT, "runs", "cache"),
                    help="directory of cached unmarked models (default runs/cache)")
    ap.add_argument("--key-seeds", type=int, default=3, help="key seeds for density vs random")
    ap.add_argument("--attack-epochs", default="1,2,5", help="cumulative fine-tuning attack epochs")
    ap.add_argument("--attack-lr", type=float, default=0.005)
    a = ap.parse_args()
    SIGNET = os.path.abspath(a.signet)
    if not os.path.exists(SIGNET):
        sys.exit(f"{SIGNET} not found: run ./quickstart.sh or scripts/build.sh first, or pass --signet")
    os.makedirs(REPORTS, exist_ok=True)
    cnn = not a.no_cnn and has_model("cifar10-cnn")
    cmdline = ("experiments/deepsigns_output.py" + f" --seed {a.seed} --keys {a.keys} --epochs {a.epochs}" +
               (f" --cnn-epochs {a.cnn_epochs}" if cnn else " --no-cnn") +
               f" --others {a.others}" + (f" --cnn-others {a.cnn_others}" if cnn else "") +
               f" --key-seeds {a.key_seeds} --attack-epochs {a.attack_epochs}"
               f" --attack-lr {a.attack_lr}")
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix="signet_dso_") as w:
        WORK = w
        data = ["--dataset", "fashion-mnist", "--quiet"]
        # ------------------------------------------------------------------ models
        models = {}  # name -> dict(path, arch, seed, test_accuracy)

        os.makedirs(a.cache, exist_ok=True)

        def train(name, arch, seed, epochs):
            path = os.path.join(a.cache, f"{arch}-e{epochs}-s{seed}.safetensors")
            side = path[:-len(".safetensors")] + ".json"
            if os.path.exists(path) and os.path.exists(side):
                with open(side) as f:
                    r = json.loads(f.read().strip().splitlines()[-1])
                LOG.append((f"(cached) signet train --model {arch} --dataset fashion-mnist --epochs {epochs} "
                            f"--seed {seed}: {os.path.relpath(path, ROOT)}", 0.0))
            else:
                tmp = path + ".part.safetensors"
                r = signet("train", "--model", arch, *data, "--epochs", epochs, "--seed", seed, "--out", tmp)
                with open(side + ".tmp", "w") as f:
                    f.write(json.dumps(r) + "\n")
                os.replace(tmp, path)
                os.replace(side + ".tmp", side)
            models[name] = dict(path=path, arch=arch, seed=seed, test_accuracy=r["test_accuracy"],
                                train_seconds=r["train_seconds"])

        train("mlp-s%d" % a.seed, "mnist-mlp", a.seed, a.epochs)
        for s in range(a.seed + 1, a.seed + 1 + a.others):
            train("mlp-s%d" % s, "mnist-mlp", s, a.epochs)
        if cnn:
            for s in range(a.seed, a.seed + 1 + a.cnn_others):
                train("cnn-s%d" % s, "cifar10-cnn", s, a.cnn_epochs)

        # ------------------------------------------------------------------ (a) fidelity
        def embed(base, tag, key_search, seed):
            keys, out = f"{w}/{tag}.wmk", f"{w}/{tag}.safetensors"
            r = signet("embed", "--scheme", "deepsigns-output", *data, "--from", models[base]["path"], "--keys", a.keys,
                       "--key-search", key_search, "--seed", seed, "--key-seed", seed, "--keys-out", keys, "--out", out)
            r["keys_path"], r["out_path"] = keys, out
            return r

        fid_rows, marked = [], {}
        bases = ["mlp-s%d" % a.seed] + (["cnn-s%d" % a.seed] if cnn else [])
        for base in bases:
            r = embed(base, f"{base}-density", "density", a.seed)
            marked[base] = r
            v = verify(r["keys_path"], [r["out_path"]])[0]
            # The same extra training without keys: what the fine-tuning alone does to accuracy.
            same = signet("finetune", "--weights", models[base]["path"], *data, "--epochs", r["finetune_epochs"],
                          "--lr", 0.005, "--seed", a.seed, "--out", f"{w}/{base}-same-budget.safetensors")
            fid_rows.append(dict(model=models[base]["arch"], seed=a.seed, keys=a.keys, key_search="density",
                                 unmarked_test_accuracy=r["unmarked_test_accuracy"], marked_test_accuracy=r["test_accuracy"],
                                 accuracy_change=r["test_accuracy"] - r["unmarked_test_accuracy"],
                                 same_budget_test_accuracy=same["test_accuracy"],
                                 change_vs_same_budget=r["test_accuracy"] - same["test_accuracy"],
                                 candidates=r["candidates"], drawn=r["drawn"], pca_components=r["pca_components"],
                                 pca_explained=r["pca_explained"], eps=r["eps"], density_threshold=r["density_threshold"],
                                 finetune_epochs=r["finetune_epochs"], candidate_key_accuracy=r["candidate_key_accuracy"],
                                 survivors=r["survivors"], search_seconds=r["search_seconds"],
                                 finetune_seconds=r["finetune_seconds"], mismatches=v["mismatches"], theta=v["theta"],
                                 p_value=v["p_value"], detected=v["detected"], keys_sha256=r["keys_sha256"]))
        write_csv(os.path.join(REPORTS, "deepsigns_output_fidelity.csv"), fid_rows)
        fid_md = ["## (a) Fidelity and detection of the marked model", "",
                  "| model | unmarked test acc. | marked test acc. | change | unmarked + same fine-tuning, no keys | "
                  "change vs that | K' (drawn) | PCA comps (var.) | eps | "
                  "accept if count < | fine-tune epochs | K' keys right | survivors | mismatches / theta | p-value | "
                  "detected | keys SHA-256 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in fid_rows:
            fid_md.append(f"| {r['model']} | {pct(r['unmarked_test_accuracy'])} | {pct(r['marked_test_accuracy'])} | "
                          f"{100 * r['accuracy_change']:+.2f} pts | {pct(r['same_budget_test_accuracy'])} | "
                          f"{100 * r['change_vs_same_budget']:+.2f} pts | {r['candidates']} ({r['drawn']}) | "
                          f"{r['pca_components']} ({100 * r['pca_explained']:.1f}%) | {r['eps']:.3g} | "
                          f"{r['density_threshold']} | {r['finetune_epochs']} | {pct(r['candidate_key_accuracy'])} | "
                          f"{r['survivors']}/{r['candidates']} | {r['mismatches']}/{r['keys']} (theta {r['theta']}) | "
                          f"{r['p_value']:.3g} | {'yes' if r['detected'] else 'NO'} | `{r['keys_sha256'][:16]}…` |")
        fid_md += ["", "\"change\" compares with the unmarked model as trained; \"change vs that\" with the unmarked "
                       "model fine-tuned for the same epochs at the same learning rate without keys (the embedding "
                       "is extra training, which alone moves accuracy).",
                   "", "Paper Table 2 (MNIST MLP, K = 20): 98.54% -> 98.59%; CIFAR10-CNN 78.47% -> 81.46%."]

        # ------------------------------------------------------------------ (b) integrity
        int_rows = []
        for base in bases:
            keys = marked[base]["keys_path"]
            suspects = list(models)  # every unmarked model, the keys' own source included
            res = verify(keys, [models[n]["path"] for n in suspects])
            for n, v in zip(suspects, res):
                int_rows.append(dict(keys_of=models[base]["arch"], keys_sha256=marked[base]["keys_sha256"],
                                     suspect=n, source_of_keys=n == base, arch=models[n]["arch"], seed=models[n]["seed"],
                                     same_architecture=models[n]["arch"] == models[base]["arch"],
                                     test_accuracy=models[n]["test_accuracy"], mismatches=v["mismatches"],
                                     keys=v["keys_k"], theta=v["theta"], p_value=v["p_value"], detected=v["detected"]))
        write_csv(os.path.join(REPORTS, "deepsigns_output_integrity.csv"), int_rows)
        int_md = ["## (b) Integrity: unmarked models queried with the owner's keys (paper Figure 7, Table 6)", "",
                  "| keys of | suspect (unmarked) | architecture | seed | test acc. | mismatches | theta | p-value | "
                  "detected |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in int_rows:
            int_md.append(f"| {r['keys_of']} | {r['suspect']}{' (keys made from it)' if r['source_of_keys'] else ''} | "
                          f"{r['arch']}{'' if r['same_architecture'] else ' (other)'} | "
                          f"{r['seed']} | {pct(r['test_accuracy'])} | {r['mismatches']}/{r['keys']} | {r['theta']} | "
                          f"{r['p_value']:.3g} | {'YES' if r['detected'] else 'no'} |")
        fp = sum(r["detected"] for r in int_rows)
        int_md += ["", f"False positives: {fp} of {len(int_rows)} (detected when mismatches < theta; an unmarked "
                       f"model is detected by chance with probability <= 0.1%).",
                   "The unmarked model each key set was made from is in the table too (\"keys made from it\"): "
                   "Key Generation 2 keeps only keys it gets wrong, so it mismatches every key by construction.",
                   "", "![integrity](deepsigns_output_integrity.png)"]

        # ------------------------------------------------------------------ (c) density vs random
        ks_rows, attack_rows = [], []
        base = "mlp-s%d" % a.seed
        for ks in ("density", "random"):
            for s in range(a.seed, a.seed + a.key_seeds):
                r = marked[base] if (ks == "density" and s == a.seed) else embed(base, f"{base}-{ks}-k{s}", ks, s)
                ks_rows.append(dict(key_search=ks, key_seed=s, unmarked_test_accuracy=r["unmarked_test_accuracy"],
                                    marked_test_accuracy=r["test_accuracy"],
                                    accuracy_change=r["test_accuracy"] - r["unmarked_test_accuracy"],
                                    candidates=r["candidates"], drawn=r["drawn"],
                                    acceptance=r["candidates"] / r["drawn"], finetune_epochs=r["finetune_epochs"],
                                    candidate_key_accuracy=r["candidate_key_accuracy"],
                                    right_on_marked=r["right_on_marked"], wrong_on_unmarked=r["wrong_on_unmarked"],
                                    survivors=r["survivors"], key_yield=r["key_yield"],
                                    search_seconds=r["search_seconds"], finetune_seconds=r["finetune_seconds"],
                                    keys_path=r["keys_path"], out_path=r["out_path"]))
            # The fine-tuning attack on the first key seed's marked model (training data only).
            r0 = [x for x in ks_rows if x["key_search"] == ks][0]
            prev, done = r0["out_path"], 0
            plan = [(int(e), a.attack_lr) for e in a.attack_epochs.split(",")]
            for target, lr in plan:
                out = f"{w}/{ks}-ft{target}.safetensors"
                f = signet("finetune", "--weights", prev, *data, "--epochs", target - done, "--lr", lr,
                           "--seed", 100 + target, "--out", out)
                v = verify(r0["keys_path"], [out])[0]
                attack_rows.append(dict(key_search=ks, lr=lr, epochs=target, test_accuracy=f["test_accuracy"],
                                        mismatches=v["mismatches"], theta=v["theta"], p_value=v["p_value"],
                                        detected=v["detected"]))
                prev, done = out, target
            out = f"{w}/{ks}-strong.safetensors"
            f = signet("finetune", "--weights", r0["out_path"], *data, "--epochs", 2, "--lr", 0.05, "--seed", 200,
                       "--out", out)
            v = verify(r0["keys_path"], [out])[0]
            attack_rows.append(dict(key_search=ks, lr=0.05, epochs=2, test_accuracy=f["test_accuracy"],
                                    mismatches=v["mismatches"], theta=v["theta"], p_value=v["p_value"],
                                    detected=v["detected"]))
        for r in ks_rows:
            r.pop("keys_path")
            r.pop("out_path")
        write_csv(os.path.join(REPORTS, "deepsigns_output_keysearch.csv"), ks_rows)
        write_csv(os.path.join(REPORTS, "deepsigns_output_finetune_attack.csv"), attack_rows)

        def mean(rows, key):
            return sum(r[key] for r in rows) / len(rows)

        ks_md = ["## (c) Density-selected vs random keys (mnist-mlp, same unmarked model, "
                 f"{a.key_seeds} key seeds each)", "",
                 "| key search | key seed | test acc. change | K' accepted / drawn | fine-tune epochs | K' keys right "
                 "on marked | wrong on unmarked | survivors (yield) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in ks_rows:
            ks_md.append(f"| {r['key_search']} | {r['key_seed']} | {100 * r['accuracy_change']:+.2f} pts | "
                         f"{r['candidates']} / {r['drawn']} | {r['finetune_epochs']} | {pct(r['candidate_key_accuracy'])} | "
                         f"{r['wrong_on_unmarked']} | {r['survivors']} ({pct(r['key_yield'])}) |")
        for ks in ("density", "random"):
            rows = [r for r in ks_rows if r["key_search"] == ks]
            ks_md.append(f"| **{ks} mean** | | {100 * mean(rows, 'accuracy_change'):+.2f} pts | | "
                         f"{mean(rows, 'finetune_epochs'):.1f} | {pct(mean(rows, 'candidate_key_accuracy'))} | | "
                         f"{mean(rows, 'survivors'):.0f} ({pct(mean(rows, 'key_yield'))}) |")
        ks_md += ["", "Fine-tuning attack (training data only, plain cross-entropy, SGD momentum 0.9; "
                      "epochs are cumulative for the first learning rate), on the first key seed's marked model:", "",
                  "| key search | lr | epochs | test acc. | mismatches | theta | p-value | detected |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in attack_rows:
            ks_md.append(f"| {r['key_search']} | {r['lr']} | {r['epochs']} | {pct(r['test_accuracy'])} | "
                         f"{r['mismatches']}/{a.keys} | {r['theta']} | {r['p_value']:.3g} | "
                         f"{'yes' if r['detected'] else 'NO'} |")
        ks_md += ["", "Paper Table 3 (output layer, MNIST-MLP): detected after 50/100/200 fine-tuning epochs at "
                      "the final learning rate."]

    total = time.time() - t_start
    # ------------------------------------------------------------------ plot
    plot_integrity(int_rows, a)
    head = ["# DeepSigns output layer (1-bit, black-box): Fashion-MNIST", "",
            f"Made by `{cmdline}` in {total / 60:.1f} minutes ({os.cpu_count()} cores). "
            f"K = {a.keys} keys, K' = 20 K candidates, p = 0.999 (Eq. 5), detected when mismatches < theta. "
            f"MLPs trained {a.epochs} epochs" + (f", CNNs {a.cnn_epochs} epochs" if cnn else "") +
            " (`signet train`, SGD 0.05 cosine); watermark fine-tuning at lr 0.005 (original / 10) on the "
            "60,000 training images + the K' keys repeated to 1/6 of the mixture, until 99% of the K' keys are "
            "right (limit 30 epochs).", ""]
    write_text(os.path.join(REPORTS, "deepsigns_output_fidelity.md"), "\n".join(head + fid_md) + "\n")
    write_text(os.path.join(REPORTS, "deepsigns_output_integrity.md"), "\n".join(head + int_md) + "\n")
    write_text(os.path.join(REPORTS, "deepsigns_output_keysearch.md"), "\n".join(head + ks_md) + "\n")
    timing = ["## Commands and their wall time", "", "| s | command |", "| --- | --- |"] + \
             [f"| {t:.1f} | `{c}` |" for c, t in LOG]
    text = "\n".join(head + fid_md + [""] + int_md + [""] + ks_md + [""] + timing) + "\n"
    write_text(os.path.join(REPORTS, "deepsigns_output.md"), text)
    print(text)


def plot_integrity(rows, a):
    base = os.path.join(REPORTS, "deepsigns_output_integrity")
    if shutil.which("gnuplot") is None:
        print("gnuplot not found (apt-get install gnuplot-nox): tables written, no plot", file=sys.stderr)
        return
    dat = base + ".dat"
    groups = sorted(set(r["keys_of"] for r in rows))
    with open(dat, "w") as f:
        i = 0
        for g in groups:
            f.write(f"# keys of {g}\n")
            for r in rows:
                if r["keys_of"] != g:
                    continue
                i += 1
                label = r["suspect"] + ("*" if r["source_of_keys"] else "")
                f.write(f"{i} {r['mismatches']} {r['theta']} \"{label}\"\n")
            f.write("\n\n")
    plots = []
    for gi, g in enumerate(groups):
        plots.append(f"'{dat}' index {gi} using 1:2:xtic(4) with points pt 7 ps 1.5 title 'mismatches, keys of {g}'")
    plots.append(f"'{dat}' using 1:3 with steps dt 2 lw 2 lc rgb 'dark-green' title 'theta (detected below)'")
    for term, ext in (("pngcairo size 900,500", "png"), ("svg size 900,500", "svg")):
        script = f"""
set terminal {term}
set output '{base}.{ext}.tmp'
set title 'DeepSigns output-layer integrity: unmarked Fashion-MNIST models, K = {a.keys} keys (paper Fig. 7)'
set ylabel 'mismatches with the key labels'
set yrange [0:{a.keys + 1}]
set xrange [0.5:{len(rows) + 0.5}]
set bmargin 5
set xtics rotate by -40 font ',9'
set label 1 '* = the unmarked model the keys were made from' at graph 0.02, graph 0.06 font ',9'
set grid ytics
set key bottom right
plot {', '.join(plots)}
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        os.replace(f"{base}.{ext}.tmp", f"{base}.{ext}")
    os.remove(dat)


if __name__ == "__main__":
    main()
