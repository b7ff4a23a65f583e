#!/usr/bin/env python3
"""Golden reference for the `wrn-D-K` models (Wide ResNet, Zagoruyko & Komodakis 2016).

WideResNet (below) follows the common PyTorch implementation (xternalz/WideResNet-pytorch):
  conv1 Conv2d(3,16,3,p=1,bias=False)
  block1/2/3 (NetworkBlock).layer.<i> (BasicBlock): bn1, relu1, conv1 3x3 (stride), bn2, relu2,
      [dropout], conv2 3x3, convShortcut 1x1 (stride) when in != out; pre-activation: when
      in != out, relu1(bn1(x)) feeds both conv1 and convShortcut; else x is added unchanged.
      widths 16K, 32K, 64K; strides 1, 2, 2; n = (D-4)/6 blocks per group
  bn1, relu, global average pool (the reference's avg_pool2d(8) at 32x32), fc Linear(64K, classes)
  init: conv ~ N(0, 2/(k*k*out)), BN weight 1 bias 0, fc bias 0 (fc weight PyTorch default)
Signet's wrn-D-K has the same state_dict names (its pooling module is `pool`, no parameters).

Writes tests/golden/wrn_golden.safetensors for wrn-16-2 (10 classes), PyTorch init (seed 0),
one training-mode forward + backward on input [2,3,32,32]:
  <param>               the initial parameters (state_dict names), F32
  input [2,3,32,32], target [2] (I64), logits [2,10], loss [1], penultimate [2,128] (the
  pooled features: the DeepSigns tap `pool`)
  grad.<param>          every parameter's gradient
  after.<bn>.running_mean / after.<bn>.running_var   every BatchNorm's running statistics after
                        the forward (momentum 0.1, unbiased variance); num_batches_tracked is 1
File size about 5.6 MB.

    PYENV_VERSION=system python3 tests/golden/make_wrn.py
"""

import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

SEED = 0
BATCH = 2
DEPTH, WIDEN = 16, 2


class BasicBlock(nn.Module):
    def __init__(self, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.droprate = drop_rate
        self.equalInOut = in_planes == out_planes
        self.convShortcut = None if self.equalInOut else nn.Conv2d(
            in_planes, out_planes, 1, stride=stride, padding=0, bias=False)

    def forward(self, x):
        if not self.equalInOut:
            x = self.relu1(self.bn1(x))
            out = x
        else:
            out = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(out)))
        if self.droprate > 0:
            out = F.dropout(out, p=self.droprate, training=self.training)
        out = self.conv2(out)
        return torch.add(x if self.equalInOut else self.convShortcut(x), out)


class NetworkBlock(nn.Module):
    def __init__(self, nb_layers, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, drop_rate)
            for i in range(nb_layers)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth=16, widen_factor=4, num_classes=10, in_channels=3, drop_rate=0.0):
        super().__init__()
        assert (depth - 4) % 6 == 0 and depth >= 10
        n = (depth - 4) // 6
        ch = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, ch[0], ch[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, ch[1], ch[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, ch[2], ch[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(ch[3], num_classes)
        self.nChannels = ch[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / k))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def features(self, x):
        out = self.conv1(x)
        out = self.block3(self.block2(self.block1(out)))
        out = self.relu(self.bn1(out))
        return out.mean(dim=(2, 3))  # global average pool == avg_pool2d(8) at 32x32 input

    def forward(self, x):
        return self.fc(self.features(x))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "wrn_golden.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)

    model = WideResNet(DEPTH, WIDEN, 10).train()
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x = torch.randn(BATCH, 3, 32, 32)
    y = torch.randint(0, 10, (BATCH,))
    feats = model.features(x)
    logits = model.fc(feats)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    # features() + fc is forward(); the forward updated every running statistic once.
    t = {}
    for n, p in model.named_parameters():
        t[n] = init[n]
    t.update({"input": x, "target": y, "logits": logits.detach(), "loss": loss.detach().reshape(1),
              "penultimate": feats.detach()})
    for n, p in model.named_parameters():
        t["grad." + n] = p.grad
    for n, b in model.named_buffers():
        if n.endswith("running_mean") or n.endswith("running_var"):
            t["after." + n] = b
        else:
            assert n.endswith("num_batches_tracked") and int(b) == 1, n
    meta = {"generator": "tests/golden/make_wrn.py", "format_version": "1",
            "model": "wrn-%d-%d" % (DEPTH, WIDEN), "torch_version": torch.__version__,
            "seed": str(SEED), "params": ",".join(n for n, _ in model.named_parameters()),
            "buffers": ",".join(n for n, _ in model.named_buffers())}
    nbytes = safetensors_io.write(args.out, t, meta)
    print("wrote %s (%d bytes, %d tensors); loss %.7f" % (args.out, nbytes, len(t), loss.item()))


if __name__ == "__main__":
    main()
