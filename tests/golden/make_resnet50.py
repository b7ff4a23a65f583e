#!/usr/bin/env python3
"""Golden reference for the `resnet50` model: torchvision's ResNet-50 (v1.5), made with PyTorch.

torchvision is not installed for Debian's python, so ResNet50 below re-implements
torchvision.models.resnet50 with identical module names and structure (conv1 7x7/2, bn1, relu,
maxpool 3x3/2 p1, layer1..4 of Bottleneck [3, 4, 6, 3] with expansion 4 and the stride on
conv2 (v1.5), downsample.0 conv1x1 / downsample.1 BN on each stage's first block, avgpool
AdaptiveAvgPool2d(1), fc). Its state_dict keys and shapes equal torchvision's: the `state_dict`
metadata lists them in order (name:dims), and the C++ test loads a state dict of exactly those
names and shapes (a torchvision checkpoint saved as safetensors has the same).

ResNet-50 has 23.5 M parameters (94 MB), so parameters are NOT stored: every parameter is set
by the exact formula of formula_init.py (reproduced bit for bit in C++); buffers start at
PyTorch's values. One training-mode forward + backward, 10 classes, input [2,3,64,64]
(layer4 then works on 2x2 maps, BatchNorm over 8 values per channel).

Writes tests/golden/resnet50_golden.safetensors (F32 except target I64, init_sums F64):
  init_sums [161]      float64 sum of each parameter after formula init (named_parameters order)
  input [2,3,64,64] (torch.randn), target [2], logits [2,10], loss [1] (mean cross-entropy),
  penultimate [2,2048] (avgpool output, flattened: the DeepSigns tap)
  grad.<p> for the stem (conv1.weight, bn1.*), all of layer1, layer3.0.conv1.weight,
           layer4.0.downsample.1.*, fc.*, and the weight and bias of every BatchNorm
  after.<bn>.running_mean / running_var for every BatchNorm (53 layers) after the forward
About 2.3 MB.

    PYENV_VERSION=system python3 tests/golden/make_resnet50.py
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
BATCH = 4
SIZE = 64
CLASSES = 10


def conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False)


def conv1x1(i, o, stride=1):
    return nn.Conv2d(i, o, 1, stride=stride, bias=False)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision.models.resnet50(num_classes=...) without torchvision."""

    def __init__(self, num_classes=1000, in_channels=3):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, 2)
        self.layer3 = self._make_layer(256, 6, 2)
        self.layer4 = self._make_layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * 4, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * 4, stride), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def stored_grad(name, bn_params):
    return (name.startswith("conv1.") or name.startswith("bn1.") or name.startswith("layer1.")
            or name.startswith("fc.") or name == "layer3.0.conv1.weight"
            or name.startswith("layer4.0.downsample.1.") or name in bn_params)


def run(dtype, bn_params):
    """Formula-initialised ResNet50(10) in `dtype`: one training-mode forward + backward."""
    torch.manual_seed(SEED)
    model = ResNet50(CLASSES).train()
    sums = formula_init_(model)
    model = model.to(dtype)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    y = torch.randint(0, CLASSES, (BATCH,))
    feats = model.features(x.to(dtype))
    logits = model.fc(feats)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    t = {"init_sums": sums, "input": x, "target": y, "logits": logits.detach(),
         "loss": loss.detach().reshape(1), "penultimate": feats.detach()}
    for n, p in model.named_parameters():
        if stored_grad(n, bn_params):
            t["grad." + n] = p.grad
    for n, b in model.named_buffers():
        if n.endswith("running_mean") or n.endswith("running_var"):
            t["after." + n] = b
    return model, t


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "resnet50_golden.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    bn_params = set()
    for mn, m in ResNet50(CLASSES).named_modules():
        if isinstance(m, nn.BatchNorm2d):
            bn_params.update({mn + ".weight", mn + ".bias"})
    model, ref = run(torch.float64, bn_params)
    _, f32 = run(torch.float32, bn_params)
    t = {k: (v.float() if v.dtype == torch.float64 and k != "init_sums" else v) for k, v in ref.items()}
    # Diagnostic only (not stored): PyTorch's own float32 error, relative L2 norm.
    errs = sorted((float((f32[k].double() - v).norm() / v.norm().clamp_min(1e-300)), k)
                  for k, v in ref.items() if k not in ("init_sums", "input", "target"))
    print("PyTorch float32 vs float64, relative L2 error: median %.1e, worst %.1e (%s)"
          % (errs[len(errs) // 2][0], errs[-1][0], errs[-1][1]))
    sd = ";".join("%s:%s" % (k, ",".join(str(d) for d in v.shape)) for k, v in model.state_dict().items())
    meta = {"generator": "tests/golden/make_resnet50.py", "format_version": "1", "model": "resnet50",
            "num_classes": str(CLASSES), "input_shape": "3,%d,%d" % (SIZE, SIZE),
            "torch_version": torch.__version__, "seed": str(SEED), "init": "formula_init.py",
            "reference": "computed in float64 (parameters and input are exact float32 values), "
                         "stored as float32",
            "params": ",".join(n for n, _ in model.named_parameters()), "state_dict": sd}
    nbytes = safetensors_io.write(args.out, t, meta)
    nbn = sum(k.endswith("running_mean") for k in t if k.startswith("after."))
    print("wrote %s (%d bytes, %d tensors, %d BatchNorms, %d parameters); loss %.7f"
          % (args.out, nbytes, len(t), nbn, sum(p.numel() for p in model.parameters()), ref["loss"].item()))


if __name__ == "__main__":
    main()
