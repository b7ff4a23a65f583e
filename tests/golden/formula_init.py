"""Deterministic parameter values that C++ reproduces bit for bit (no RNG, no libm).

Used by the golden files of models too large to store their parameters (cifar10-cnn at
3x32x32, resnet50): the script initialises every parameter with `formula_value(name, shape)`,
and tests/models/test_models_golden.cpp (FormulaInit) computes the same values.

For a parameter with full name `name` (e.g. "layer1.0.conv1.weight") and element i (flat,
row-major):
    seed = FNV-1a 32-bit hash of the name's bytes (offset 0x811c9dc5, prime 0x01000193)
    x    = (i * 0x9E3779B1 + seed) mod 2^32, then murmur3's fmix32:
           x ^= x >> 16; x *= 0x85ebca6b; x ^= x >> 13; x *= 0xc2b2ae35; x ^= x >> 16 (mod 2^32)
    v    = (x >> 12) - 2^19                       an integer in [-2^19, 2^19)
    value:
      rank >= 2 (conv / linear weight): v * 2^(e - 19), e = 1 - floor(L / 2),
                L = floor(log2(fan_in)), fan_in = prod(shape[1:])   (uniform in +-2^e,
                2^e within a factor 2 of 2/sqrt(fan_in))
      rank 1, name ends in "weight" (BatchNorm scale): 1 + v * 2^-22   (in [0.875, 1.125))
      rank 1 otherwise (biases):                       v * 2^-22       (in [-0.125, 0.125))
Every value is a float32 exactly (at most 20 significant bits times a power of two), so no
rounding mode or summation order is involved. Buffers (BatchNorm running statistics) keep
PyTorch's initial values (mean 0, var 1, num_batches_tracked 0).
"""

import numpy as np
import torch

M32 = 0xFFFFFFFF


def fnv1a32(name):
    h = 0x811C9DC5
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & M32
    return h


def formula_value(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    x = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.uint64(fnv1a32(name))) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    v = (x >> np.uint64(12)).astype(np.int64) - (1 << 19)
    v = v.astype(np.float64)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        L = fan_in.bit_length() - 1
        e = 1 - L // 2
        out = v * 2.0 ** (e - 19)
    elif name.endswith("weight"):
        out = 1.0 + v * 2.0 ** -22
    else:
        out = v * 2.0 ** -22
    out32 = out.astype(np.float32)
    assert np.array_equal(out32.astype(np.float64), out), name  # exact in float32
    return torch.from_numpy(out32.reshape(shape))


def formula_init_(model):
    """Overwrites every parameter of `model` with its formula value; returns the per-parameter
    float64 sums (in named_parameters order) for a quick check of the C++ formula."""
    sums = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(formula_value(name, tuple(p.shape)))
            sums.append(float(p.double().sum()))
    return torch.tensor(sums, dtype=torch.float64)
