"""Built-in demo models (``demo:NAME``): random seeded weights, nothing downloaded.

* ``mobilenet_v2``: MobileNetV2's shape (Sandler et al. 2018). A 3x3 stride-2
  stem, then inverted residual blocks: 1x1 expand (Conv-BN-ReLU6), 3x3
  depthwise (Conv-BN-ReLU6), 1x1 linear projection (Conv-BN), with a residual
  add (a ``FloatFunctional``, so eager-mode static quantisation keeps it) when
  stride is 1 and the channel count is unchanged; then a 1x1
  Conv-BN-ReLU6 to 1280 channels, global average pool and a Linear classifier.
  Input ``1,3,224,224`` float; output ``1,1000``.
* ``conv_bn_relu``: the recipe's small model, grown to a few blocks: QuantStub,
  Conv-BN-ReLU blocks, a Conv-ReLU block, pooling, Linear-ReLU and Linear,
  DeQuantStub. It already carries its quant stubs, as the recipe's
  ``AnnotatedConvBnReLUModel`` does. Input ``1,3,224,224`` float; output ``1,10``.
* ``lstm_classifier``: Embedding(1000, 64) -> LSTM(64, 128, 1 layer, batch
  first) -> last time step -> Linear(128, 64)-ReLU -> Linear(64, 10). Input
  ``1,32`` int64 token ids (ones from the benchmark binary are valid ids);
  output ``1,10``. Made for dynamic quantisation (Linear and LSTM).

Weights come from ``torch.manual_seed(seed)`` with Kaiming-style init, and
BatchNorm gets random but well-conditioned running statistics (mean ~ N(0,
0.1), var ~ U(0.5, 1.5), affine ~ U(0.5, 1.5) / N(0, 0.1)) so that fusing it
is not a no-op and activations stay O(1) through the depth of the network.
Every demo is returned in ``eval()`` mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Demo:
    name: str
    build: Callable[[int], nn.Module]
    dims: str
    types: str
    doc: str


def _init_weights(model: nn.Module, seed: int) -> None:
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                std = (2.0 / fan_in) ** 0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.01)
            elif isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            elif isinstance(m, nn.Embedding | nn.LSTM):
                for p in m.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.1)


def _conv_bn(cin: int, cout: int, k: int, stride: int, groups: int, act: bool) -> nn.Sequential:
    from torch import nn

    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def mobilenet_v2(seed: int = 0, width: float = 1.0, num_classes: int = 1000) -> nn.Module:
    import torch
    from torch import nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            self.use_res = stride == 1 and cin == cout
            layers: list[nn.Module] = []
            if expand != 1:
                layers.append(_conv_bn(cin, hidden, 1, 1, 1, act=True))
            layers.append(_conv_bn(hidden, hidden, 3, stride, hidden, act=True))
            layers.append(_conv_bn(hidden, cout, 1, 1, 1, act=False))
            self.conv = nn.Sequential(*layers)
            # FloatFunctional: the residual add survives eager-mode static quantisation
            self.skip_add = nn.quantized.FloatFunctional()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.use_res:
                return self.skip_add.add(x, self.conv(x))
            return self.conv(x)

    class MobileNetV2(nn.Module):
        # (expansion t, channels c, repeats n, first stride s), as in the paper's table 2
        SETTINGS = (
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        )

        def __init__(self) -> None:
            super().__init__()
            cin = _make_divisible(32 * width)
            last = _make_divisible(1280 * max(1.0, width))
            blocks: list[nn.Module] = [_conv_bn(3, cin, 3, 2, 1, act=True)]
            for t, c, n, s in self.SETTINGS:
                cout = _make_divisible(c * width)
                for i in range(n):
                    blocks.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                    cin = cout
            blocks.append(_conv_bn(cin, last, 1, 1, 1, act=True))
            self.features = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(last, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(self.features(x))
            return self.classifier(torch.flatten(x, 1))

    model = MobileNetV2()
    _init_weights(model, seed)
    return model.eval()


def conv_bn_relu(seed: int = 0) -> nn.Module:
    import torch
    from torch import nn
    from torch.ao.quantization import DeQuantStub, QuantStub

    class ConvBnReLUModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant = QuantStub()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu1 = nn.ReLU()
            self.block2 = nn.Sequential(
                nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(),
            )
            self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
            self.relu3 = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Linear(32, 32)
            self.relu4 = nn.ReLU()
            self.fc2 = nn.Linear(32, 10)
            self.dequant = DeQuantStub()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.quant(x)
            x = self.relu1(self.bn1(self.conv1(x)))
            x = self.relu3(self.conv3(self.block2(x)))
            x = torch.flatten(self.pool(x), 1)
            x = self.fc2(self.relu4(self.fc1(x)))
            return self.dequant(x)

    model = ConvBnReLUModel()
    _init_weights(model, seed)
    return model.eval()


def lstm_classifier(
    seed: int = 0, vocab: int = 1000, embed: int = 64, hidden: int = 128, classes: int = 10
) -> nn.Module:
    import torch
    from torch import nn

    class LSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed)
            self.lstm = nn.LSTM(embed, hidden, num_layers=1, batch_first=True)
            self.fc1 = nn.Linear(hidden, 64)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(64, classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(self.embedding(tokens))
            return self.fc2(self.relu(self.fc1(out[:, -1, :])))

    model = LSTMClassifier()
    _init_weights(model, seed)
    return model.eval()


DEMOS: dict[str, Demo] = {
    "mobilenet_v2": Demo(
        "mobilenet_v2",
        mobilenet_v2,
        "1,3,224,224",
        "float",
        "MobileNetV2 shape, random weights",
    ),
    "conv_bn_relu": Demo(
        "conv_bn_relu",
        conv_bn_relu,
        "1,3,224,224",
        "float",
        "the recipe's Conv-BN-ReLU model, a few blocks",
    ),
    "lstm_classifier": Demo(
        "lstm_classifier",
        lstm_classifier,
        "1,32",
        "int64",
        "Embedding + LSTM + Linear, token ids in",
    ),
}


def build_demo(name: str, seed: int = 0) -> nn.Module:
    """The demo called ``name`` (without the ``demo:`` prefix)."""
    from benchorch.errors import ModelError

    demo = DEMOS.get(name)
    if demo is None:
        known = ", ".join(f"demo:{n}" for n in sorted(DEMOS))
        raise ModelError(f"unknown demo model demo:{name}", hint=f"choose one of {known}")
    return demo.build(seed)
