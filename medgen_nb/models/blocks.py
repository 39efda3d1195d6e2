"""Building blocks shared by the model families (convolutions, normalisation, residual blocks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

NormKind = Literal["batch", "instance", "group", "none"]
NORM_KINDS: tuple[str, ...] = ("batch", "instance", "group", "none")
ActKind = Literal["relu", "leaky", "silu", "tanh", "none"]
ACT_KINDS: tuple[str, ...] = ("relu", "leaky", "silu", "tanh", "none")


def norm_layer(kind: NormKind, channels: int) -> nn.Module:
    """A 2-D normalisation layer by name (``"group"`` uses up to 8 groups that divide ``channels``)."""
    if kind not in NORM_KINDS:
        raise ValueError(f"norm must be one of {NORM_KINDS}, got {kind!r}")
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    return nn.Identity()


def activation(kind: ActKind) -> nn.Module:
    """An activation by name; ``"leaky"`` has slope 0.2 as in DCGAN."""
    if kind not in ACT_KINDS:
        raise ValueError(f"activation must be one of {ACT_KINDS}, got {kind!r}")
    return {
        "relu": nn.ReLU(inplace=True),
        "leaky": nn.LeakyReLU(0.2, inplace=True),
        "silu": nn.SiLU(),
        "tanh": nn.Tanh(),
        "none": nn.Identity(),
    }[kind]


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a conv/linear layer in spectral normalisation (Miyato et al., 2018) if ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(layer) if enabled else layer


class ConvBlock(nn.Sequential):
    """conv -> norm -> activation. ``"down"`` halves H and W, ``"up"`` doubles them, ``"same"`` keeps them.

    Shapes: ``(B, in_ch, H, W) -> (B, out_ch, H', W')``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        mode: Literal["down", "up", "same"] = "same",
        norm: NormKind = "batch",
        act: ActKind = "relu",
        spectral: bool = False,
    ) -> None:
        if mode == "down":
            conv = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=norm == "none")
        elif mode == "up":
            conv = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=norm == "none")
        elif mode == "same":
            conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=norm == "none")
        else:
            raise ValueError(f"mode must be 'down', 'up' or 'same', got {mode!r}")
        super().__init__(
            maybe_spectral_norm(conv, spectral), norm_layer(norm, out_ch), activation(act)
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection: ``x + F(x)``; shape preserved."""

    def __init__(self, channels: int, norm: NormKind = "instance", act: ActKind = "relu") -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm == "none"),
            norm_layer(norm, channels),
            activation(act),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm == "none"),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN-style initialisation: conv and linear weights ~ N(0, std), norm scales ~ N(1, std)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            weight = getattr(m, "weight_orig", m.weight)  # spectral-norm keeps the raw weight here
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif (
            isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d | nn.GroupNorm)
            and m.weight is not None
        ):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


def check_power_of_two_size(size: int, min_size: int, name: str = "size") -> None:
    """Raise a clear error if ``size`` is not a power of two of at least ``min_size``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < min_size or size & (size - 1):
        raise ValueError(f"{name} must be a power of two >= {min_size}, got {size!r}")


def set_requires_grad(modules: Iterable[nn.Module], flag: bool) -> None:
    """Switch gradients of all parameters in ``modules`` on or off (D is frozen in G's step)."""
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)
