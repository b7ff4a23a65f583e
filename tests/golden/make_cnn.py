#!/usr/bin/env python3
"""Golden reference for the `cifar10-cnn` model (DeepSigns Table 2), made with PyTorch.

Cifar10CNN (below) is the PyTorch module whose state_dict names Signet's cifar10-cnn uses:
  features: 0 Conv2d(C,32,3,p=1) 1 ReLU 2 Conv2d(32,32,3,p=1) 3 ReLU 4 MaxPool2d(2,2)
            5 Conv2d(32,64,3,p=1) 6 ReLU 7 Conv2d(64,64,3,p=1) 8 ReLU 9 MaxPool2d(2,2)
  flatten
  classifier: 0 Dropout(p) 1 Linear(64*(H//4)*(W//4), 512) 2 ReLU 3 Dropout(p) 4 Linear(512, classes)

At 3x32x32 the model has 2,168,362 parameters (8.7 MB in F32; its gradients as much again),
too many for a small committed file, so the parameters are NOT stored: every parameter is set
by the exact formula of formula_init.py, which the C++ test reproduces bit for bit.

Writes tests/golden/cnn_golden.safetensors (all F32 except `target` I64, `init_sums` F64):
  init_sums [10]        float64 sum of each parameter after formula init (named_parameters order)
  input [2,3,32,32]     torch.randn, fed as is;   target [2] torch.randint(0, 10)
  logits [2,10], loss [1] (mean cross-entropy), penultimate [2,512] (classifier.2, the ReLU
                        of the 512FC: the DeepSigns tap)
  grad.<param>          every parameter's gradient, except classifier.1.weight [512,4096]
                        whose first 32 rows are stored as grad_rows32.classifier.1.weight [32,4096]
  fmnist.input [2,1,28,28], fmnist.logits [2,10], fmnist.loss [1]: the same model built for
                        1x28x28 (Fashion-MNIST; flatten 3136), formula init, forward only.
The model is in training mode with dropout 0 (no randomness). One thread: reproducible.

    PYENV_VERSION=system python3 tests/golden/make_cnn.py
"""

import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from formula_init import formula_init_  # noqa: E402

SEED = 0
BATCH = 2
ROWS = 32


class Cifar10CNN(nn.Module):
    """cifar10-cnn: 32C3-32C3-MP2-64C3-64C3-MP2-512FC-10FC, ReLU, 3x3 convs with padding 1."""

    def __init__(self, in_shape=(3, 32, 32), classes=10, dropout=0.0):
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(64 * (h // 4) * (w // 4), 512), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(512, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "cnn_golden.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)

    model = Cifar10CNN().train()
    sums = formula_init_(model)
    x = torch.randn(BATCH, 3, 32, 32)
    y = torch.randint(0, 10, (BATCH,))
    feats = {}
    model.classifier[2].register_forward_hook(lambda m, i, o: feats.__setitem__("p", o.detach().clone()))
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()

    t = {"init_sums": sums, "input": x, "target": y, "logits": logits.detach(),
         "loss": loss.detach().reshape(1), "penultimate": feats["p"]}
    for n, p in model.named_parameters():
        if n == "classifier.1.weight":
            t["grad_rows%d.%s" % (ROWS, n)] = p.grad[:ROWS].clone()
        else:
            t["grad." + n] = p.grad
    small = Cifar10CNN((1, 28, 28)).train()
    formula_init_(small)
    xs = torch.randn(BATCH, 1, 28, 28)
    ls = small(xs)
    t["fmnist.input"] = xs
    t["fmnist.logits"] = ls.detach()
    t["fmnist.loss"] = F.cross_entropy(ls, y).detach().reshape(1)

    meta = {"generator": "tests/golden/make_cnn.py", "format_version": "1", "model": "cifar10-cnn",
            "torch_version": torch.__version__, "seed": str(SEED), "init": "formula_init.py",
            "params": ",".join(n for n, _ in model.named_parameters())}
    nbytes = safetensors_io.write(args.out, t, meta)
    print("wrote %s (%d bytes, %d tensors); loss %.7f" % (args.out, nbytes, len(t), loss.item()))


if __name__ == "__main__":
    main()
