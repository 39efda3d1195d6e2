"""Shared slice datasets: items and shapes, every input check, subject-wise splits, unpaired pairs."""

import numpy as np
import pytest
import torch

from medgen_nb.data.intensity import ct_window, mr_robust
from medgen_nb.data.slices import SliceDataset, Subject, UnpairedDataset, split_subjects


def make_subject(sid="s0", shape=(12, 10, 8), seed=0, meta=None):
    rng = np.random.default_rng(seed)
    t1 = rng.random(shape, dtype=np.float32)
    ct = rng.random(shape, dtype=np.float32)
    mask = np.zeros(shape, bool)
    mask[2:10, 2:8, 1:7] = True
    seg = np.zeros(shape, np.int64)
    seg[4:7, 4:6, 3:4] = 2
    return Subject(
        sid,
        {"t1": t1, "ct": ct},
        {"t1": mr_robust(t1), "ct": ct_window()},
        (1.0, 1.0, 2.0),
        labels={"tissue": seg},
        mask=mask,
        meta=meta or {"grade": 1},
    )


@pytest.fixture()
def subjects():
    return [make_subject(f"s{k}", seed=k, meta={"grade": k % 2}) for k in range(3)]


def test_items_keys_shapes_and_ranges(subjects):
    ds = SliceDataset(
        subjects,
        ["t1"],
        "ct",
        plane="axial",
        size=32,
        seg_key="tissue",
        label_from="seg_present",
        min_foreground=0.0,
    )
    assert len(ds) == 3 * 8  # every axial slice of every subject
    item = ds[5]
    assert item["image"].shape == (1, 32, 32) and item["target"].shape == (1, 32, 32)
    assert item["mask"].shape == (1, 32, 32) and item["seg"].shape == (32, 32)
    assert item["image"].dtype == torch.float32 and item["seg"].dtype == torch.int64
    assert 0 <= item["image"].min() and item["image"].max() <= 1
    labels = ds.tensors()["label"]
    assert labels.sum() == 3  # slice z=3 of each subject holds the label 2
    assert int(ds[3]["slice"]) == 3 and int(ds[3]["label"]) == 1
    assert ds.num_classes == 2 and ds.subject_ids == ["s0", "s1", "s2"]


@pytest.mark.parametrize(("plane", "n"), [("sagittal", 12), ("coronal", 10), ("axial", 8)])
def test_planes_cut_along_their_axis(subjects, plane, n):
    ds = SliceDataset(subjects[:1], "t1", plane=plane, size=32, min_foreground=0.0)
    assert len(ds) == n


def test_min_foreground_drops_empty_slices(subjects):
    ds = SliceDataset(subjects[:1], ["t1", "ct"], size=32, min_foreground=0.05)
    assert len(ds) == 6 and ds[0]["image"].shape == (2, 32, 32)  # mask covers z = 1..6


def test_meta_and_callable_labels(subjects):
    ds = SliceDataset(subjects, "t1", size=32, label_from="meta:grade", min_foreground=0.0)
    assert set(ds.tensors()["label"].tolist()) == {0, 1}
    ds = SliceDataset(subjects[:1], "t1", size=32, label_from=lambda s, seg: 7, min_foreground=0.0)
    assert int(ds[0]["label"]) == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sources": []}, "at least one modality"),
        ({"plane": "oblique"}, "plane must be one of"),
        ({"size": 48}, "size must be one of"),
        ({"target": "pet"}, "unknown modality 'pet'"),
        ({"seg_key": "lesion"}, "unknown label map 'lesion'"),
        ({"label_from": "seg_present"}, "needs seg_key"),
        ({"min_foreground": 1.0}, "no slice has at least"),
        ({"min_foreground": 1.1}, r"min_foreground must be a fraction in \[0, 1\]"),
        ({"min_foreground": True}, "min_foreground must be a fraction"),
        ({"size": True}, "size must be one of"),
        ({"label_from": "meta:"}, "label_from must be"),
        ({"label_from": "meta:age"}, r"no meta\['age'\]"),
        ({"label_from": "colour"}, "label_from must be"),
    ],
)
def test_slice_dataset_errors(subjects, kwargs, match):
    args = {"sources": ["t1"], "size": 32} | kwargs
    with pytest.raises(ValueError, match=match):
        SliceDataset(subjects, **args)


def test_no_subjects_error():
    with pytest.raises(ValueError, match="no subjects"):
        SliceDataset([], ["t1"])


def test_subject_checks():
    with pytest.raises(ValueError, match="not on one grid"):
        Subject("a", {"x": np.zeros((2, 2, 2)), "y": np.zeros((2, 2, 3))}, {}, (1, 1, 1))
    with pytest.raises(ValueError, match="must be 3-D"):
        Subject("a", {"x": np.zeros((2, 2))}, {}, (1, 1, 1))
    with pytest.raises(ValueError, match="NaN"):
        Subject("a", {"x": np.full((2, 2, 2), np.nan)}, {}, (1, 1, 1))


def test_split_subjects_never_shares_and_is_stable():
    ids = [f"sub-{k:03d}" for k in range(40)]
    splits = split_subjects(ids)
    sets = [set(v) for v in splits.values()]
    assert sum(map(len, sets)) == 40 and set.union(*sets) == set(ids)
    assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    # the split depends on the ids only, not on their order
    assert split_subjects(list(reversed(ids))) == splits
    small = split_subjects(["a", "b", "c"])
    assert all(len(v) == 1 for v in small.values())


def test_split_subjects_errors():
    with pytest.raises(ValueError, match="summing to 1"):
        split_subjects(["a"], (0.5, 0.5, 0.5))
    for bad in (
        (0.9, 0.1),
        "0.7,0.15,0.15",
        (0.7, 0.15, None),
        (True, False, False),
        (1.5, -0.5, 0),
    ):
        with pytest.raises(ValueError, match=r"fractions must be three non-negative numbers"):
            split_subjects(["a", "b", "c"], bad)
    with pytest.raises(ValueError, match="unique"):
        split_subjects(["a", "a"])


@pytest.mark.parametrize(
    "fractions", [(0.0, 0.5, 0.5), (0.1, 0.45, 0.45), (0.2, 0.4, 0.4), (0.7, 0.15, 0.15)]
)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10])
def test_split_subjects_never_overlaps_and_keeps_train(n, fractions):
    """(0, 0.5, 0.5) with 3 ids gave train 2, test 2 of 3: a subject in two splits."""
    ids = [f"s{k}" for k in range(n)]
    splits = split_subjects(ids, fractions)
    assert sorted(sum(splits.values(), [])) == sorted(ids)  # each id exactly once
    assert splits["train"] or fractions[0] == 0  # rounding leftovers go to train


def test_split_subjects_keeps_its_assignment_for_valid_fractions():
    """The sizes did not change where they were right: notebooks' splits stay the same."""
    ids = [f"phantom-{k}" for k in range(20)]
    assert [len(v) for v in split_subjects(ids).values()] == [14, 3, 3]
    assert [len(v) for v in split_subjects(ids[:3]).values()] == [1, 1, 1]
    assert [len(v) for v in split_subjects(ids[:2]).values()] == [2, 0, 0]


def test_unpaired_dataset_pairs_unrelated_items(subjects):
    a = SliceDataset(subjects[:1], "t1", size=32, min_foreground=0.0)
    b = SliceDataset(subjects[1:], "ct", size=32, min_foreground=0.0)
    ds = UnpairedDataset(a, b, seed=1)
    assert len(ds) == len(a)
    item = ds[2]
    assert torch.equal(item["image"], a[2]["image"])
    assert torch.equal(item["target"], b[int(ds.perm[2])]["image"])
    assert torch.equal(UnpairedDataset(a, b, seed=1).perm, ds.perm)
    with pytest.raises(ValueError, match="at least one item"):
        UnpairedDataset(a, [])


def _hu_subject(images):
    return Subject("hu", images, {k: ct_window() for k in images}, (1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("volume", "match"),
    [
        (np.linspace(-1000.0, 2000.0, 64, dtype=np.float32).reshape(4, 4, 4), r"ct_window"),
        (np.arange(64, dtype=np.uint8).reshape(4, 4, 4), r"uint8.*255"),
        (np.zeros((4, 4, 4), bool), r"bool"),
        (np.full((4, 4, 4), 1.01, np.float32), r"\[0, 1\].*1\.01"),
        (np.full((4, 4, 4), np.inf, np.float32), "NaN or inf"),
    ],
)
def test_subject_refuses_images_outside_unit_range(volume, match):
    """Raw HU were clamped to 0 and 1 for 99.95 % of the pixels; now the border refuses them."""
    with pytest.raises(ValueError, match=match):
        _hu_subject({"ct": volume})


def test_subject_refuses_non_array_images():
    with pytest.raises(TypeError, match=r"numpy array.*Tensor"):
        _hu_subject({"ct": torch.zeros(4, 4, 4)})
    with pytest.raises(ValueError, match="at least one image"):
        Subject("none", {}, {}, (1.0, 1.0, 1.0))


def test_unit_range_tolerance_and_labels_pass():
    """float16 rounding and resampling overshoot pass; labels and masks are not images."""
    vol = np.full((4, 4, 4), 1.0 + 5e-4, np.float32)
    vol[0] = -5e-4
    s = Subject(
        "ok",
        {"ct": vol, "t1": vol.astype(np.float16)},
        {"ct": ct_window(), "t1": mr_robust(vol)},
        (1.0, 1.0, 1.0),
        labels={"tissue": np.full((4, 4, 4), 300, np.int64)},
        mask=np.ones((4, 4, 4), bool),
    )
    assert SliceDataset([s], ["ct", "t1"], size=32, min_foreground=0.0)[0]["image"].max() <= 1


def test_slice_dataset_rechecks_images_changed_after_construction(subjects):
    subjects[1].images["ct"] = subjects[1].images["ct"] * 3000.0 - 1000.0  # HU put in later
    with pytest.raises(ValueError, match=r"subject s1: image 'ct'.*ct_window"):
        SliceDataset(subjects, ["t1", "ct"], size=32)
    assert len(SliceDataset(subjects, ["t1"], size=32, min_foreground=0.0)) == 24  # not used


class _Items(torch.utils.data.Dataset):
    def __init__(self, item):
        self.item = item

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return self.item


def test_unpaired_dataset_checks_its_domains(subjects):
    a = SliceDataset(subjects[:1], "t1", size=32, min_foreground=0.0)
    with pytest.raises(ValueError, match=r"domain_b.*\[0, 1\].*40"):
        UnpairedDataset(a, _Items({"image": torch.full((1, 8, 8), 40.0)}))
    with pytest.raises(ValueError, match=r"domain_a.*uint8"):
        UnpairedDataset(_Items({"image": torch.zeros(1, 8, 8, dtype=torch.uint8)}), a)
    with pytest.raises(ValueError, match=r"domain_a.*dict with an 'image'"):
        UnpairedDataset(_Items({"x": torch.zeros(1, 8, 8)}), a)
    assert len(UnpairedDataset(_Items({"image": torch.rand(1, 8, 8)}), a)) == 3


def test_target_among_sources_and_missing_meta_key(subjects):
    with pytest.raises(ValueError, match="target 'ct' is also a source"):
        SliceDataset(subjects, ["t1", "ct"], "ct", size=32)
    with pytest.raises(ValueError, match=r"no meta\['age'\]; its meta keys are \['grade'\]"):
        SliceDataset(subjects, "t1", size=32, label_from="meta:age")


def test_split_ids_and_spacing_are_checked():
    with pytest.raises(TypeError, match="subject_ids must be a list of str"):
        split_subjects([1, 2, 3])  # AttributeError: 'int' object has no attribute 'encode'
    for spacing in ((1.0, 1.0), (1.0, 0.0, 1.0), (1.0, float("nan"), 1.0)):
        with pytest.raises(ValueError, match="spacing_mm must be three positive"):
            Subject("a", {"x": np.zeros((2, 2, 2), np.float32)}, {}, spacing)
    s = Subject("a", {"x": np.zeros((2, 2, 2), np.float32)}, {}, tuple(np.float32([1, 1, 2])))
    assert s.spacing_mm[2] == 2.0


def test_brain_slice_datasets_stream_subjects_and_equal_slicing_them_all_at_once():
    # brain_slice_datasets holds one subject's volumes at a time (SliceBuilder); the splits must
    # be exactly those of SliceDataset over the whole loaded population.
    from medgen_nb.data.brain_phantom import brain_slice_datasets, load_brain_subjects
    from medgen_nb.data.slices import SliceDataset, split_subjects

    kwargs = dict(size=32, seg_key="lesion", label_from="seg_present")
    streamed = brain_slice_datasets(["t1w"], "t2w", n_subjects=4, progress=False, **kwargs)
    loaded = load_brain_subjects(4, progress=False, modalities=["t1w", "t2w"])
    subjects = {s.subject_id: s for s in loaded}
    for split, ids in split_subjects(list(subjects)).items():
        reference = SliceDataset([subjects[i] for i in ids], ["t1w"], "t2w", **kwargs)
        (a, meta_a), (b, meta_b) = reference.state(), streamed[split].state()
        assert meta_a == meta_b and a.keys() == b.keys()
        assert all(a[k].dtype == b[k].dtype and (a[k] == b[k]).all() for k in a), split
