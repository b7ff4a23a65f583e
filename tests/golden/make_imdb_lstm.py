#!/usr/bin/env python3
"""Golden reference for the `imdb-lstm` model (DeepSigns Section 6), made with PyTorch.

ImdbLSTM (below): embedding nn.Embedding(V, 32) -> lstm nn.LSTM(32, 100, batch_first=True)
-> its last hidden state h_n [B, 100] -> fc nn.Linear(100, 1) -> one logit; loss
binary_cross_entropy_with_logits (mean) against labels 0/1. V = words + 2 (0 = padding,
1 = out-of-vocabulary, as Signet's imdb loader), here 5002 (the paper's 5000 words).

Writes tests/golden/imdb_lstm_golden.safetensors, PyTorch init (seed 0), batch 3, length 20:
  embedding.weight [5002,32], lstm.weight_ih_l0 [400,32], lstm.weight_hh_l0 [400,100],
  lstm.bias_ih_l0 [400], lstm.bias_hh_l0 [400], fc.weight [1,100], fc.bias [1]
  input [3,20] I64 token ids (row 1 pre-padded with 7 zeros, like the loader's short reviews)
  target [3] I64 labels 0/1, logits [3,1], loss [1], penultimate [3,100] (h_n: the tap `lstm`)
  grad.<param> every parameter's gradient (the embedding's is nonzero only on used ids)
About 1.7 MB.

    PYENV_VERSION=system python3 tests/golden/make_imdb_lstm.py
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
VOCAB, DIM, HIDDEN = 5002, 32, 100
BATCH, LEN = 3, 20


class ImdbLSTM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=DIM, hidden=HIDDEN):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def features(self, ids):
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return h_n[0]

    def forward(self, ids):
        return self.fc(self.features(ids))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "imdb_lstm_golden.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)

    model = ImdbLSTM().train()
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ids = torch.randint(2, VOCAB, (BATCH, LEN))
    ids[1, :7] = 0
    ids[2, 3] = 1
    y = torch.tensor([1, 0, 1])
    feats = model.features(ids)
    logits = model.fc(feats)
    loss = F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    loss.backward()

    t = dict(init)
    t.update({"input": ids, "target": y, "logits": logits.detach(), "loss": loss.detach().reshape(1),
              "penultimate": feats.detach()})
    for n, p in model.named_parameters():
        t["grad." + n] = p.grad
    meta = {"generator": "tests/golden/make_imdb_lstm.py", "format_version": "1", "model": "imdb-lstm",
            "vocab_size": str(VOCAB), "seq_len": str(LEN), "torch_version": torch.__version__,
            "seed": str(SEED), "loss": "binary_cross_entropy_with_logits(logits[:, 0], target), mean",
            "params": ",".join(n for n, _ in model.named_parameters())}
    nbytes = safetensors_io.write(args.out, t, meta)
    print("wrote %s (%d bytes, %d tensors); loss %.7f" % (args.out, nbytes, len(t), loss.item()))


if __name__ == "__main__":
    main()
