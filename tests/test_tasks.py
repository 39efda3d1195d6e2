"""The task registry: names, variants, declarations, and every phantom task built at SMOKE size."""

import pytest
import torch

from medgen_nb import tasks
from medgen_nb.data import modalities
from medgen_nb.tasks.base import BRAIN_TISSUE_LABELS, brain_fraction_filter

pytestmark = pytest.mark.usefixtures("one_thread")


def test_registry_has_the_tasks_the_chapters_need():
    assert len(tasks.available("translation")) >= 14
    assert len(tasks.available("creation")) >= 3
    assert len(tasks.available("downstream")) >= 3
    for name in (
        "brain_t1w_to_t2w", "brain_t2w_to_flair", "brain_multi_to_flair", "brain_t1w_to_pd",
        "brain_ct_to_t1w", "brain_t1w_to_ct", "brain_cbct_to_ct", "chest_cbct_to_ct",
        "chest_ct_to_xray", "brain_t1w_to_pet", "chest_ct_to_us", "brain_t1w_to_t1ce",
        "chest_ct_to_arterial", "chest_ct_to_venous",
    ):  # fmt: skip
        assert tasks.get(name).data == "phantom"
    assert tasks.get("brain_multi_to_flair").sources == ("t1w", "t2w", "t1ce")


def test_real_data_variants_are_registered_under_the_same_names():
    assert tasks.variants("brain_t1w_to_t2w") == ["phantom", "brats", "ixi"]
    assert tasks.get("brain_pd_to_t2w", data="ixi").sources == ("pd",)
    assert tasks.get("brain_cbct_to_ct", data="synthrad").data == "synthrad"
    assert "brain_mr_to_ct" in tasks.available(data="synthrad")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown task 'brain_t1_to_t2'.*brain_t1w_to_t2w"):
        tasks.get("brain_t1_to_t2")
    with pytest.raises(ValueError, match="no variant on data 'ixi'.*phantom"):
        tasks.get("chest_ct_to_us", data="ixi")
    with pytest.raises(ValueError, match="kind must be one of"):
        tasks.available("segmentation")


def test_metric_sets_follow_the_target_modality():
    names = lambda t: [m.name for m in tasks.get(t).metrics]  # noqa: E731
    assert names("brain_t1w_to_t2w") == ["mae", "psnr", "ssim"]
    assert names("brain_t1w_to_ct")[3:] == ["mae_hu", "mae_hu_bone", "mae_hu_soft_tissue"]
    assert names("brain_t1w_to_pet")[3:] == ["mae_suv"]
    psnr = tasks.get("brain_t1w_to_t2w").metrics[1]
    assert psnr.unit == "dB" and psnr.higher_is_better
    assert [m.name for m in tasks.get("chest_nodule_detection").metrics] == [
        "recall_iou50",
        "precision_iou50",
    ]


def test_declarations_are_checked_and_use_canonical_names():
    task = tasks.TranslationTask("x", "x", region="brain", sources=("T1",), target="t2")
    assert task.sources == ("t1w",) and task.target == "t2w"
    with pytest.raises(ValueError, match="also a source"):
        tasks.TranslationTask("x", "x", region="brain", sources=("t1w",), target="t1")
    with pytest.raises(ValueError, match="unknown modality 't3w'"):
        tasks.TranslationTask("x", "x", region="brain", sources=("t3w",), target="t2w")
    with pytest.raises(ValueError, match="needs label_from"):
        tasks.CreationTask("x", "x", region="brain", conditioning="label")
    with pytest.raises(ValueError, match="registered already"):
        tasks.register(tasks.get("brain_t1w_to_t2w"))


def test_task_keys_change_with_the_declaration():
    a = tasks.get("brain_t1w_to_t2w")
    b = tasks.get("brain_t1w_to_pd")
    assert a.key() == tasks.get("brain_t1w_to_t2w").key() and a.key() != b.key()


def test_modality_vocabulary_resolves_every_data_sets_names():
    assert modalities.canonical("T1n") == modalities.canonical("t1") == "t1w"
    assert modalities.canonical("t1c") == modalities.canonical("T1-Gd") == "t1ce"
    assert modalities.canonical("t2f") == modalities.canonical("T2_FLAIR") == "flair"
    assert modalities.kind("cbct") == "ct" and modalities.kind("x-ray") == "xray"
    assert modalities.get("pet").rule == "pet_suv"
    with pytest.raises(ValueError, match="canonical names are"):
        modalities.canonical("t1_corrected")
    with pytest.raises(ValueError, match="same modality twice"):
        modalities.canonical_all(["t1", "T1n"])


@pytest.fixture(scope="module")
def built():
    """Every phantom task, built once at SMOKE size."""
    return {
        name: tasks.build(tasks.get(name), smoke=True)
        for name in tasks.available()
        if "phantom" in tasks.variants(name)
    }


def test_every_phantom_task_builds_at_smoke_size(built):
    for name, data in built.items():
        task = data.task
        assert set(data.splits) == {"train", "val", "test"}, name
        item = data["train"][0]
        channels = len(task.sources) if task.kind == "translation" else 1
        spatial = (32,) * getattr(task, "spatial_dims", 2)  # slices, or volumes of 3-D tasks
        assert item["image"].shape == (channels, *spatial), name
        assert item["image"].dtype == torch.float32
        t = data["test"].tensors()
        assert 0.0 <= float(t["image"].min()) and float(t["image"].max()) <= 1.0, name
        if task.kind == "translation":
            assert t["target"].shape == (len(t["image"]), 1, *spatial), name
            assert 0.0 <= float(t["target"].min()) and float(t["target"].max()) <= 1.0, name
        if getattr(task, "label_from", None):
            assert "label" in t, name
        if getattr(task, "seg_key", None):
            assert t["seg"].shape == (len(t["image"]), 32, 32), name


def test_smoke_builds_split_by_subject(built):
    data = built["brain_t1w_to_t2w"]
    ids = {split: set(ds.subject_ids) for split, ds in data.splits.items()}
    assert sum(len(v) for v in ids.values()) == 4
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"])
    assert len(ids["train"]) == 2


def test_3d_task_holds_the_2d_tasks_subjects_as_whole_volumes(built):
    from medgen_nb.data.volumes import VolumeDataset

    flat, volumes = built["brain_t1w_to_t2w"], built["brain_t1w_to_t2w_3d"]
    for split, ds in volumes.splits.items():
        assert isinstance(ds, VolumeDataset), split
        assert ds.subject_ids == flat[split].subject_ids, split
        assert len(ds) == len(ds.subject_ids)
    assert volumes.record()["task"]["spatial_dims"] == 3
    assert "spatial_dims" not in flat.record()["task"]  # 2-D records (and run keys) unchanged
    with pytest.raises(ValueError, match="size must be one of"):
        tasks.build(tasks.get("brain_t1w_to_t2w_3d"), smoke=True, size=40)
    with pytest.raises(ValueError, match="spatial_dims must be 2"):
        tasks.TranslationTask("x", "x", region="brain", spatial_dims=4)
    with pytest.raises(ValueError, match="3-D tasks are built from the phantom"):
        tasks.build(tasks.TranslationTask("x", "x", region="brain", data="ixi", spatial_dims=3))


def test_brain_tasks_drop_slices_without_brain(built):
    data = built["brain_t1w_to_t2w"]
    all_slices = tasks.build(
        tasks.TranslationTask("all", "all", region="brain", min_foreground=0.1), smoke=True
    )
    assert len(data["test"]) < len(all_slices["test"])
    subject = data["test"]  # every kept slice has brain tissue in at least a quarter of its head
    seg_free = subject.tensors()["mask"].flatten(1).sum(1) > 0
    assert bool(seg_free.all())


def test_brain_fraction_filter_counts_tissue_inside_the_head():
    from medgen_nb.data.slices import Subject

    tissue = torch.zeros(4, 4, 3, dtype=torch.uint8).numpy()
    tissue[:, :, 0] = 5  # scalp only
    tissue[:, :, 1] = 2  # grey matter
    tissue[:2, :, 2] = 3  # half white matter, half scalp
    tissue[2:, :, 2] = 5
    subject = Subject(
        "s", {"t1w": (tissue > 0).astype("float32")}, {}, (1.0, 1.0, 1.0),
        labels={"tissue": tissue}, mask=tissue > 0,
    )  # fmt: skip
    assert list(brain_fraction_filter(0.25)(subject, 2)) == [False, True, True]
    assert list(brain_fraction_filter(0.75)(subject, 2)) == [False, True, False]
    assert set(BRAIN_TISSUE_LABELS) == {1, 2, 3}


def test_build_checks_its_arguments():
    task = tasks.get("brain_t1w_to_t2w")
    with pytest.raises(ValueError, match="n_subjects must be an int >= 3"):
        tasks.build(task, n_subjects=2)
    with pytest.raises(ValueError, match="seed must be"):
        tasks.build(task, seed=True)


def test_a_real_variant_that_is_not_downloaded_names_its_script(tmp_path):
    with pytest.raises(ValueError, match="data_scripts/ixi.py"):
        tasks.build(tasks.get("brain_t1w_to_t2w", data="ixi"), root=tmp_path)


def test_ixi_variant_builds_on_the_fabricated_layout(tmp_path):
    from realdata_fakes import fake_ixi

    fake_ixi(tmp_path)
    data = tasks.build(tasks.get("brain_t1w_to_t2w", data="ixi"), root=tmp_path, size=32)
    item = data["train"][0]
    assert item["image"].shape == (1, 32, 32) and item["target"].shape == (1, 32, 32)
    assert sum(len(ds.subject_ids) for ds in data.splits.values()) == 4


def test_built_slices_are_cached_and_read_back_exactly():
    from medgen_nb.tasks.build import _slice_cache_path

    task = tasks.get("brain_mr_by_contrast")
    fresh = tasks.build(task, smoke=True, cache=False)
    first = tasks.build(task, smoke=True)  # writes the cache file (or reads an earlier one)
    path = _slice_cache_path(first.record())
    assert path.is_file()
    again = tasks.build(task, smoke=True)
    for split in ("train", "val", "test"):
        a, b = fresh[split].tensors(), again[split].tensors()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), split
        assert again[split].modalities == fresh[split].modalities
        assert again[split].parts[1].intensity == fresh[split].parts[1].intensity
        assert again[split].subject_ids == fresh[split].subject_ids
    # another record (another population) is another file
    assert _slice_cache_path(tasks.build(task, smoke=True, seed=1).record()) != path
    # an unreadable cache file is rebuilt and replaced, with a warning; nothing is lost
    path.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="rebuilding the unreadable slice cache"):
        rebuilt = tasks.build(task, smoke=True)
    assert torch.equal(rebuilt["test"].tensors()["image"], fresh["test"].tensors()["image"])
    assert tasks.build(task, smoke=True)["test"].parts[0].sources == ["t1w"]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("brain_mr_by_contrast", {}),  # a modality mix, one part per contrast
        ("brain_lesion_classification", {}),  # labels from the lesion map
        ("brain_t1w_to_t2w", {"site": None, "test_site": "site_b"}),  # misaligned; test at site B
    ],
)
def test_brain_slices_cut_one_subject_at_a_time_equal_the_whole_population_at_once(name, kwargs):
    # The task builder streams brain subjects (one in memory at a time); the result must be
    # exactly what slicing the loaded population at once gives, arrays, dtypes and order included.
    from medgen_nb.tasks.build import _phantom_slices, _slice_arguments, _slices_at_once

    task = tasks.get(name)
    sources, target, seg_key, label_from = _slice_arguments(task)
    args = (task, 4, 0, 32, True, list(sources), target, seg_key, label_from)
    streamed = _phantom_slices(*args, kwargs.get("site"), kwargs.get("test_site"))
    at_once = _slices_at_once(*args, kwargs.get("site"), kwargs.get("test_site"))
    assert streamed.keys() == at_once.keys()
    for split in at_once:
        parts_a = getattr(at_once[split], "parts", (at_once[split],))
        parts_b = getattr(streamed[split], "parts", (streamed[split],))
        assert len(parts_a) == len(parts_b)
        for a, b in zip(parts_a, parts_b, strict=True):
            (arrays_a, meta_a), (arrays_b, meta_b) = a.state(), b.state()
            assert meta_a == meta_b, split
            assert arrays_a.keys() == arrays_b.keys()
            for key in arrays_a:
                assert arrays_a[key].dtype == arrays_b[key].dtype, key
                assert (arrays_a[key] == arrays_b[key]).all(), (split, key)


def test_slice_builder_orders_subjects_by_position_and_rejects_gaps():
    from medgen_nb.data.brain_phantom import load_brain_subjects
    from medgen_nb.data.slices import SliceBuilder, SliceDataset

    subjects = load_brain_subjects(3, seed=0, progress=False, modalities=["t1w"])
    builder = SliceBuilder(["t1"], size=32)  # an alias, resolved against the first subject
    for position in (2, 0, 1):  # arrival order differs from position order
        builder.add(subjects[position], position)
    built, reference = builder.finish(), SliceDataset(subjects, ["t1w"], size=32)
    assert built.subject_ids == reference.subject_ids and built.sources == ["t1w"]
    assert torch.equal(built.tensors()["image"], reference.tensors()["image"])
    assert torch.equal(built.tensors()["subject"], reference.tensors()["subject"])
    with pytest.raises(ValueError, match="already added"):
        builder.add(subjects[0], 0)
    gap = SliceBuilder(["t1w"], size=32)
    gap.add(subjects[0], 1)
    with pytest.raises(ValueError, match="positions must be 0..N-1"):
        gap.finish()
