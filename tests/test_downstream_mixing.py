"""training_sets: matched sizes, no repeats, the mixed share, reproducibility, clear errors."""

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from medgen_nb.downstream import TensorItems, training_sets


class Slices(Dataset):
    """Stands in for a SliceDataset split: dict items with extra keys a generator lacks."""

    def __init__(self, n, size=8):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {
            "image": torch.full((1, self.size, self.size), i / self.n),
            "label": torch.tensor(i % 2),
            "subject": torch.tensor(i // 4),
        }


def synthetic(n, size=8):
    # ids start at 1000 so an item's origin can be read from its image
    return {"image": torch.arange(1000, 1000 + n).float().view(n, 1, 1, 1).expand(n, 1, size, size),
            "label": torch.arange(n) % 2}  # fmt: skip


def ids(dataset):
    return [float(item["image"][0, 0, 0]) for item in dataset]


def test_sizes_keys_and_mixed_share():
    sets = training_sets(Slices(40), synthetic(30), n=20, synthetic_fraction=0.25, seed=3)
    assert set(sets) == {"real", "synthetic", "mixed"}
    assert all(len(s) == 20 for s in sets.values())
    for s in sets.values():
        assert set(s[0]) == {"image", "label"}  # the synthetic keys: "subject" is dropped
    real, synth, mixed = ids(sets["real"]), ids(sets["synthetic"]), ids(sets["mixed"])
    assert all(v < 1 for v in real) and all(v >= 1000 for v in synth)
    assert int(sets["mixed"].is_synthetic.sum()) == 5  # round(0.25 * 20)
    assert mixed == real[:15] + synth[:5]  # the mixed arm reuses both arms' first items


def test_no_repeats_within_a_set():
    sets = training_sets(Slices(25), synthetic(25), seed=1)
    assert len(sets["real"]) == 25  # default n: all of the smaller source
    for s in sets.values():
        assert len(set(s.items)) == len(s)  # sampled without replacement
    assert sorted(i for _, i in sets["real"].items) == list(range(25))
    assert len(training_sets(Slices(10), synthetic(5))["mixed"]) == 5  # n: the smaller source


def test_reproducible_by_seed():
    a = training_sets(Slices(50), synthetic(50), n=10, seed=7)
    b = training_sets(Slices(50), synthetic(50), n=10, seed=7)
    c = training_sets(Slices(50), synthetic(50), n=10, seed=8)
    assert all(a[k].items == b[k].items for k in a)
    assert a["real"].items != c["real"].items and a["synthetic"].items != c["synthetic"].items


def test_sets_batch_and_accept_tensors_or_datasets():
    sets = training_sets(Slices(16), TensorItems(synthetic(16)), n=8, seed=0)
    batch = next(iter(DataLoader(sets["mixed"], batch_size=8)))
    assert batch["image"].shape == (8, 1, 8, 8) and batch["label"].dtype == torch.int64
    images_only = training_sets(Slices(16), synthetic(16)["image"], n=4)  # a bare image tensor
    assert set(images_only["real"][0]) == {"image"}
    keyed = training_sets(Slices(16), synthetic(16), n=4, keys=["image"])
    assert set(keyed["mixed"][0]) == {"image"}


@pytest.mark.parametrize(
    ("real", "synth", "kwargs", "match"),
    [
        (Slices(10), synthetic(30), {"n": 12}, "needs at least 12 real and 12 synthetic items"),
        (Slices(10), synthetic(8), {"n": 0}, "n must be an int >= 1"),
        (Slices(10), synthetic(8), {"synthetic_fraction": 1.5}, "synthetic_fraction must be"),
        (Slices(10), {"image": torch.rand(8, 1, 8, 8), "seg": torch.zeros(8, 8, 8)}, {},
         r"real items lack key\(s\) \['seg'\]"),
        (Slices(10), synthetic(8), {"keys": ["subject"]}, r"synthetic items lack key\(s\) \['subject'\]"),
        (Slices(10), synthetic(8, size=16), {}, r"'image' differs .*\(1, 8, 8\).*\(1, 16, 16\)"),
        (Slices(10), {"image": torch.rand(8, 1, 8, 8), "label": torch.zeros(8)}, {},
         "'label' differs .*torch.int64.*torch.float32"),
        (Slices(10), [1, 2, 3], {}, "synthetic must be a sized torch Dataset"),
        (Slices(10), {"image": torch.rand(8, 1, 8, 8), "label": torch.zeros(7)}, {},
         "one row per item"),
        (Slices(0), synthetic(8), {}, "both sources need items, got 0 real"),
    ],
)  # fmt: skip
def test_clear_errors(real, synth, kwargs, match):
    with pytest.raises(ValueError, match=match):
        training_sets(real, synth, **kwargs)
