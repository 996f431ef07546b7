"""ASMNet (Fard et al., 2021) and its MobileNetV2 baseline, written from scratch (no torchvision).

Every variant follows one skeleton: a MobileNetV2 trunk (``features``, numbered as torchvision numbers
them), global average pooling of chosen feature outputs, concatenation, dropout and two linear heads.

* ``asmnet``: trunk cut after block 15 (``features[0..16]``); the outputs of ``features[2, 4, 7, 11, 14,
  16]`` (24 + 32 + 64 + 96 + 160 + 160 = 536 channels) are pooled and concatenated. ~1.41 M parameters
  for 68 points.
* ``mobilenetv2``: the full MobileNetV2 trunk (to the 1280-channel conv), pooled, same heads (baseline).
* ``asmnet_tiny``: the ASMNet layout at width 0.25 for fast CPU tests.

Input: (N, 3, S, S) float RGB in [0, 1] (the ImageNet normalisation is inside the model); any S that is a
multiple of 32 works (the trunk is fully convolutional and pooled globally).
Output: ``(landmarks (N, K, 2), pose (N, 3))``; landmarks in normalised crop coordinates
(-1 = left/top edge of the crop, +1 = right/bottom edge), pose = yaw, pitch, roll in radians.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (expansion t, channels c, repeats n, first stride s) as in the MobileNetV2 paper
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
ASMNET_TAPS = (2, 4, 7, 11, 14, 16)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels as MobileNetV2 does (never below 90% of v)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection (+ identity when shapes match)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


def mobilenetv2_features(width: float = 1.0, last_block: int = 18) -> tuple[nn.Sequential, list[int]]:
    """The MobileNetV2 trunk as torchvision numbers it: features[0] stem, [1..17] blocks, [18] 1x1 conv.

    Returns (features[0..last_block], channels of each entry).
    """
    cin = make_divisible(32 * width)
    mods: list[nn.Module] = [ConvBNReLU(3, cin, stride=2)]
    chans = [cin]
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        cout = make_divisible(c * width)
        for i in range(n):
            mods.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            chans.append(cout)
            cin = cout
    last = make_divisible(1280 * max(1.0, width))
    mods.append(ConvBNReLU(cin, last, kernel=1))
    chans.append(last)
    return nn.Sequential(*mods[: last_block + 1]), chans[: last_block + 1]


class LandmarkNet(nn.Module):
    """MobileNetV2 trunk + multi-scale global pooling + landmark and pose heads.

    Args:
        num_points: K landmarks.
        width: MobileNetV2 width multiplier.
        last_block: index of the last ``features`` entry kept (16 for ASMNet, 18 for the full network).
        taps: ``features`` indices whose outputs are pooled and concatenated.
        dropout: dropout before the heads.
    """

    def __init__(self, num_points: int = 68, width: float = 1.0, last_block: int = 16,
                 taps: tuple[int, ...] = ASMNET_TAPS, dropout: float = 0.3):
        super().__init__()
        if any(t > last_block for t in taps):
            raise ValueError(f"taps {taps} go beyond the last block {last_block}")
        self.num_points = num_points
        self.features, chans = mobilenetv2_features(width, last_block)
        self.taps = tuple(taps)
        self.embed_dim = sum(chans[t] for t in self.taps)
        self.dropout = nn.Dropout(dropout)
        self.landmarks = nn.Linear(self.embed_dim, 2 * num_points)
        self.pose = nn.Linear(self.embed_dim, 3)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for head in (self.landmarks, self.pose):
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) RGB in [0, 1] -> (N, embed_dim) pooled multi-scale features."""
        x = (x - self.pixel_mean) / self.pixel_std
        pooled = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.taps:
                pooled.append(x.mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, S, S) RGB in [0, 1] -> (landmarks (N, K, 2) in [-1, 1] crop units, pose (N, 3) radians)."""
        f = self.dropout(self.embed(x))
        return self.landmarks(f).view(-1, self.num_points, 2), self.pose(f)


# ---------------------------------------------------------------------------- registry (timm-style)
_MODELS: dict[str, Callable[..., LandmarkNet]] = {}


def register_model(fn: Callable[..., LandmarkNet]) -> Callable[..., LandmarkNet]:
    """Decorator: register a model constructor under its function name."""
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of the registered variants, sorted."""
    return sorted(_MODELS)


def create_model(name: str, num_points: int = 68, **kwargs) -> LandmarkNet:
    """Build a registered variant; ValueError listing the valid names otherwise."""
    try:
        fn = _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {list_models()}") from None
    return fn(num_points=num_points, **kwargs)


@register_model
def asmnet(num_points: int = 68, dropout: float = 0.3) -> LandmarkNet:
    """ASMNet: MobileNetV2 (width 1.0) cut after block 15, six pooled taps (536 channels)."""
    return LandmarkNet(num_points, width=1.0, last_block=16, taps=ASMNET_TAPS, dropout=dropout)


@register_model
def mobilenetv2(num_points: int = 68, dropout: float = 0.3) -> LandmarkNet:
    """Baseline: the full MobileNetV2 trunk (1280-channel output pooled), same heads."""
    return LandmarkNet(num_points, width=1.0, last_block=18, taps=(18,), dropout=dropout)


@register_model
def asmnet_tiny(num_points: int = 68, dropout: float = 0.3) -> LandmarkNet:
    """ASMNet layout at width 0.25 (for fast CPU tests)."""
    return LandmarkNet(num_points, width=0.25, last_block=16, taps=ASMNET_TAPS, dropout=dropout)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
