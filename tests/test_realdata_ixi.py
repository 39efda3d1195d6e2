"""IXI: the data script on a fabricated IXI-named tarball served on 127.0.0.1, then the loaders."""

import tarfile

import numpy as np
import pytest
import torch
from realdata_fakes import fake_ixi, script, serve

from medgen_nb.data.realdata import DataNotFoundError, ixi_unpaired, load_dataset, load_ixi
from medgen_nb.data.realdata.ixi import ixi_subject_id
from medgen_nb.data.slices import UnpairedDataset


@pytest.fixture(scope="module")
def ixi_root(tmp_path_factory):
    return fake_ixi(tmp_path_factory.mktemp("ixi"), skip={(13, "PD")})


def test_subject_id_parsing():
    assert ixi_subject_id("IXI002-Guys-0828-T2.nii.gz") == "IXI002"
    assert ixi_subject_id("IXI-T2.tar") is None


def test_script_downloads_tars_and_extracts_a_subset(tmp_path):
    src = fake_ixi(tmp_path / "files", skip={(2, "PD")})
    srv = tmp_path / "srv"
    srv.mkdir()
    for mod in ("T2", "PD"):
        with tarfile.open(srv / f"IXI-{mod}.tar", "w") as tar:
            for f in sorted(src.glob(f"*-{mod}.nii.gz")):
                tar.add(f, arcname=f.name)  # IXI tars hold the files at their root
    dest = tmp_path / "dest"
    with serve(srv) as url:
        rc = script("ixi").main(
            [
                "--modalities",
                "t2",
                "pd",
                "--subjects",
                "2",
                "--dest",
                str(dest),
                "--quiet",
                "--url",
                url + "/IXI-{MOD}.tar",
            ]
        )
    assert rc == 0
    got = sorted(p.name for p in dest.glob("*.nii.gz"))
    # IXI002 lacks PD, so the first two complete subjects are IXI012 and IXI013
    assert [ixi_subject_id(n) for n in got] == ["IXI012", "IXI012", "IXI013", "IXI013"]
    subjects = load_ixi(dest, ("t2", "pd"))
    assert [s.subject_id for s in subjects] == ["IXI012", "IXI013"]


def test_load_ixi_paired_units_and_meta(ixi_root):
    with pytest.warns(UserWarning, match="IXI013"):
        subjects = load_ixi(ixi_root, ("t2", "pd"), missing="skip")
    assert [s.subject_id for s in subjects] == ["IXI002", "IXI012", "IXI014"]
    s = subjects[0]
    assert set(s.images) == {"t2w", "pd"} and s.meta["site"] == "Guys"
    for name, vol in s.images.items():
        assert vol.dtype == np.float32 and 0 <= vol.min() and vol.max() <= 1
        assert s.intensity[name].kind == "mr"
    assert s.spacing_mm == (2.0, 2.0, 2.0)
    assert s.mask is not None and 0.1 < s.mask.mean() < 0.9


def test_missing_modality_is_a_clear_error(ixi_root):
    with pytest.raises(ValueError, match=r"IXI013 \(no pd\).*missing='skip'"):
        load_ixi(ixi_root, ("t2", "pd"))


def test_t1_t2_on_different_grids_is_a_clear_error(ixi_root):
    with pytest.raises(ValueError, match="shape.*one grid"):
        load_ixi(ixi_root, ("t1", "t2"), subjects=1)


def test_unknown_modality(ixi_root):
    with pytest.raises(ValueError, match="subset of"):
        load_ixi(ixi_root, ("flair",))


def test_missing_folder_names_the_command(tmp_path):
    with pytest.raises(DataNotFoundError, match="data_scripts/ixi.py"):
        load_ixi(tmp_path / "nothing")


def test_dispatcher_paired_splits_by_subject(ixi_root):
    with pytest.warns(UserWarning, match="left out"):
        splits = load_dataset("ixi", ixi_root, size=32, min_foreground=0.0)
    item = splits["train"][0]
    assert item["image"].shape == (1, 32, 32) and item["target"].shape == (1, 32, 32)
    seen = [set(ds.subject_ids) for ds in splits.values()]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1 :])


def test_unpaired_t1_t2_uses_different_people(ixi_root):
    splits = ixi_unpaired(
        ixi_root, "t1", "t2", size=32, min_foreground=0.0, fractions=(1.0, 0.0, 0.0)
    )
    train = splits["train"]
    assert isinstance(train, UnpairedDataset)
    assert not set(train.a.subject_ids) & set(train.b.subject_ids)
    batch = train[0]
    assert batch["image"].shape == batch["target"].shape == torch.Size([1, 32, 32])


def test_resample_onto_follows_the_scanner_coordinates():
    from medgen_nb.data.realdata.common import resample_onto

    vol = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    shifted = affine.copy()
    shifted[0, 3] = 2.0  # the target grid starts one source voxel further along x
    out = resample_onto(vol, affine, (5, 5, 4), shifted)
    assert np.allclose(out, vol[1:])
    half = np.diag([1.0, 2.0, 2.0, 1.0])  # twice as fine along x: midpoints are interpolated
    fine = resample_onto(vol, affine, (11, 5, 4), half)
    assert np.allclose(fine[1], (vol[0] + vol[1]) / 2) and np.allclose(fine[::2], vol)
    labels = resample_onto(vol, affine, (11, 5, 4), half, label=True)
    assert set(np.unique(labels)) <= set(np.unique(vol))


def test_t1_is_resampled_onto_the_t2_grid_for_paired_tasks(ixi_root):
    with pytest.raises(ValueError, match="not on one grid|shape"):
        load_ixi(ixi_root, ("t1", "t2"))
    subjects = load_ixi(ixi_root, ("t1", "t2"), resample_to="t2", missing="skip")
    assert subjects and all(s.images["t1w"].shape == s.images["t2w"].shape for s in subjects)
    with pytest.raises(ValueError, match="resample_to='ct' must be one of"):
        load_ixi(ixi_root, ("t1", "t2"), resample_to="ct")
