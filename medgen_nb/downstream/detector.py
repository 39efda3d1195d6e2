"""A centre-heatmap nodule detector in the style of CenterNet ("Objects as Points", Zhou et al.,
2019), at full image resolution.

A U-Net (:class:`medgen_nb.downstream.segmenter.UNet`) predicts five maps per image:

* ``Ŷ`` (1 channel, sigmoid): the probability that an object centre lies in each pixel. Its
  target ``Y`` is a Gaussian around each true centre pixel ``p`` (the peak is exactly 1 there),
  with ``σ = max(w, h) / 6``: 99 % of it falls inside the box. Trained with the penalty-reduced
  focal loss (eq. 1 of the paper), ``α = 2``, ``β = 4``:
  ``L_k = -1/N Σ_xy { (1 - Ŷ)^α log Ŷ  if Y = 1;  (1 - Y)^β Ŷ^α log(1 - Ŷ)  otherwise }``,
  ``N`` the number of objects. ``(1 - Y)^β`` forgives near misses next to a centre.
* ``(o_x, o_y, log w, log h)`` (4 channels), read only at the true centre pixels and trained with
  an L1 loss there: the offset of the box centre from the pixel's corner (the paper's ``L_off``,
  sub-pixel precision matters for small nodules) and the box size. Log sizes make a 1-pixel
  error weigh more on a 4-pixel nodule than on a 40-pixel one (the paper regresses raw sizes).

Decoding keeps the local maxima of ``Ŷ`` in 3x3 windows (this replaces box NMS) above a score
threshold, and reads the box at each.

Boxes are ``[x0, y0, x1, y1]`` in pixels with exclusive ends, as
:func:`medgen_nb.data.chest_ct.boxes_from_seg` returns them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from medgen_nb.data.chest_ct import boxes_from_seg
from medgen_nb.downstream.base import DownstreamModel
from medgen_nb.downstream.segmenter import UNet
from medgen_nb.models.base import Batch
from medgen_nb.models.validation import check_positive_int, check_weight

ALPHA, BETA = 2.0, 4.0  # focal-loss exponents of CenterNet, eq. 1
PRIOR = 0.1  # initial centre probability everywhere: keeps early focal losses small (RetinaNet)


def centre_targets(seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Heatmap and box targets from instance maps.

    Args:
        seg: ``(B, S, S)`` int64 instance map, 0 = background, one id per object.

    Returns:
        ``Y`` ``(B, S, S)`` Gaussian centre heatmap in [0, 1] (1 at each centre pixel),
        ``box`` ``(B, 4, S, S)`` ``(o_x, o_y, log w, log h)`` at the centre pixels (0 elsewhere),
        ``centre`` ``(B, S, S)`` bool, True at the centre pixels.
    """
    b, s = seg.shape[0], seg.shape[-1]
    heat = torch.zeros(b, s, s)
    box = torch.zeros(b, 4, s, s)
    centre = torch.zeros(b, s, s, dtype=torch.bool)
    rows, cols = torch.arange(s).view(s, 1).float(), torch.arange(s).view(1, s).float()
    for i in range(b):
        for x0, y0, x1, y1 in boxes_from_seg(seg[i].cpu()).tolist():
            cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
            px, py = min(int(cx), s - 1), min(int(cy), s - 1)  # the pixel holding the centre
            sigma = max(w, h) / 6
            gauss = torch.exp(-((cols - px) ** 2 + (rows - py) ** 2) / (2 * sigma**2))  # (S, S)
            heat[i] = torch.maximum(heat[i], gauss)
            box[i, :, py, px] = torch.tensor([cx - px, cy - py, math.log(w), math.log(h)])
            centre[i, py, px] = True
    return heat.to(seg.device), box.to(seg.device), centre.to(seg.device)


def centre_focal_loss(logits: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced focal loss of CenterNet (eq. 1) for ``(B, S, S)`` logits and targets."""
    Y_hat = torch.sigmoid(logits)
    log_Y_hat, log_1m_Y_hat = F.logsigmoid(logits), F.logsigmoid(-logits)  # stable log Ŷ, log(1-Ŷ)
    pos = Y == 1
    pos_term = ((1 - Y_hat) ** ALPHA * log_Y_hat)[pos].sum()
    neg_term = ((1 - Y) ** BETA * Y_hat**ALPHA * log_1m_Y_hat)[~pos].sum()
    return -(pos_term + neg_term) / pos.sum().clamp_min(1)


class NoduleDetector(DownstreamModel):
    """Centre-heatmap detector: ``(N, C, S, S)`` in [0, 1] -> per image ``(K, 5)`` boxes
    ``[x0, y0, x1, y1, score]``.

    Config: ``in_channels``, ``size`` (power of two >= 16), ``base_channels``, ``lr`` (Adam),
    ``box_weight`` (weight of the L1 box term against the focal heatmap term), ``typical_size``
    (pixels: the box side the size head starts from, like an anchor box; > 0). The default suits
    the chest phantom's nodules at 64 px: box sides 1-4 px, median 2 (measured on 6 subjects).
    Trains on ``batch["seg"]``: an ``(B, S, S)`` instance map, one id per object (e.g.
    ``SliceDataset(..., seg_key="nodules")`` on the chest phantom).
    """

    batch_keys = ("image", "seg")

    def __init__(
        self,
        *,
        in_channels: int = 1,
        size: int = 64,
        base_channels: int = 16,
        lr: float = 1e-3,
        box_weight: float = 1.0,
        typical_size: float = 3.0,
    ) -> None:
        check_weight(box_weight, "box_weight")
        if isinstance(typical_size, bool) or not (
            isinstance(typical_size, int | float) and 0 < typical_size < math.inf
        ):
            raise ValueError(f"typical_size must be a box side in pixels > 0, got {typical_size!r}")
        super().__init__(
            in_channels=in_channels, size=size, base_channels=base_channels, lr=lr,
            box_weight=box_weight, typical_size=typical_size,
        )  # fmt: skip
        self.net = UNet(in_channels, 5, base_channels)  # channels: Ŷ logit, o_x, o_y, log w, log h
        with torch.no_grad():
            self.net.head.bias[0] = math.log(PRIOR / (1 - PRIOR))
            # start the sizes at the typical box, as an anchor does: Adam moves a bias by about
            # lr per step, so from log w = 0 a 6-pixel box would take ~2 / lr steps to reach
            self.net.head.bias[3:] = math.log(typical_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> ``(N, 5, S, S)``: centre logit, ``o_x``, ``o_y``,
        ``log w``, ``log h`` (pixels)."""
        return self.net(self.check_images(images))

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        out = self(batch["image"]).float()  # (B, 5, S, S)
        seg = self.check_label_map(batch["seg"], len(out), 'batch["seg"]')
        Y, box, centre = centre_targets(seg)
        loss_heatmap = centre_focal_loss(out[:, 0], Y)
        # L1 on the four box channels at the centre pixels only: (n_objects, 4)
        box_hat = out[:, 1:].permute(0, 2, 3, 1)[centre]
        loss_box = (
            F.l1_loss(box_hat, box.permute(0, 2, 3, 1)[centre]) if centre.any() else out.sum() * 0
        )
        loss = loss_heatmap + self.config["box_weight"] * loss_box
        return loss, {
            "loss": loss.item(),
            "loss_heatmap": loss_heatmap.item(),
            "loss_box": loss_box.item(),
        }

    @torch.no_grad()
    def heatmap(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` in [0, 1] -> ``(N, S, S)`` centre probabilities ``Ŷ`` in [0, 1]."""
        return torch.sigmoid(self(images)[:, 0].float())

    @torch.no_grad()
    def detect(
        self, images: torch.Tensor, threshold: float = 0.3, max_detections: int = 20
    ) -> list[torch.Tensor]:
        """Boxes found in each image.

        Args:
            images: ``(N, C, S, S)`` in [0, 1].
            threshold: a peak of the centre heatmap is kept when its probability (the score)
                exceeds this, in [0, 1).
            max_detections: at most this many boxes per image (the highest scores).

        Returns:
            ``N`` float32 CPU tensors ``(K, 5)``: ``[x0, y0, x1, y1, score]``, boxes in pixels
            (exclusive ends, clipped to the image), sorted by decreasing score.
        """
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 <= threshold < 1
        ):
            raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
        check_positive_int(max_detections, "max_detections")
        out = self(images).float().cpu()  # (N, 5, S, S)
        s = self.config["size"]
        Y_hat = torch.sigmoid(out[:, 0])
        peak = Y_hat == F.max_pool2d(Y_hat[:, None], 3, stride=1, padding=1)[:, 0]  # (N, S, S)
        detections = []
        for i in range(len(out)):
            scores = torch.where(peak[i], Y_hat[i], torch.zeros_like(Y_hat[i])).flatten()
            top = scores.topk(min(max_detections, scores.numel()))
            keep = top.indices[top.values > threshold]
            py, px = keep // s, keep % s
            o_x, o_y, log_w, log_h = out[i, 1:].flatten(1)[:, keep]
            cx, cy, w, h = px + o_x, py + o_y, log_w.exp(), log_h.exp()
            boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).clamp(0, s)
            detections.append(torch.cat([boxes, scores[keep, None]], 1))
        return detections


MODELS: dict[str, type] = {"detector": NoduleDetector}
