#!/usr/bin/env python3
"""Golden reference for Signet's Embedding + LSTM against PyTorch (nn.Embedding, nn.LSTM).

Writes tests/golden/lstm_golden.safetensors. The model is the front of the DeepSigns IMDB
model at a small size: ids [B=3, T=7] (vocabulary V=20) -> `embedding` nn.Embedding(20, 6)
-> x [3, 7, 6] -> `lstm` nn.LSTM(6, 5, batch_first=True) (one layer, gate order i, f, g, o)
-> output [3, 7, 5], h_n [3, 5], c_n [3, 5].

Two runs with the same parameters and ids:
  * with given initial states h0, c0 [3, 5] (PyTorch takes them as [1, 3, 5]; stored [3, 5]);
  * with zero initial states (the IMDB model's case), every name prefixed with `zero.`.
Loss of each run: loss = sum(output * r_out) + sum(h_n * r_h) + sum(c_n * r_c) with fixed
random projections r_out [3, 7, 5], r_h, r_c [3, 5], so the gradients of output, h_n and c_n
all matter.

Names (all F32 except `ids` I64; `loss` has shape [1]):
  embedding.weight [20, 6], lstm.weight_ih_l0 [20, 6], lstm.weight_hh_l0 [20, 5],
  lstm.bias_ih_l0 [20], lstm.bias_hh_l0 [20]   initial parameters (PyTorch init, seed 0)
  ids [3, 7], h0 [3, 5], c0 [3, 5], r_out [3, 7, 5], r_h [3, 5], r_c [3, 5]
  x [3, 7, 6]          the embedding output (the LSTM's input)
  output, h_n, c_n, loss
  grad.<param> for the five parameters, grad.x, grad.h0, grad.c0
  zero.output, zero.h_n, zero.c_n, zero.loss, zero.grad.<param>, zero.grad.x

Regenerate from the repository root (Debian's interpreter has torch 1.13):

    PYENV_VERSION=system python3 tests/golden/make_lstm.py
"""

import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

SEED = 0
V, D, H, B, T = 20, 6, 5, 3, 7
PARAMS = ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
          "lstm.bias_hh_l0"]


class Front(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, D)
        self.lstm = nn.LSTM(D, H, batch_first=True)


def run(model, ids, h0, c0, r_out, r_h, r_c, prefix, tensors):
    model.zero_grad()
    x = model.embedding(ids)
    x.retain_grad()
    if h0 is None:
        output, (h_n, c_n) = model.lstm(x)
    else:
        output, (h_n, c_n) = model.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    h_n, c_n = h_n[0], c_n[0]
    loss = (output * r_out).sum() + (h_n * r_h).sum() + (c_n * r_c).sum()
    loss.backward()
    assert torch.equal(h_n, output[:, -1])
    tensors[prefix + "output"] = output.detach()
    tensors[prefix + "h_n"] = h_n.detach()
    tensors[prefix + "c_n"] = c_n.detach()
    tensors[prefix + "loss"] = loss.detach().reshape(1)
    for n, p in model.named_parameters():
        tensors[prefix + "grad." + n] = p.grad.detach().clone()
    tensors[prefix + "grad.x"] = x.grad.detach().clone()
    if h0 is not None:
        tensors[prefix + "grad.h0"] = h0.grad.detach().clone()
        tensors[prefix + "grad.c0"] = c0.grad.detach().clone()
    return x.detach(), loss.item()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "lstm_golden.safetensors"))
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = Front()  # draws: embedding.weight (normal), then the LSTM's four (uniform)
    ids = torch.randint(0, V, (B, T), dtype=torch.int64)
    h0 = (torch.rand(B, H) * 2 - 1).requires_grad_()
    c0 = (torch.rand(B, H) * 2 - 1).requires_grad_()
    r_out = torch.randn(B, T, H)
    r_h = torch.randn(B, H)
    r_c = torch.randn(B, H)
    names = [n for n, _ in model.named_parameters()]
    assert names == PARAMS, names

    tensors = {n: p.detach().clone() for n, p in model.named_parameters()}
    tensors.update({"ids": ids, "h0": h0.detach(), "c0": c0.detach(), "r_out": r_out,
                    "r_h": r_h, "r_c": r_c})
    x, loss = run(model, ids, h0, c0, r_out, r_h, r_c, "", tensors)
    tensors["x"] = x
    _, loss_zero = run(model, ids, None, None, r_out, r_h, r_c, "zero.", tensors)

    meta = {
        "generator": "tests/golden/make_lstm.py",
        "format_version": "1",
        "model": "nn.Embedding(20, 6) -> nn.LSTM(6, 5, batch_first=True)",
        "torch_version": torch.__version__,
        "seed": str(SEED),
        "gate_order": "i,f,g,o",
        "loss": "sum(output*r_out) + sum(h_n*r_h) + sum(c_n*r_c)",
        "params": ",".join(PARAMS),
    }
    nbytes = safetensors_io.write(args.out, tensors, meta)
    print("wrote %s (%d bytes, %d tensors); loss %.7f, zero-state loss %.7f"
          % (args.out, nbytes, len(tensors), loss, loss_zero))
    print("ids", ids.tolist())


if __name__ == "__main__":
    main()
