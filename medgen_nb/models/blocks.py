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


SPATIAL_DIMS: tuple[int, ...] = (2, 3)


def check_spatial_dims(spatial_dims: object) -> int:
    """Raise unless ``spatial_dims`` is 2 (images) or 3 (volumes)."""
    if isinstance(spatial_dims, bool) or spatial_dims not in SPATIAL_DIMS:
        raise ValueError(f"spatial_dims must be 2 (images) or 3 (volumes), got {spatial_dims!r}")
    return spatial_dims  # type: ignore[return-value]


def conv_class(spatial_dims: int, transposed: bool = False) -> type[nn.Module]:
    """``nn.Conv2d``/``nn.Conv3d`` (or their transposes) for 2 or 3 spatial dimensions."""
    check_spatial_dims(spatial_dims)
    if transposed:
        return nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def norm_layer(kind: NormKind, channels: int, spatial_dims: int = 2) -> nn.Module:
    """A normalisation layer by name, for 2-D or 3-D feature maps (``"group"`` uses up to 8
    groups that divide ``channels``)."""
    if kind not in NORM_KINDS:
        raise ValueError(f"norm must be one of {NORM_KINDS}, got {kind!r}")
    check_spatial_dims(spatial_dims)
    if kind == "batch":
        return nn.BatchNorm2d(channels) if spatial_dims == 2 else nn.BatchNorm3d(channels)
    if kind == "instance":
        cls = nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d
        return cls(channels, affine=True)
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

    Shapes: ``(B, in_ch, H, W) -> (B, out_ch, H', W')``; with ``spatial_dims=3`` the same on
    volumes, ``(B, in_ch, D, H, W) -> (B, out_ch, D', H', W')``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        mode: Literal["down", "up", "same"] = "same",
        norm: NormKind = "batch",
        act: ActKind = "relu",
        spectral: bool = False,
        spatial_dims: int = 2,
    ) -> None:
        conv_nd, conv_t = conv_class(spatial_dims), conv_class(spatial_dims, transposed=True)
        if mode == "down":
            conv = conv_nd(in_ch, out_ch, 4, stride=2, padding=1, bias=norm == "none")
        elif mode == "up":
            conv = conv_t(in_ch, out_ch, 4, stride=2, padding=1, bias=norm == "none")
        elif mode == "same":
            conv = conv_nd(in_ch, out_ch, 3, padding=1, bias=norm == "none")
        else:
            raise ValueError(f"mode must be 'down', 'up' or 'same', got {mode!r}")
        super().__init__(
            maybe_spectral_norm(conv, spectral),
            norm_layer(norm, out_ch, spatial_dims),
            activation(act),
        )


def reflection_pad(padding: int, spatial_dims: int = 2) -> nn.Module:
    """``nn.ReflectionPad2d``/``nn.ReflectionPad3d`` of ``padding`` on every side."""
    check_spatial_dims(spatial_dims)
    return nn.ReflectionPad2d(padding) if spatial_dims == 2 else nn.ReflectionPad3d(padding)


class ResidualBlock(nn.Module):
    """Two 3x3 (or 3x3x3) convolutions with a skip connection: ``x + F(x)``; shape preserved."""

    def __init__(
        self,
        channels: int,
        norm: NormKind = "instance",
        act: ActKind = "relu",
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        conv = conv_class(spatial_dims)
        self.body = nn.Sequential(
            reflection_pad(1, spatial_dims),
            conv(channels, channels, 3, bias=norm == "none"),
            norm_layer(norm, channels, spatial_dims),
            activation(act),
            reflection_pad(1, spatial_dims),
            conv(channels, channels, 3, bias=norm == "none"),
            norm_layer(norm, channels, spatial_dims),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


# Exactly these classes (not every _ConvNd or _BatchNorm): 1-D layers keep PyTorch's own init.
_INIT_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d, nn.Linear)
_INIT_NORMS = (
    nn.BatchNorm2d, nn.InstanceNorm2d, nn.BatchNorm3d, nn.InstanceNorm3d, nn.GroupNorm
)  # fmt: skip


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN-style initialisation: conv and linear weights ~ N(0, std), norm scales ~ N(1, std)."""
    for m in module.modules():
        if isinstance(m, _INIT_LAYERS):
            weight = getattr(m, "weight_orig", m.weight)  # spectral-norm keeps the raw weight here
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _INIT_NORMS) and m.weight is not None:
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
