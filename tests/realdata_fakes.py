"""Small fabricated files in the real layouts of IXI, SynthRAD2023, BraTS, MedMNIST and DICOM,
plus a loopback HTTP server (127.0.0.1 only) that can resume, truncate or drop a transfer."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import threading
from pathlib import Path

import numpy as np

from medgen_nb.data.io import save_nifti

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
SCRIPTS = Path(__file__).resolve().parents[1] / "data_scripts"


def script(name: str):
    """Import ``data_scripts/<name>.py`` as a module (its ``main(argv)`` is the command line)."""
    spec = importlib.util.spec_from_file_location(f"data_script_{name}", SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def head(shape=(16, 16, 12), seed=0, lo=0.0, hi=1000.0) -> np.ndarray:
    """An ellipsoid 'head' with a brighter inner 'brain' and noise; background = ``lo``."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    r = np.sqrt((grid**2).sum(0))
    vol = np.full(shape, lo, np.float32)
    vol[r < 0.9] = lo + 0.5 * (hi - lo)
    vol[r < 0.5] = hi
    return (vol + rng.normal(0, 0.01 * (hi - lo), shape) * (r < 0.9)).astype(np.float32)


def fake_ixi(root: Path, ids=(2, 12, 13, 14), mods=("T1", "T2", "PD"), shape=(16, 16, 12), skip=()):
    """IXI files ``IXI002-Guys-0828-T2.nii.gz``...; ``skip`` = {(id, MOD)} left out."""
    sites = ("Guys", "HH", "IOP")
    for k, i in enumerate(ids):
        for mod in mods:
            if (i, mod) in skip:
                continue
            s = (16, 16, 14) if mod == "T1" else shape  # T1 is on its own grid, as in IXI
            name = f"IXI{i:03d}-{sites[k % 3]}-{800 + i:04d}-{mod}.nii.gz"
            save_nifti(head(s, seed=i + len(mod)), AFFINE, root / name)
    return root


def fake_synthrad(root: Path, task=1, region="brain", n=4, shape=(16, 16, 12), drop=None):
    """``Task1/brain/1BA001/{mr,ct,mask}.nii.gz`` (task 2: cbct); ``drop`` = (subject, file)."""
    letter = "B" if region == "brain" else "P"
    src = "mr" if task == 1 else "cbct"
    for k in range(n):
        sid = f"{task}{letter}{'ABC'[k % 3]}{k + 1:03d}"
        folder = root / f"Task{task}" / region / sid
        ct = head(shape, seed=k, lo=-1000.0, hi=1500.0)
        files = {
            "ct": ct,
            src: head(shape, seed=k + 50, hi=800.0) if task == 1 else ct + 30.0,
            "mask": (ct > -500).astype(np.float32),
        }
        for name, vol in files.items():
            if drop != (sid, name):
                save_nifti(vol, AFFINE, folder / f"{name}.nii.gz")
    (root / f"Task{task}" / region / "overview").mkdir(parents=True, exist_ok=True)
    return root


def fake_brats(root: Path, n=3, shape=(16, 16, 12), drop=None, release=2023, enhancing=None):
    """``BraTS-GLI-0000k-000/BraTS-GLI-0000k-000-{t1n,t1c,t2w,t2f,seg}.nii.gz``; ``release=2021``:
    ``BraTS2021_0000k/BraTS2021_0000k_{t1,t1ce,t2,flair,seg}.nii.gz`` with the same volumes,
    enhancing tumour labelled 4 (or ``enhancing``) instead of 3. ``drop`` = (case, file key)."""
    mods = (
        ("t1n", "t1c", "t2w", "t2f", "seg")
        if release == 2023
        else ("t1", "t1ce", "t2", "flair", "seg")
    )
    if enhancing is None:
        enhancing = 3 if release == 2023 else 4
    for k in range(n):
        case, sep = (
            (f"BraTS-GLI-{k:05d}-000", "-") if release == 2023 else (f"BraTS2021_{k:05d}", "_")
        )
        brain = head(shape, seed=k)
        brain[brain < 100] = 0  # skull-stripped: zero outside the brain
        seg = np.zeros(shape, np.float32)
        seg[6:10, 6:10, 5:8] = 2
        seg[7:9, 7:9, 6:7] = enhancing
        for j, mod in enumerate(mods):
            if drop == (case, mod):
                continue
            vol = seg if mod == "seg" else brain * (1 + 0.2 * j)
            save_nifti(vol, AFFINE, root / case / f"{case}{sep}{mod}.nii.gz")
    return root


def fake_medmnist_npz(path: Path, n=(10, 4, 6), size=28, channels=1, n_labels=1, classes=2):
    """A MedMNIST-layout npz: uint8 images (N,H,W[,3]), labels (N,L)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        shape = (count, size, size) + ((3,) if channels == 3 else ())
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, classes, (count, n_labels)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


# The fake DICOM series: ROWS x COLS slices, N of them, PS mm pixels, DZ mm apart.
DICOM_ROWS, DICOM_COLS, DICOM_N = 6, 8, 5
DICOM_PS = (0.5, 0.8)  # between rows, between columns (mm)
DICOM_DZ = 2.5


def fake_dicom_series(
    folder, series_uid=None, order=None, z0=-10.0, slope=1.0, intercept=-1024.0, without=()
):
    """Axial CT slices at z = z0 + k*DICOM_DZ; each slice's value encodes k (HU = 100*k); marker at
    row 0, col 0. Files ``f<j>.dcm`` are written in ``order`` with misleading InstanceNumbers;
    ``without`` names attributes left out (e.g. ``("PixelSpacing",)``)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    series_uid = series_uid or generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for j, k in enumerate(order or range(DICOM_N)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"f{j}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID = "CT", series_uid
        ds.InstanceNumber = DICOM_N - j  # not geometry
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-20.0, -30.0, z0 + k * DICOM_DZ]
        ds.PixelSpacing = list(DICOM_PS)
        ds.SliceThickness = 3.0  # deliberately not the spacing
        ds.Rows, ds.Columns = DICOM_ROWS, DICOM_COLS
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        hu = np.full((DICOM_ROWS, DICOM_COLS), 100.0 * k)
        hu[0, 0] = 1000.0
        ds.PixelData = np.round((hu - intercept) / slope).astype(np.uint16).tobytes()
        for name in without:
            delattr(ds, name)
        ds.save_as(folder / f"f{j}.dcm", enforce_file_format=True)
    return folder


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves one folder with HTTP Range support; ``drop_after`` cuts the body short once."""

    drop_after: int | None = None
    ranges = True

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = Path(self.translate_path(self.path.split("?")[0]))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and type(self).ranges:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).drop_after
        if cut is not None:
            type(self).drop_after = None  # only the first transfer is cut
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serve(directory: Path, drop_after: int | None = None, ranges: bool = True):
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL."""
    handler = type(
        "Handler",
        (_Handler,),
        {"drop_after": drop_after, "ranges": ranges},
    )

    def factory(*args, **kwargs):
        return handler(*args, directory=str(directory), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
