"""A small time-conditioned U-Net: the denoising network eps_theta(x_t, t[, y][, c]) of a DDPM.

Layout (Ho et al. 2020 App. B, shrunk for a laptop CPU): a sinusoidal embedding of t (Vaswani et
al. 2017 §3.5) goes through a 2-layer MLP and is added inside every residual block; an optional
class label y is embedded and added to the time embedding, with one extra "null" class that
stands for "no label" (classifier-free guidance, Ho & Salimans 2022 §3.2); an optional image
condition c (e.g. the source modality for translation, Pang et al. 2025 §5) is concatenated to
x_t along channels. One self-attention block sits at the lowest resolution. With
``spatial_dims=3`` every convolution is 3-D and the network maps volumes ``(B, C, D, H, W)``.

The network only maps tensors; it knows nothing of the noise schedule (see
:mod:`medgen_nb.models.schedulers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.models.blocks import check_spatial_dims, conv_class, norm_layer
from medgen_nb.models.validation import check_positive_int


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer position encoding of the step: ``(B,)`` -> ``(B, dim)`` [sin | cos].

    Frequencies run geometrically from 1 to 1/max_period (Vaswani et al. 2017 §3.5).
    """
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimeResBlock(nn.Module):
    """GroupNorm-SiLU-conv, + projected time embedding, GroupNorm-SiLU-dropout-conv, + skip.

    Shapes: x ``(B, in_ch, H, W)`` (``(B, in_ch, D, H, W)`` with ``spatial_dims=3``), emb
    ``(B, emb_dim)`` -> ``(B, out_ch, ...)`` with the same spatial size.
    """

    def __init__(
        self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0, spatial_dims: int = 2
    ) -> None:
        super().__init__()
        conv = conv_class(spatial_dims)
        self.norm1 = norm_layer("group", in_ch)
        self.conv1 = conv(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = norm_layer("group", out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (a stable start)
        nn.init.zeros_(self.conv2.bias)
        self.skip = conv(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, *spatial)
        e = self.emb_proj(F.silu(emb))  # (B, out): time (and class) enter here
        h = h + e.reshape(*e.shape, *(1,) * (h.ndim - 2))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over all positions (H*W, or D*H*W), residual.
    ``(B, C, *spatial)`` -> same."""

    def __init__(self, channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        conv = conv_class(spatial_dims)
        self.norm = norm_layer("group", channels)
        self.qkv = conv(channels, 3 * channels, 1)
        self.out = conv(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, -1).transpose(-1, -2).unbind(1)
        attn = F.scaled_dot_product_attention(q, k, v)  # (B, positions, C)
        return x + self.out(attn.transpose(-1, -2).reshape(x.shape))


class TimeUNet(nn.Module):
    """eps_theta / v_theta: ``(x_t (B, C, H, W), t (B,), labels (B,) | None, cond (B, Cc, H, W) | None)``
    -> ``(B, C, H, W)``; with ``spatial_dims=3`` the same on volumes ``(B, C, D, H, W)``.

    Args:
        in_channels: C, channels of the image being generated (and of the output).
        base_channels: width of the first level.
        channel_mults: width multipliers per level; each level after the first halves H and W,
            so H and W must be divisible by ``2 ** (len(channel_mults) - 1)``.
        num_res_blocks: residual blocks per level.
        num_classes: number of class labels (0 = unconditional). Label ``num_classes`` is the
            null class used for classifier-free guidance.
        cond_channels: channels of an image condition concatenated to x_t (0 = none).
        attention: add a self-attention block at the lowest resolution.
        dropout: dropout inside residual blocks.
        spatial_dims: 2 (images) or 3 (volumes).
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        num_classes: int = 0,
        cond_channels: int = 0,
        attention: bool = True,
        dropout: float = 0.0,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        nd = check_spatial_dims(spatial_dims)
        conv = conv_class(nd)
        for name, value, low in (
            ("in_channels", in_channels, 1),
            ("base_channels", base_channels, 8),
            ("num_res_blocks", num_res_blocks, 1),
            ("num_classes", num_classes, 0),
            ("cond_channels", cond_channels, 0),
        ):
            check_positive_int(value, name, minimum=low)
        if len(channel_mults) == 0 or any(
            isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in channel_mults
        ):
            raise ValueError(f"channel_mults must be positive ints, got {channel_mults!r}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.cond_channels = cond_channels
        self.factor = 2 ** (len(channel_mults) - 1)
        self.spatial_dims = nd
        emb_dim = 4 * base_channels

        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.base_channels = base_channels
        # index num_classes is the null label ("unconditional"), Ho & Salimans 2022 §3.2
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None

        self.stem = conv(in_channels + cond_channels, base_channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips = [base_channels]
        ch = base_channels
        for level, mult in enumerate(channel_mults):
            for _ in range(num_res_blocks):
                self.down.append(TimeResBlock(ch, base_channels * mult, emb_dim, dropout, nd))
                ch = base_channels * mult
                skips.append(ch)
            if level < len(channel_mults) - 1:
                self.down.append(conv(ch, ch, 3, stride=2, padding=1))  # H/2 (and D/2)
                skips.append(ch)
        self.mid1 = TimeResBlock(ch, ch, emb_dim, dropout, nd)
        self.mid_attn = SelfAttention(ch, nd) if attention else nn.Identity()
        self.mid2 = TimeResBlock(ch, ch, emb_dim, dropout, nd)
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            for _ in range(num_res_blocks + 1):
                self.up.append(
                    TimeResBlock(ch + skips.pop(), base_channels * mult, emb_dim, dropout, nd)
                )
                ch = base_channels * mult
            if level > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2.0), conv(ch, ch, 3, padding=1))
                )
        self.head = nn.Sequential(
            norm_layer("group", ch), nn.SiLU(), conv(ch, in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.head[-1].weight)  # predict 0 at start: the loss starts at E[target^2]
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if x.ndim != 2 + self.spatial_dims:
            raise ValueError(
                f"x must be (B, C, {', '.join('DHW'[-self.spatial_dims :])}) for "
                f"spatial_dims={self.spatial_dims}, got shape {tuple(x.shape)}"
            )
        b, c, *spatial = x.shape
        if c != self.in_channels:
            raise ValueError(
                f"x must have in_channels={self.in_channels} channels, got shape {tuple(x.shape)}"
            )
        if any(n % self.factor for n in spatial):
            raise ValueError(
                f"spatial sizes must be divisible by {self.factor}, got shape {tuple(x.shape)}"
            )
        if self.cond_channels:
            want = (b, self.cond_channels, *spatial)
            if cond is None or cond.shape != want:
                got = None if cond is None else tuple(cond.shape)
                raise ValueError(f"cond must have shape {want}, got {got}")
            x = torch.cat([x, cond], dim=1)  # image condition as extra input channels
        elif cond is not None:
            raise ValueError("cond was given but this network has cond_channels=0")
        emb = self.time_mlp(sinusoidal_embedding(t.reshape(-1).expand(b), self.base_channels))
        if self.class_emb is not None:
            if labels is None:  # no label = the null class (unconditional)
                labels = torch.full((b,), self.num_classes, device=x.device, dtype=torch.long)
            if bool(((labels < 0) | (labels > self.num_classes)).any()):
                raise ValueError(
                    f"labels must be in [0, {self.num_classes}] ({self.num_classes} = null), got {labels.tolist()}"
                )
            emb = emb + self.class_emb(labels)
        elif labels is not None:
            raise ValueError("labels were given but this network has num_classes=0")

        h_ = self.stem(x)
        skips = [h_]
        for layer in self.down:
            h_ = layer(h_, emb) if isinstance(layer, TimeResBlock) else layer(h_)
            skips.append(h_)
        h_ = self.mid2(self.mid_attn(self.mid1(h_, emb)), emb)
        for layer in self.up:
            if isinstance(layer, TimeResBlock):
                h_ = layer(torch.cat([h_, skips.pop()], dim=1), emb)
            else:
                h_ = layer(h_)
        return self.head(h_)
