#!/usr/bin/env python3
"""Plain PyTorch state dicts (no Signet metadata), as users bring them, with golden logits.

Each model file holds exactly `model.state_dict()` (parameters and buffers under PyTorch's
names, no `__metadata__`), as `safetensors.torch.save_file(model.state_dict(), path)` writes it
(this script writes the same bytes layout with safetensors_io.py, so the `safetensors` package
is not needed). Signet must recognise the architecture and its configuration from the tensors
alone (models/model_recognition.h) and compute the same eval-mode logits.

  state_dict_cnn.safetensors        cifar10-cnn for 1x8x8 inputs, 7 classes (classifier.1 takes
                                     64 * 2 * 2: the weights fix the input at 1x8x8)
  state_dict_wrn.safetensors        wrn-10-1 (one block per group, width 16), 3 input channels,
                                     5 classes; BatchNorm statistics randomised so that eval mode
                                     is not the identity
  state_dict_imdb_lstm.safetensors  imdb-lstm with a 50-id vocabulary
  state_dict_io.safetensors         <m>.input and <m>.logits for m in cnn, wrn, imdb_lstm: eval-mode
                                     forward (cnn [3,1,8,8], wrn [3,3,12,12], imdb_lstm int64 [3,9])

    PYENV_VERSION=system python3 tests/golden/make_state_dicts.py

torch.manual_seed(0), one thread; checked by tests/models/test_model_recognition.cpp and
tests/cli/test_cli_state_dict.cpp.
"""

import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402
from make_cnn import Cifar10CNN  # noqa: E402
from make_imdb_lstm import ImdbLSTM  # noqa: E402
from make_wrn import WideResNet  # noqa: E402


def randomise_batchnorm(model):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    models = {
        "cnn": (Cifar10CNN(in_shape=(1, 8, 8), classes=7), torch.rand(3, 1, 8, 8)),
        "wrn": (WideResNet(depth=10, widen_factor=1, num_classes=5, in_channels=3), torch.randn(3, 3, 12, 12)),
        "imdb_lstm": (ImdbLSTM(vocab=50), torch.randint(0, 50, (3, 9))),
    }
    randomise_batchnorm(models["wrn"][0])
    io = {}
    for name, (model, x) in models.items():
        model.eval()
        with torch.no_grad():
            logits = model(x)
        state = {k: v for k, v in model.state_dict().items()}
        n = safetensors_io.write(os.path.join(HERE, "state_dict_%s.safetensors" % name), state)
        print("state_dict_%s.safetensors: %d tensors, %d bytes" % (name, len(state), n))
        io[name + ".input"] = x
        io[name + ".logits"] = logits
    n = safetensors_io.write(os.path.join(HERE, "state_dict_io.safetensors"), io,
                             {"generator": "tests/golden/make_state_dicts.py", "torch_version": torch.__version__})
    print("state_dict_io.safetensors: %d bytes" % n)


if __name__ == "__main__":
    main()
