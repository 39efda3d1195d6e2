"""Generator and discriminator networks for the GAN family (MLP and DCGAN-style convolutional).

Shapes: generators map ``(B, latent_in)`` to ``(B, C, S, S)`` in [-1, 1] (tanh); discriminator
trunks map ``(B, C_in, S, S)`` to features ``(B, F)`` that the model's heads read (adversarial
score, class logits, InfoGAN's Q head). Convolutional nets follow Radford et al. (2016): strided
(transposed) convolutions, batch norm, ReLU in G and LeakyReLU(0.2) in D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medgen_nb.models.blocks import ConvBlock, NormKind, maybe_spectral_norm


def pyramid_channels(size: int, base_channels: int, max_mult: int = 8) -> list[int]:
    """Channel counts at resolutions ``size/2, size/4, ..., 4``: ``base_channels * 2**i``, capped
    at ``base_channels * max_mult``."""
    n_levels = int(math.log2(size)) - 2  # 64 -> 4 levels: 32, 16, 8, 4
    return [base_channels * min(2**i, max_mult) for i in range(n_levels)]


class MLPGenerator(nn.Module):
    """Fully connected generator (the original GAN of Goodfellow et al., 2014)."""

    def __init__(self, latent_in: int, out_channels: int, size: int, hidden: int) -> None:
        super().__init__()
        self.shape = (out_channels, size, size)
        self.net = nn.Sequential(
            nn.Linear(latent_in, hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, 2 * hidden),
            nn.BatchNorm1d(2 * hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(2 * hidden, out_channels * size * size),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)  # (B, C, S, S)


class MLPTrunk(nn.Module):
    """Fully connected discriminator trunk: ``(B, C, S, S)`` -> features ``(B, hidden)``."""

    def __init__(self, in_channels: int, size: int, hidden: int, spectral: bool = False) -> None:
        super().__init__()
        self.out_features = hidden
        self.net = nn.Sequential(
            nn.Flatten(),
            maybe_spectral_norm(nn.Linear(in_channels * size * size, 2 * hidden), spectral),
            nn.LeakyReLU(0.2, inplace=True),
            maybe_spectral_norm(nn.Linear(2 * hidden, hidden), spectral),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvGenerator(nn.Module):
    """DCGAN generator: ``z (B, latent_in)`` -> 4x4 -> ... -> ``(B, out_channels, S, S)`` in [-1, 1]."""

    def __init__(self, latent_in: int, out_channels: int, size: int, base_channels: int) -> None:
        super().__init__()
        chans = pyramid_channels(size, base_channels)[
            ::-1
        ]  # deepest first, e.g. [256, 128, 64, 32]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_in, chans[0], 4, 1, 0, bias=False),  # (B, c0, 4, 4)
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers.append(ConvBlock(c_in, c_out, "up", norm="batch", act="relu"))
        layers += [nn.ConvTranspose2d(chans[-1], out_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # (B, C, S, S)


class ConvTrunk(nn.Module):
    """DCGAN discriminator trunk: ``(B, in_channels, S, S)`` -> features ``(B, c_last * 16)``."""

    def __init__(
        self,
        in_channels: int,
        size: int,
        base_channels: int,
        norm: NormKind = "batch",
        spectral: bool = False,
    ) -> None:
        super().__init__()
        chans = pyramid_channels(size, base_channels)  # e.g. [32, 64, 128, 256]
        layers: list[nn.Module] = [
            ConvBlock(in_channels, chans[0], "down", "none", "leaky", spectral)
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers.append(ConvBlock(c_in, c_out, "down", norm, "leaky", spectral))
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = chans[-1] * 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, F)


def linear_head(in_features: int, out_features: int, spectral: bool = False) -> nn.Module:
    return maybe_spectral_norm(nn.Linear(in_features, out_features), spectral)
