#!/usr/bin/env python3
"""Evaluate Signet-saved `mnist-mlp` weights with PyTorch on the Fashion-MNIST test set.

Cross-checks that a Signet safetensors file loads into the PyTorch model by name
(load_state_dict(strict=True): exactly fc1.weight [512,784], fc1.bias [512],
fc2.weight [512,512], fc2.bias [512], fc3.weight [10,512], fc3.bias [10]; extra or missing
names are an error) and that the accuracy PyTorch measures matches Signet's.

    PYENV_VERSION=system python3 tests/golden/torch_eval.py --weights model.safetensors \
        [--data-dir /usr/share/datasets/fashion-mnist] [--mean 0.2860 --std 0.3530]

Images are read from t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz (IDX format),
scaled to [0,1] (/255), normalised as (x - mean) / std, and shaped [N,1,28,28].
Prints one JSON line: {"test_accuracy": ..., "correct": ..., "total": ...}.
Tensors of dtype F64/F16 are cast to float32; any non-parameter entries in the file make
strict loading fail (use --ignore-extra to drop them, e.g. optimizer state in a checkpoint).
"""

import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from make_cnn import Cifar10CNN  # noqa: E402
from make_mlp import MnistMLP  # noqa: E402


def read_idx(path):
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError("%s: too short for an IDX header" % path)
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if zero != 0 or dtype_code not in dtypes:
        raise ValueError("%s: bad IDX magic" % path)
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    dt = np.dtype(dtypes[dtype_code])
    count = int(np.prod(dims)) if dims else 1
    off = 4 + 4 * ndim
    if len(data) - off != count * dt.itemsize:
        raise ValueError("%s: expected %d data bytes, found %d"
                         % (path, count * dt.itemsize, len(data) - off))
    return np.frombuffer(data, dtype=dt, offset=off).reshape(dims)


def load_model(weights, ignore_extra=False, name="mnist-mlp"):
    tensors, _meta = safetensors_io.read(weights)
    model = MnistMLP() if name == "mnist-mlp" else Cifar10CNN(in_shape=(1, 28, 28))
    wanted = set(model.state_dict())
    if ignore_extra:
        tensors = {k: v for k, v in tensors.items() if k in wanted}
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description="Fashion-MNIST test accuracy of Signet mnist-mlp or "
                                 "cifar10-cnn (trained on the 28x28 images) weights")
    ap.add_argument("--weights", required=True, help="safetensors file with the model's parameters")
    ap.add_argument("--model", default="mnist-mlp", choices=["mnist-mlp", "cifar10-cnn"])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--mean", type=float, default=0.2860)
    ap.add_argument("--std", type=float, default=0.3530)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--ignore-extra", action="store_true",
                    help="drop entries that are not model parameters before strict loading")
    args = ap.parse_args()

    model = load_model(args.weights, args.ignore_extra, args.model)
    images = read_idx(os.path.join(args.data_dir, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.data_dir, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError("images/labels count mismatch: %d vs %d" % (images.shape[0], labels.shape[0]))
    x = (images.astype(np.float32) / 255.0 - np.float32(args.mean)) / np.float32(args.std)
    x = torch.from_numpy(np.ascontiguousarray(x)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels)

    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], args.batch_size):
            pred = model(x[i:i + args.batch_size]).argmax(dim=1)
            correct += int((pred == y[i:i + args.batch_size]).sum())
    total = int(y.shape[0])
    print(json.dumps({"test_accuracy": correct / total, "correct": correct, "total": total}))


if __name__ == "__main__":
    main()
