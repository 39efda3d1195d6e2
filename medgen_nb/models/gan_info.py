"""InfoGAN (latent codes + Q head) and WGAN-GP (critic with gradient penalty).

Pang et al. 2025, Section 4.2 / Figure 5(d) review InfoGAN; WGAN-GP is the Wasserstein variant
used by several translation studies in their Table 8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medgen_nb.models.blocks import init_weights
from medgen_nb.models.gan_core import GAN
from medgen_nb.models.gan_losses import gradient_penalty
from medgen_nb.models.gan_nets import ConvTrunk
from medgen_nb.models.validation import check_positive_int, check_weight


class InfoGAN(GAN):
    """InfoGAN (Chen et al., 2016): G input ``[z, c_cat one-hot, c_cont]``; a Q head on D's trunk
    predicts the codes back from the image, and both D/Q and G minimise the variational bound

    ``L_info = CE(Q_cat(x), c_cat) + ½‖Q_cont(x) - c_cont‖²``  (Eq. 5: ``-L_I`` up to ``H(c)``; the
    continuous code is a unit-variance factored Gaussian, so its log-likelihood is ½ squared error).

    Extra config: ``categorical_dim`` (>= 2 categories), ``continuous_dim`` (>= 0 codes,
    ``U(-1, 1)`` prior), ``info_weight`` (λ). ``codes`` for :meth:`sample` is a dict with
    optional ``"categorical"`` ``(n,)`` int64 and ``"continuous"`` ``(n, continuous_dim)``.
    """

    def __init__(
        self,
        *,
        categorical_dim: int = 10,
        continuous_dim: int = 2,
        info_weight: float = 1.0,
        **config,
    ) -> None:
        check_positive_int(categorical_dim, "categorical_dim", minimum=2)
        check_positive_int(continuous_dim, "continuous_dim", minimum=0)
        check_weight(info_weight, "info_weight")
        self.categorical_dim, self.continuous_dim = categorical_dim, continuous_dim
        super().__init__(**config)
        self.q_head = nn.Sequential(
            nn.Linear(self.trunk.out_features, 128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(128, categorical_dim + continuous_dim),
        )
        init_weights(self.q_head)

    @property
    def latent_in(self) -> int:
        return self.latent_dim + self.categorical_dim + self.continuous_dim

    def generator_input(self, n, labels, codes, generator):
        if labels is not None:
            raise ValueError(
                "InfoGAN is unsupervised: labels must be None; pass codes={'categorical': ...}"
            )
        codes = dict(codes or {})
        unknown = set(codes) - {"categorical", "continuous"}
        if unknown:
            raise ValueError(
                f"codes keys must be 'categorical' and/or 'continuous', got {sorted(unknown)}"
            )
        z = self._randn((n, self.latent_dim), generator)
        if "categorical" in codes:
            c_cat = torch.as_tensor(codes["categorical"]).long().reshape(-1).to(self.device)
            if c_cat.numel() != n or c_cat.min() < 0 or c_cat.max() >= self.categorical_dim:
                raise ValueError(
                    f"codes['categorical'] must hold {n} ints in [0, {self.categorical_dim}), got {c_cat.tolist()}"
                )
        else:
            dev = generator.device if generator is not None else self.device
            c_cat = torch.randint(
                0, self.categorical_dim, (n,), generator=generator, device=dev
            ).to(self.device)
        if "continuous" in codes:
            c_cont = torch.as_tensor(codes["continuous"], dtype=z.dtype).to(self.device)
            if tuple(c_cont.shape) != (n, self.continuous_dim):
                raise ValueError(
                    f"codes['continuous'] must have shape {(n, self.continuous_dim)}, got {tuple(c_cont.shape)}"
                )
        else:
            dev = generator.device if generator is not None else self.device
            c_cont = (
                torch.rand((n, self.continuous_dim), generator=generator, device=dev) * 2 - 1
            ).to(self.device)
        g_in = torch.cat([z, F.one_hot(c_cat, self.categorical_dim).to(z.dtype), c_cont], 1)
        return g_in, {"categorical": c_cat, "continuous": c_cont}

    def info_loss(
        self, feats: torch.Tensor, codes: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_info, categorical code accuracy) for trunk features ``(B, F)``; λ is applied by
        the callers."""
        q = self.q_head(feats)  # (B, K_cat + K_cont)
        logits, mu = q[:, : self.categorical_dim], q[:, self.categorical_dim :]
        loss_cat = F.cross_entropy(logits, codes["categorical"])
        loss_cont = (
            0.5 * ((mu - codes["continuous"]) ** 2).sum(1).mean() if self.continuous_dim else 0.0
        )
        acc = (logits.argmax(1) == codes["categorical"]).float().mean()
        return loss_cat + loss_cont, acc

    def aux_d_loss(self, real_feats, fake_feats, cond_real, cond_fake):
        loss, acc = self.info_loss(fake_feats, cond_fake)  # fakes are detached: trains Q and trunk
        return self.config["info_weight"] * loss, {"loss_info": loss.item(), "acc_code": float(acc)}

    def aux_g_loss(self, fake_feats, cond_fake):
        return self.config["info_weight"] * self.info_loss(fake_feats, cond_fake)[0]  # into G


class WGANGP(GAN):
    """Wasserstein GAN with gradient penalty (Gulrajani et al., 2017).

    The critic has no batch norm (the penalty is per sample), the loss is fixed to
    ``"wasserstein"``, G is updated once every ``n_critic`` steps and the critic loss adds
    ``gp_weight * gradient_penalty``. Defaults follow the paper: lr 1e-4, betas (0, 0.9),
    λ = 10, n_critic = 5. The critic keeps PyTorch's default (Kaiming-uniform) initialisation:
    with DCGAN's N(0, 0.02) weights it starts almost flat (gradient norm ~0, penalty ~1) and learns
    too slowly to guide the generator.
    """

    dcgan_init_critic = False

    def __init__(
        self,
        *,
        gp_weight: float = 10.0,
        n_critic: int = 5,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.0, 0.9),
        loss: str = "wasserstein",
        **config,
    ) -> None:
        if loss != "wasserstein":
            raise ValueError(
                f"WGAN-GP needs loss='wasserstein', got {loss!r}; use 'dcgan' for other losses"
            )
        check_positive_int(n_critic, "n_critic")
        check_weight(gp_weight, "gp_weight")
        super().__init__(lr=lr, betas=betas, loss=loss, **config)

    def build_trunk(self) -> nn.Module:
        return ConvTrunk(
            self.in_channels,
            self.size,
            self.config["base_channels"],
            "none",
            self.config["spectral_norm"],
        )

    def critic_extra(self, x_real, x_fake, cond_real):
        gp = gradient_penalty(lambda x: self.discriminate(x, cond_real)[0], x_real, x_fake)
        return self.config["gp_weight"] * gp, {"loss_gp": gp.item()}

    def update_generator(self, step: int) -> bool:
        return (step + 1) % self.config["n_critic"] == 0

    def score_logs(self, s_real, s_fake):
        return {"wasserstein_estimate": float(s_real.mean() - s_fake.mean())}
