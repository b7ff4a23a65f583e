#!/usr/bin/env python3
"""Golden reference for the `mnist-mlp` model (DeepSigns Table 2), made with PyTorch.

Writes tests/golden/mlp_golden.safetensors (see tests/golden/README.md for every name):
  * the initial parameters under their PyTorch names (fc1.weight, ...),
  * a fixed batch `input` [16,1,28,28] float32 and `target` [16] int64,
  * the forward `logits` [16,10], the mean cross-entropy `loss` [1],
  * every gradient of `loss` w.r.t. each parameter: `grad.<param>`,
  * for SGD (momentum, weight decay), Adam and AdamW: 5 steps on the same batch from the
    same initial parameters; `<opt>_losses` [5] holds the loss computed *before* each step
    (so `<opt>_losses[0] == loss`), `<opt>_final.<param>` the parameters after the 5th step
    for the subset FINAL_PARAMS only (fc1.bias, fc2.bias, fc3.weight, fc3.bias), which keeps
    the file near 5.5 MB instead of ~14 MB; the biases of fc1/fc2 still depend on every
    upstream gradient, so the subset checks the whole update chain.

Everything is float32 and computed with one thread so the file is reproducible bit for bit
on a given torch build.  Regenerate from the repository root with:

    PYENV_VERSION=system python3 tests/golden/make_mlp.py

(Debian's system interpreter has torch; the first python3 on PATH may not.)
"""

import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

SEED = 0
BATCH = 16
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST pixel statistics in [0,1]
STEPS = 5
PARAM_NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
FINAL_PARAMS = ["fc1.bias", "fc2.bias", "fc3.weight", "fc3.bias"]

OPTIMIZERS = {
    "sgd": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=5e-4,
                                  nesterov=False)),
    "adam": (torch.optim.Adam, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                    amsgrad=False)),
    "adamw": (torch.optim.AdamW, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                                      amsgrad=False)),
}


class MnistMLP(nn.Module):
    """mnist-mlp: flatten 784 -> fc1 512 -> ReLU -> fc2 512 -> ReLU -> fc3 10 (logits)."""

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


def train_steps(init_state, x, y, opt_name):
    opt_cls, hp = OPTIMIZERS[opt_name]
    model = MnistMLP()
    model.load_state_dict(init_state, strict=True)
    opt = opt_cls(model.parameters(), **hp)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    final = {n: p.detach().clone() for n, p in model.named_parameters()}
    return torch.tensor(losses, dtype=torch.float32), final


def fmt(v):
    if isinstance(v, tuple):
        return ",".join(repr(float(a)) for a in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(float(v))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "mlp_golden.safetensors"))
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    # Order of RNG draws: model init (fc1, fc2, fc3: weight then bias), input, target.
    model = MnistMLP()
    x = (torch.rand(BATCH, 1, 28, 28, dtype=torch.float32) - MEAN) / STD
    y = torch.randint(0, 10, (BATCH,), dtype=torch.int64)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert list(init_state) == PARAM_NAMES, list(init_state)

    logits = model(x)
    loss = F.cross_entropy(logits, y)  # reduction='mean'
    loss.backward()

    tensors = {}
    for n in PARAM_NAMES:
        tensors[n] = init_state[n]
    tensors["input"] = x
    tensors["target"] = y
    tensors["logits"] = logits.detach()
    tensors["loss"] = loss.detach().reshape(1)
    for n, p in model.named_parameters():
        tensors["grad." + n] = p.grad.detach()

    for opt_name in OPTIMIZERS:
        losses, final = train_steps(init_state, x, y, opt_name)
        assert abs(losses[0].item() - loss.item()) <= 1e-6 * max(1.0, abs(loss.item()))
        tensors[opt_name + "_losses"] = losses
        for n in FINAL_PARAMS:
            tensors["%s_final.%s" % (opt_name, n)] = final[n]

    meta = {
        "generator": "tests/golden/make_mlp.py",
        "format_version": "1",
        "model": "mnist-mlp",
        "architecture": "flatten(784) -> fc1 Linear(784,512) -> ReLU -> fc2 Linear(512,512) "
                        "-> ReLU -> fc3 Linear(512,10)",
        "linear_convention": "y = x @ weight.T + bias; weight is [out_features, in_features]",
        "torch_version": torch.__version__,
        "seed": str(SEED),
        "batch_size": str(BATCH),
        "input": "(torch.rand(B,1,28,28) - input_mean) / input_std",
        "input_mean": fmt(MEAN),
        "input_std": fmt(STD),
        "target": "torch.randint(0, 10, (B,))",
        "loss": "cross_entropy, reduction=mean, over the batch",
        "params": ",".join(PARAM_NAMES),
        "final_params": ",".join(FINAL_PARAMS),
        "optimizers": ",".join(OPTIMIZERS),
        "steps": str(STEPS),
        "losses": "<opt>_losses[k] = loss before step k+1 (forward of the params after k steps)",
    }
    for opt_name, (_, hp) in OPTIMIZERS.items():
        for k, v in hp.items():
            meta["%s.%s" % (opt_name, k)] = fmt(v)

    nbytes = safetensors_io.write(args.out, tensors, meta)
    print("wrote %s (%d bytes, %d tensors)" % (args.out, nbytes, len(tensors)))
    print("loss %.7f  sgd %s" % (loss.item(), tensors["sgd_losses"].tolist()))
    print("adam %s  adamw %s" % (tensors["adam_losses"].tolist(), tensors["adamw_losses"].tolist()))


if __name__ == "__main__":
    main()
