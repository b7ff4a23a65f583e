#!/usr/bin/env python3
"""By-hand check: a torchvision ResNet-50 state dict with no Signet metadata through `signet`.

Makes `torchvision.models.resnet50()` (random init, torch.manual_seed(SEED), 1000 classes),
saves exactly its state_dict() as safetensors with no metadata (what
`safetensors.torch.save_file(model.state_dict(), path)` writes; safetensors_io.py writes the
same layout, so the `safetensors` package is not needed), runs

    signet predict --weights resnet50.safetensors --input input.safetensors --out out.safetensors
    signet evaluate --weights resnet50.safetensors --dataset synthetic:3x64x64:1000

(no --model, no --input-shape: both are recognised / taken from the input and the data set) and
compares Signet's logits with PyTorch's eval-mode logits on the same input. Needs torch and
torchvision (Debian: python3-torch python3-torchvision); not run in CI.

    PYENV_VERSION=system python3 tests/golden/check_torchvision_resnet50.py --signet build/signet
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    print(out.strip() + "  (%.1f s)" % (time.time() - t0), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signet", default="build/signet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=64, help="input H = W")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default="", help="keep the files here (default: a temporary directory)")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = torchvision.models.resnet50().eval()
    x = torch.randn(a.batch, 3, a.size, a.size)
    with torch.no_grad():
        want = model(x).numpy()
    d = a.dir or tempfile.mkdtemp(prefix="signet_tv_")
    os.makedirs(d, exist_ok=True)
    weights = os.path.join(d, "resnet50.safetensors")
    safetensors_io.write(weights, dict(model.state_dict()))
    safetensors_io.write(os.path.join(d, "input.safetensors"), {"input": x})
    print("torch %s, torchvision %s: %d tensors, no metadata, in %s" %
          (torch.__version__, torchvision.__version__, len(model.state_dict()), weights))
    out = os.path.join(d, "out.safetensors")
    run([a.signet, "predict", "--weights", weights, "--input", os.path.join(d, "input.safetensors"),
         "--out", out, "--threads", str(a.threads)])
    got = safetensors_io.read(out)[0]["output"]
    diff = np.abs(got - want)
    print("logits %s: max |signet - torch| = %.3g, max |torch| = %.3g, max relative (to max |torch|) = %.3g" %
          (list(want.shape), diff.max(), np.abs(want).max(), diff.max() / np.abs(want).max()))
    print("argmax equal: %s" % bool((got.argmax(1) == want.argmax(1)).all()))
    run([a.signet, "evaluate", "--weights", weights, "--dataset", "synthetic:3x64x64:1000", "--threads",
         str(a.threads)])


if __name__ == "__main__":
    main()
