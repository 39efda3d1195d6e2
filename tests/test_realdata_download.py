"""Downloads (loopback HTTP and file://) and archive extraction: every failure leaves no final file."""

import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest
from realdata_fakes import AFFINE, head, serve

from medgen_nb.data.io import save_nifti
from medgen_nb.data.realdata.download import (
    DownloadError,
    UnsafeArchiveError,
    download,
    part_path,
    safe_extract,
    verify_format,
)


@pytest.fixture()
def nifti_file(tmp_path):
    src = tmp_path / "srv"
    path = save_nifti(head((24, 24, 16)), AFFINE, src / "vol.nii.gz")
    return path


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_http_download_verifies_sha256(nifti_file, tmp_path):
    sha = hashlib.sha256(nifti_file.read_bytes()).hexdigest()
    with serve(nifti_file.parent) as url:
        out = download(
            f"{url}/vol.nii.gz", tmp_path / "dl" / "vol.nii.gz", known_hash=sha, progressbar=False
        )
    assert out.read_bytes() == nifti_file.read_bytes()
    assert _leftovers(tmp_path / "dl") == ["vol.nii.gz"]


def test_checksum_mismatch_leaves_nothing(nifti_file, tmp_path):
    with serve(nifti_file.parent) as url, pytest.raises(DownloadError, match="checksum mismatch"):
        download(
            f"{url}/vol.nii.gz",
            tmp_path / "dl" / "vol.nii.gz",
            known_hash="0" * 64,
            progressbar=False,
        )
    assert _leftovers(tmp_path / "dl") == []


def test_truncated_nifti_is_refused(nifti_file, tmp_path):
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "vol.nii.gz").write_bytes(nifti_file.read_bytes()[: nifti_file.stat().st_size // 2])
    with serve(cut) as url, pytest.raises(DownloadError, match="truncated"):
        download(f"{url}/vol.nii.gz", tmp_path / "dl" / "vol.nii.gz", progressbar=False)
    assert _leftovers(tmp_path / "dl") == []


def test_interrupted_download_without_validator_starts_over(tmp_path):
    # This server sends no ETag or Last-Modified: the bytes so far cannot be proven to belong to
    # the version served next time, so they are dropped and the rerun downloads the file whole.
    # (Resuming under If-Range is tested in test_download_resume.py.)
    srv = tmp_path / "srv"
    srv.mkdir()
    payload = np.random.default_rng(0).bytes(300_000)
    (srv / "blob.bin").write_bytes(payload)
    dest = tmp_path / "dl" / "blob.bin"
    with serve(srv, drop_after=150_000) as url:
        with pytest.raises(DownloadError, match="cannot be resumed safely"):
            download(f"{url}/blob.bin", dest, progressbar=False)
        assert not dest.exists(), "no final file after an interruption"
        assert not part_path(dest).exists(), "no part that could never be resumed"
        download(f"{url}/blob.bin", dest, progressbar=False)
    assert dest.read_bytes() == payload
    assert not part_path(dest).exists()


def test_server_without_range_restarts_cleanly(nifti_file, tmp_path):
    dest = tmp_path / "dl" / "vol.nii.gz"
    part_path(dest).parent.mkdir(parents=True)
    part_path(dest).write_bytes(b"stale bytes")
    with serve(nifti_file.parent, ranges=False) as url:
        download(f"{url}/vol.nii.gz", dest, progressbar=False)
    assert dest.read_bytes() == nifti_file.read_bytes()


def test_file_url_and_size_check(nifti_file, tmp_path):
    url = nifti_file.as_uri()
    with pytest.raises(DownloadError, match="expected"):
        download(url, tmp_path / "a" / "vol.nii.gz", expected_size=1, progressbar=False)
    assert _leftovers(tmp_path / "a") == []
    out = download(
        url,
        tmp_path / "b" / "vol.nii.gz",
        expected_size=nifti_file.stat().st_size,
        progressbar=False,
    )
    assert out.stat().st_size == nifti_file.stat().st_size


def test_missing_remote_file_is_an_error(tmp_path):
    with serve(tmp_path) as url, pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{url}/nope.nii.gz", tmp_path / "dl" / "nope.nii.gz", progressbar=False)
    assert not (tmp_path / "dl" / "nope.nii.gz").exists()


def test_bad_known_hash_format():
    with pytest.raises(ValueError, match="known_hash"):
        download("file:///x", "/tmp/x.bin", known_hash="abc")


def _tar(path, members: dict[str, bytes], mode="w"):
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tar_with_dotdot_member_is_refused_whole(tmp_path):
    arc = _tar(tmp_path / "evil.tar", {"ok.txt": b"fine", "../escape.txt": b"bad"})
    with pytest.raises(UnsafeArchiveError, match=r"\.\./escape\.txt"):
        safe_extract(arc, tmp_path / "out", progressbar=False)
    assert not (tmp_path / "escape.txt").exists()
    assert _leftovers(tmp_path / "out") == [], "nothing extracted, no staging folder left"


def test_tar_absolute_and_symlink_members_refused(tmp_path):
    arc = _tar(tmp_path / "abs.tar", {"/etc/evil": b"x"})
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(arc, tmp_path / "out", progressbar=False)
    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as tar:
        info = tarfile.TarInfo("data/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        safe_extract(link, tmp_path / "out", progressbar=False)


def test_zip_with_dotdot_member_is_refused(tmp_path):
    arc = tmp_path / "evil.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("a/../../escape.txt", b"bad")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(arc, tmp_path / "out", progressbar=False)


def test_safe_extract_selects_members(tmp_path):
    arc = _tar(tmp_path / "ok.tar.gz", {"a/1.txt": b"1", "b/2.txt": b"2"}, mode="w:gz")
    out = safe_extract(
        arc, tmp_path / "out", select=lambda n: n.startswith("a/"), progressbar=False
    )
    assert [p.relative_to(tmp_path / "out").as_posix() for p in out] == ["a/1.txt"]
    assert _leftovers(tmp_path / "out") == ["a"]


def test_truncated_tar_fails_format_check(tmp_path):
    arc = _tar(tmp_path / "t.tar", {"big.bin": np.arange(5000, dtype=np.int64).tobytes()})
    cut = tmp_path / "cut.tar"
    cut.write_bytes(arc.read_bytes()[:20000])
    with pytest.raises(DownloadError, match="truncated"):
        verify_format(cut)
    gz = _tar(tmp_path / "t.tar.gz", {"big.bin": np.random.default_rng(0).bytes(50000)}, "w:gz")
    (tmp_path / "cut.tar.gz").write_bytes(gz.read_bytes()[:20000])
    with pytest.raises(DownloadError, match="truncated"):
        verify_format(tmp_path / "cut.tar.gz")


def test_truncated_tar_download_leaves_nothing(tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    arc = _tar(tmp_path / "t.tar", {"big.bin": np.arange(5000, dtype=np.int64).tobytes()})
    (srv / "t.tar").write_bytes(arc.read_bytes()[:20000])
    with serve(srv) as url, pytest.raises(DownloadError, match="truncated"):
        download(f"{url}/t.tar", tmp_path / "dl" / "t.tar", progressbar=False)
    assert _leftovers(tmp_path / "dl") == []


def test_safe_extract_rejects_unknown_suffix(tmp_path):
    (tmp_path / "x.rar").write_bytes(b"x")
    with pytest.raises(ValueError, match="archive must end"):
        safe_extract(tmp_path / "x.rar", tmp_path / "out")


def test_interrupt_during_check_keeps_the_bytes(nifti_file, tmp_path):
    def interrupted(path):
        raise KeyboardInterrupt

    dest = tmp_path / "dl" / "vol.nii.gz"
    with pytest.raises(KeyboardInterrupt):
        download(nifti_file.as_uri(), dest, check=interrupted, progressbar=False)
    assert not dest.exists() and part_path(dest).stat().st_size == nifti_file.stat().st_size
    download(nifti_file.as_uri(), dest, progressbar=False)  # the rerun resumes from the full part
    assert dest.read_bytes() == nifti_file.read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1:9/IXI-T1.tar",
        "sftp://127.0.0.1:9/IXI-T1.tar",
        "doi:10.5281/zenodo.7260705/Task1.zip",
        "/data/IXI-T1.tar",
    ],
)
def test_unsupported_scheme_is_refused_before_anything_is_written(tmp_path, url):
    dest = tmp_path / "dl" / "x.tar"
    with pytest.raises(ValueError, match=r"supports http://, https://, file:// only.*as_uri"):
        download(url, dest, progressbar=False)
    assert not (tmp_path / "dl").exists()


def test_url_must_be_a_string(tmp_path):
    with pytest.raises(TypeError, match="url must be a str"):
        download(tmp_path / "x.tar", tmp_path / "y.tar")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["z" * 64, "foo:abc", "md5:" + "0" * 64, "sha256:12"])
def test_malformed_known_hash_is_refused_before_the_transfer(tmp_path, bad):
    with pytest.raises(ValueError, match="known_hash must be"):
        download("file:///nonexistent.bin", tmp_path / "x.bin", known_hash=bad)
    assert not (tmp_path / "x.bin").exists()


def test_known_hash_forms_are_accepted(nifti_file, tmp_path):
    data = nifti_file.read_bytes()
    for i, known in enumerate(
        [
            hashlib.sha256(data).hexdigest().upper(),
            "SHA256:" + hashlib.sha256(data).hexdigest(),
            "md5:" + hashlib.md5(data).hexdigest(),
        ]
    ):
        out = download(nifti_file.as_uri(), tmp_path / str(i) / "v.nii.gz", known_hash=known)
        assert out.read_bytes() == data


def test_http_url_without_host_is_refused(tmp_path):
    with pytest.raises(ValueError, match="names no host"):
        download("http:///x.tar", tmp_path / "x.tar")


def test_request_that_gets_no_answer_names_the_error_and_keeps_nothing_new(tmp_path, monkeypatch):
    import requests

    def loops(*args, **kwargs):
        raise requests.TooManyRedirects("Exceeded 30 redirects.")

    monkeypatch.setattr(requests, "get", loops)
    dest = tmp_path / "x.tar"
    with pytest.raises(DownloadError, match=r"could not request .*TooManyRedirects.*check the URL"):
        download("http://127.0.0.1:9/x.tar", dest, progressbar=False)
    assert _leftovers(tmp_path) == []
