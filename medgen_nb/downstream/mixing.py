"""Real, synthetic and real + synthetic training sets of one size, for a fair comparison.

Does a downstream model trained on synthetic images do as well as one trained on real ones, and
does adding synthetic images help? Only if every arm sees the same number of training items: a
model trained on more items may win for that reason alone. :func:`training_sets` draws

* ``"real"``: ``n`` real items, without replacement;
* ``"synthetic"``: ``n`` synthetic items, without replacement;
* ``"mixed"``: the first ``n - m`` of those real items plus the first ``m`` of those synthetic
  items, ``m = round(synthetic_fraction * n)``,

all from one seeded generator, so the same seed gives the same sets. Every set yields the same
item keys (those of the synthetic items, unless ``keys`` says otherwise), so one collate works
for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.utils.data import Dataset

from medgen_nb.models.validation import check_positive_int

Source = Dataset | Mapping[str, torch.Tensor] | torch.Tensor


class TensorItems(Dataset):
    """Items ``{key: tensors[key][i]}`` from equal-length tensors (e.g. a generator's samples).

    Args:
        tensors: key -> ``(N, ...)`` tensor, e.g. ``{"image": (N, C, S, S), "label": (N,)}``.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        if not tensors:
            raise ValueError("tensors must name at least one key, e.g. {'image': images}")
        lengths = {k: len(v) for k, v in tensors.items() if isinstance(v, torch.Tensor)}
        if len(lengths) != len(tensors):
            bad = sorted(set(tensors) - set(lengths))
            raise ValueError(f"every value must be a tensor; not tensors: {bad}")
        if len(set(lengths.values())) != 1:
            raise ValueError(f"every tensor must hold one row per item, got lengths {lengths}")
        self.tensors = dict(tensors)
        self.n = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class MixedSubset(Dataset):
    """Chosen items of a real and a synthetic data set, restricted to ``keys``.

    Attributes:
        items: ``(source, index)`` per item, ``source`` ``"real"`` or ``"synthetic"``.
        keys: the item keys every item yields.
    """

    def __init__(
        self, sources: Mapping[str, Dataset], items: Sequence[tuple[str, int]], keys: Sequence[str]
    ) -> None:
        self.sources, self.items, self.keys = dict(sources), list(items), tuple(keys)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        source, index = self.items[i]
        item = self.sources[source][index]
        return {k: item[k] for k in self.keys}

    @property
    def is_synthetic(self) -> torch.Tensor:
        """``(len,)`` bool: which items are synthetic."""
        return torch.tensor([source == "synthetic" for source, _ in self.items], dtype=torch.bool)


def _as_dataset(data: Source, name: str) -> Dataset:
    if isinstance(data, torch.Tensor):
        return TensorItems({"image": data})
    if isinstance(data, Mapping):
        return TensorItems(data)
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        return data
    raise ValueError(
        f"{name} must be a sized torch Dataset of dict items, a dict of (N, ...) tensors or an "
        f"(N, C, S, S) image tensor, got {type(data).__name__}"
    )


def _check_items(real: Dataset, synthetic: Dataset, keys: Sequence[str] | None) -> tuple[str, ...]:
    """The keys every set yields; raise unless both sources have them with one shape and dtype."""
    r, s = real[0], synthetic[0]
    for name, item in (("real", r), ("synthetic", s)):
        if not isinstance(item, Mapping):
            raise ValueError(
                f"{name} items must be dicts of tensors (as SliceDataset yields), got "
                f"{type(item).__name__}"
            )
    keys = tuple(s) if keys is None else tuple(keys)
    for name, item in (("real", r), ("synthetic", s)):
        missing = [k for k in keys if k not in item]
        if missing:
            raise ValueError(
                f"{name} items lack key(s) {missing} (they have {sorted(item)}); every set must "
                "yield the same keys: give the synthetic set the same keys, or pass keys=[...] "
                "with the keys both have"
            )
    for k in keys:
        a, b = torch.as_tensor(r[k]), torch.as_tensor(s[k])
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValueError(
                f"item key {k!r} differs between real ({tuple(a.shape)}, {a.dtype}) and synthetic "
                f"({tuple(b.shape)}, {b.dtype}) items; resize or cast one of them to match"
            )
    return keys


def training_sets(
    real: Source,
    synthetic: Source,
    n: int | None = None,
    *,
    synthetic_fraction: float = 0.5,
    keys: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, MixedSubset]:
    """Real, synthetic and mixed training sets of ``n`` items each.

    Args:
        real: the real training set (e.g. a :class:`~medgen_nb.data.slices.SliceDataset` split).
        synthetic: generated items: a Dataset of dicts, a dict of ``(N, ...)`` tensors (e.g.
            ``{"image": samples, "label": labels}``) or an ``(N, C, S, S)`` image tensor.
        n: items per set; default: as many as both sources hold (``min`` of their sizes).
        synthetic_fraction: share of synthetic items in ``"mixed"``, in [0, 1].
        keys: item keys every set yields; default: the synthetic items' keys.
        seed: the draw; the same seed gives the same sets.

    Returns:
        ``{"real": ..., "synthetic": ..., "mixed": ...}``, each a :class:`MixedSubset` of
        ``n`` distinct items; ``"mixed"`` reuses the real and synthetic sets' first items.
    """
    real_ds, synth_ds = _as_dataset(real, "real"), _as_dataset(synthetic, "synthetic")
    n_real, n_synth = len(real_ds), len(synth_ds)
    if n_real == 0 or n_synth == 0:
        raise ValueError(f"both sources need items, got {n_real} real and {n_synth} synthetic")
    if n is None:
        n = min(n_real, n_synth)
    check_positive_int(n, "n")
    if n > min(n_real, n_synth):
        raise ValueError(
            f"n={n} items per set needs at least {n} real and {n} synthetic items (drawn without "
            f"replacement), got {n_real} real and {n_synth} synthetic; lower n or generate more"
        )
    if isinstance(synthetic_fraction, bool) or not (
        isinstance(synthetic_fraction, int | float) and 0 <= synthetic_fraction <= 1
    ):
        raise ValueError(
            f"synthetic_fraction must be a number in [0, 1], got {synthetic_fraction!r}"
        )
    check_positive_int(seed, "seed", minimum=0)
    keys = _check_items(real_ds, synth_ds, keys)

    g = torch.Generator().manual_seed(seed)
    real_idx = torch.randperm(n_real, generator=g)[:n].tolist()
    synth_idx = torch.randperm(n_synth, generator=g)[:n].tolist()
    m = round(synthetic_fraction * n)
    sources = {"real": real_ds, "synthetic": synth_ds}
    real_items = [("real", i) for i in real_idx]
    synth_items = [("synthetic", i) for i in synth_idx]
    return {
        "real": MixedSubset(sources, real_items, keys),
        "synthetic": MixedSubset(sources, synth_items, keys),
        "mixed": MixedSubset(sources, real_items[: n - m] + synth_items[:m], keys),
    }
