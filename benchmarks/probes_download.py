"""Probes of downloads, extraction, the cache folder and the data scripts (issue 12 items 4, 9a,
10d/e/g/h, 11c, and nearby defects "nb"). Every server is on 127.0.0.1 and started here; a
refused connection comes from a socket that is bound but never listens.

The data scripts are run as a user runs them (``python data_scripts/X.py ...``, through ``runpy``
in this process) from the checkout whose ``medgen_nb`` is imported, so the same probes run against
an older checkout.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import runpy
import sys
import tarfile
import zipfile
from pathlib import Path

from reliability_probes import Probe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_download_resume import Site, refused_port, serve_site, tar_bytes  # noqa: E402

HEX = "ab" * 32


def _scripts() -> Path:
    import medgen_nb

    return Path(medgen_nb.__file__).resolve().parents[1] / "data_scripts"


def _run_script(name: str, argv: list[str]) -> tuple[int, str]:
    """``python data_scripts/<name>.py argv`` in this process: (exit status, stderr)."""
    err = io.StringIO()
    old = sys.argv
    sys.argv = [str(_scripts() / f"{name}.py"), *argv]
    code: object = 0
    try:
        with contextlib.redirect_stderr(err):
            runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old
    return (code if isinstance(code, int) else 1), err.getvalue()


def _usage_error(value: tuple[int, str], tmp: Path) -> bool:
    code, err = value
    return code == 2 and "usage:" in err and "Traceback" not in err


def _one_line(needle: str):
    def check(value: tuple[int, str], tmp: Path) -> bool:
        code, err = value
        return code == 1 and err.count("\n") == 1 and needle in err

    return check


def _download(url: str, dest: Path, **kw) -> Path:
    from medgen_nb.data.realdata.download import download

    return download(url, dest, progressbar=False, **kw)


# --- item 4: a resume must not splice two versions ------------------------------------------------


def _resume_after_change(site: Site, old: bytes, new: bytes, name: str = "x.tar"):
    def run(tmp: Path) -> bytes:
        from medgen_nb.data.realdata.download import DownloadError

        site.put(name, old)
        dest = tmp / "dl" / name
        with serve_site(site) as base:
            site.drop_after = 100_000
            with contextlib.suppress(DownloadError):
                _download(f"{base}/{name}", dest)
            if new != old:
                site.put(name, new)
            return _download(f"{base}/{name}", dest).read_bytes()

    return run


def _is(expected: bytes):
    return lambda value, tmp: value == expected


OLD, NEW = tar_bytes(0), tar_bytes(1)

ITEM_4 = [
    Probe(
        "4",
        "resume after the file changed on the server (ETag)",
        _resume_after_change(Site(), OLD, NEW),
        "result",
        _is(NEW),
    ),
    Probe(
        "4",
        "resume after the file changed (Last-Modified only)",
        _resume_after_change(Site(etag="none"), OLD, NEW),
        "result",
        _is(NEW),
    ),
    Probe(
        "4",
        "resume after the file changed (server ignores If-Range)",
        _resume_after_change(Site(if_range=False), OLD, NEW),
        "result",
        _is(NEW),
    ),
    Probe(
        "4",
        "resume after the file changed (no ETag, no Last-Modified)",
        _resume_after_change(Site(etag="none", last_modified=False, if_range=False), OLD, NEW),
        "result",
        _is(NEW),
    ),
    Probe(
        "4",
        "resume after the file shrank (server answers 416)",
        _resume_after_change(Site(if_range=False), b"a" * 150_000, b"b" * 50_000, "x.bin"),
        "result",
        _is(b"b" * 50_000),
    ),
    Probe(
        "4",
        "control: resume of an unchanged file (ETag)",
        _resume_after_change(Site(), OLD, OLD),
        "result",
        _is(OLD),
    ),
]


def _file_changed(tmp: Path) -> bytes:
    src = tmp / "srv" / "x.tar"
    src.parent.mkdir()
    src.write_bytes(OLD)

    def interrupted(path):
        raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt):
        _download(src.as_uri(), tmp / "dl" / "x.tar", check=interrupted)
    src.write_bytes(NEW + b"\0" * 512)
    return _download(src.as_uri(), tmp / "dl" / "x.tar").read_bytes()


ITEM_4.append(
    Probe(
        "4",
        "file:// source changed between attempts",
        _file_changed,
        "result",
        _is(NEW + b"\0" * 512),
    )
)

# --- item 9a: unsupported URL schemes -------------------------------------------------------------

ITEM_9 = [
    Probe(
        "9a",
        f"download({url!r})",
        lambda tmp, url=url: _download(url, tmp / "x.tar"),
        hint="http://",
    )
    for url in (
        "ftp://127.0.0.1:9/IXI-T1.tar",
        "doi:10.5281/zenodo.7260705/Task1.zip",
        "/data/x.tar",
    )
]

# --- item 10: unclear errors ----------------------------------------------------------------------


def _cache_blocked(parent: bool):
    def run(tmp: Path) -> Path:
        from medgen_nb.utils import cache_dir

        (tmp / "blocker").write_text("x")
        os.environ["MEDGEN_NB_CACHE"] = str(tmp / "blocker" / "c" if parent else tmp / "blocker")
        return cache_dir("sources")

    return run


def _archive(path: Path, members: list[tuple[str, bytes]]) -> Path:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    else:
        with tarfile.open(path, "w") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _extract(suffix: str, members: list[tuple[str, bytes]], prepare=None):
    def run(tmp: Path):
        from medgen_nb.data.realdata.download import safe_extract

        if prepare is not None:
            prepare(tmp)
        arc = _archive(tmp / f"x{suffix}", members)
        return safe_extract(arc, tmp / "out", progressbar=False)

    return run


def _offline_medmnist(tmp: Path) -> tuple[int, str]:
    with refused_port() as port:
        return _run_script(
            "medmnist",
            [
                "pneumoniamnist",
                "--dest",
                str(tmp / "d"),
                "--url",
                f"http://127.0.0.1:{port}/{{file}}",
            ],
        )


ITEM_10 = [
    Probe(
        "10d",
        "ixi.py --sha256 T2=xyz",
        lambda tmp: _run_script("ixi", ["--sha256", "T2=xyz", "--dest", str(tmp)]),
        check=_usage_error,
        hint="usage:",
    ),
    Probe(
        "10d",
        "ixi.py --sha256 T3=HEX (no such modality)",
        lambda tmp: _run_script(
            "ixi",
            ["--sha256", f"T3={HEX}", "--dest", str(tmp), "--url", "file:///nonexistent/{MOD}.tar"],
        ),
        check=_usage_error,
        hint="T3",
    ),
    Probe("10e", "MEDGEN_NB_CACHE is a file", _cache_blocked(False), hint="MEDGEN_NB_CACHE"),
    Probe("10e", "MEDGEN_NB_CACHE lies below a file", _cache_blocked(True), hint="MEDGEN_NB_CACHE"),
    Probe(
        "10g",
        "tar with members a and a/b",
        _extract(".tar", [("a", b"1"), ("a/b", b"2")]),
        hint="a/b",
    ),
    Probe(
        "10g",
        "zip with members a and a/b",
        _extract(".zip", [("a", b"1"), ("a/b", b"2")]),
        hint="a/b",
    ),
    Probe(
        "10h",
        "offline: medmnist.py pneumoniamnist",
        _offline_medmnist,
        check=_one_line("cannot reach 127.0.0.1"),
        hint="cannot reach",
    ),
]

# --- item 11c: links in the destination -----------------------------------------------------------


def _link_a(tmp: Path) -> None:
    (tmp / "outside").mkdir()
    (tmp / "out").mkdir()
    (tmp / "out" / "a").symlink_to(tmp / "outside", target_is_directory=True)


ITEM_11 = [
    Probe(
        "11c",
        "safe_extract through dest/a -> outside",
        _extract(".tar", [("a/x", b"escapes")], _link_a),
        hint="symbolic link",
    ),
]

# --- nearby defects -------------------------------------------------------------------------------


def _ixi_url_without_mod(tmp: Path) -> tuple[int, str]:
    _archive(tmp / "IXI-T2.tar", [("IXI002-Guys-0802-T2.nii.gz", b"\0" * 600)])
    url = (tmp / "IXI-T2.tar").as_uri()
    return _run_script(
        "ixi", ["--modalities", "t2", "pd", "--url", url, "--dest", str(tmp / "d"), "--quiet"]
    )


def _corrupt_brats(tmp: Path) -> tuple[int, str]:
    (tmp / "BraTS.zip").write_bytes(b"PK\x03\x04 cut short")
    return _run_script("brats", ["--archive", str(tmp / "BraTS.zip"), "--dest", str(tmp / "d")])


def _ok_tar(tmp: Path) -> list[str]:
    from medgen_nb.data.realdata.download import safe_extract

    arc = _archive(tmp / "x.tar", [("s1/a.txt", b"1"), ("s1/b.txt", b"2")])
    out = safe_extract(arc, tmp / "out", progressbar=False)
    return [p.read_bytes().decode() for p in out]


def _ixi_ok(tmp: Path) -> tuple[int, str]:
    arc = _archive(tmp / "IXI-T2.tar", [("IXI002-Guys-0802-T2.nii.gz", b"\0" * 600)])
    sha = hashlib.sha256(arc.read_bytes()).hexdigest()
    url = (tmp / "IXI-{MOD}.tar").as_uri().replace("%7B", "{").replace("%7D", "}")
    argv = ["--modalities", "t2", "--sha256", f"T2={sha}", "--url", url, "--dest", str(tmp / "d")]
    return _run_script("ixi", [*argv, "--quiet"])


def _ixi_no_common_subject(tmp: Path) -> tuple[int, str]:
    for mod in ("T2", "PD"):
        _archive(tmp / f"IXI-{mod}.tar", [("readme.txt", mod.encode())])
    url = tmp.as_uri() + "/IXI-{MOD}.tar"
    argv = ["--modalities", "t2", "pd", "--url", url, "--dest", str(tmp / "d"), "--quiet"]
    return _run_script("ixi", argv)


def _seed(value):
    def run(tmp: Path):
        from medgen_nb.utils import seed_everything

        return seed_everything(value)

    return run


def _pick_device_int(tmp: Path):
    from medgen_nb.utils import pick_device

    return pick_device(0)


def _numpy_seed_draws(tmp: Path) -> bool:
    import numpy as np
    import torch

    _seed(np.int64(3))(tmp)
    a = torch.rand(2)
    _seed(3)(tmp)
    return bool(torch.equal(a, torch.rand(2)))


NEARBY = [
    Probe(
        "nb",
        "control: seed_everything(np.int64(3)) draws as seed 3",
        _numpy_seed_draws,
        "result",
        lambda v, t: v is True,
    ),
    Probe(
        "nb",
        "ixi.py on tars without IXI subjects",
        _ixi_no_common_subject,
        check=_one_line("no subject"),
    ),
    Probe("nb", "seed_everything(True)", _seed(True), hint="seed must be"),
    Probe("nb", "pick_device(0)", _pick_device_int, hint="device must be"),
    Probe(
        "nb",
        "download('http:///x.tar')",
        lambda tmp: _download("http:///x.tar", tmp / "x.tar"),
        hint="no host",
    ),
    Probe("nb", "ixi.py --url without {MOD}", _ixi_url_without_mod, check=_usage_error),
    Probe(
        "nb",
        "synthrad.py --archive missing.zip",
        lambda tmp: _run_script("synthrad", ["--archive", str(tmp / "missing.zip")]),
        check=_usage_error,
        hint="--archive",
    ),
    Probe(
        "nb", "brats.py --archive corrupt.zip", _corrupt_brats, check=_one_line("not a readable")
    ),
    Probe(
        "nb",
        "download(known_hash='foo:abc')",
        lambda tmp: _download(
            _archive(tmp / "s.tar", [("a", b"1")]).as_uri(), tmp / "x.tar", known_hash="foo:abc"
        ),
        hint="known_hash",
    ),
    Probe(
        "nb",
        "download(known_hash=64 non-hex characters)",
        lambda tmp: _download(
            _archive(tmp / "s.tar", [("a", b"1")]).as_uri(), tmp / "x.tar", known_hash="z" * 64
        ),
        hint="known_hash",
    ),
    Probe(
        "nb",
        "tar member named twice is extracted once",
        lambda tmp: _extract(".tar", [("a.txt", b"old"), ("a.txt", b"new")])(tmp),
        "result",
        lambda out, tmp: [p.read_bytes() for p in out] == [b"new"],
    ),
    Probe(
        "nb",
        "control: safe_extract of a plain tar",
        _ok_tar,
        "result",
        lambda v, t: v == ["1", "2"],
    ),
    Probe(
        "nb",
        "control: ixi.py with a valid --sha256",
        _ixi_ok,
        "result",
        lambda v, t: v[0] == 0 and len(list((t / "d").glob("*.nii.gz"))) == 1,
    ),
    Probe(
        "nb",
        "control: download of a file:// URL",
        lambda tmp: _download(
            _archive(tmp / "s.tar", [("a", b"1")]).as_uri(), tmp / "x.tar"
        ).read_bytes(),
        "result",
        lambda v, t: v == (t / "s.tar").read_bytes(),
    ),
]

PROBES: list[Probe] = [*ITEM_4, *ITEM_9, *ITEM_10, *ITEM_11, *NEARBY]
