"""Resuming a download only when the server proves the file is unchanged (ETag / Last-Modified).

The loopback server below (127.0.0.1 only) serves files from a dict that a test may change between
requests, with ``Range``, ``If-Range``, strong or weak ``ETag`` and ``Last-Modified``, and a switch
that makes it ignore ``If-Range`` (a server bug the downloader must survive).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import importlib
import io
import json
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import numpy as np
import pytest

from medgen_nb.data.realdata.download import DownloadError, download, part_path

# Site, serve_site and tar_bytes are also used by benchmarks/probes_download.py, which runs against
# older checkouts too: this module imports only names those have.
validator_path = getattr(
    importlib.import_module("medgen_nb.data.realdata.download"), "validator_path", None
)


@dataclass
class Site:
    """What the loopback server serves and how; ``requests`` records each request's headers."""

    files: dict[str, bytes] = field(default_factory=dict)
    etag: str = "strong"  # "strong", "weak" or "none"
    last_modified: bool = True
    if_range: bool = True  # False: honour Range even when If-Range does not match (a bug)
    drop_after: int | None = None  # cut the next body short after this many bytes
    requests: list[dict[str, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)

    def put(self, name: str, data: bytes) -> None:
        """Publish (a new version of) ``name``; its ETag and Last-Modified change."""
        self.files[name] = data
        self.versions[name] = self.versions.get(name, 0) + 1

    def headers_for(self, name: str) -> dict[str, str]:
        out = {}
        tag = '"' + hashlib.sha256(self.files[name]).hexdigest()[:16] + '"'
        if self.etag == "strong":
            out["ETag"] = tag
        elif self.etag == "weak":
            out["ETag"] = "W/" + tag
        if self.last_modified:
            out["Last-Modified"] = formatdate(1.7e9 + 60 * self.versions[name], usegmt=True)
        return out


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):  # noqa: N802 (http.server's name)
            site.requests.append(dict(self.headers))
            name = self.path.lstrip("/")
            if name not in site.files:
                self.send_error(404)
                return
            data, meta = site.files[name], site.headers_for(name)
            start, rng = 0, self.headers.get("Range")
            cond = self.headers.get("If-Range")
            fresh = cond is None or not site.if_range or cond in meta.values()
            if rng and fresh:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            for key, value in meta.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if site.drop_after is not None:
                cut, site.drop_after = site.drop_after, None  # only one transfer is cut
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve_site(site: Site) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 (a free port); yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port that refuses connections (bound, never listening) for the block's life."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def tar_bytes(seed: int, size: int = 200_000) -> bytes:
    """A tar with one member ``scan.bin`` of ``size`` random bytes: two seeds give two versions
    of the same layout, so a splice of the two is still a well-formed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("scan.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(np.random.default_rng(seed).bytes(size)))
    return buf.getvalue()


def interrupt_then_change(site: Site, url: str, dest: Path, new: bytes, cut: int = 100_000) -> Path:
    """Download ``url`` with the transfer cut at ``cut`` bytes, publish ``new``, download again."""
    site.drop_after = cut
    with pytest.raises(DownloadError):
        download(url, dest, progressbar=False)
    site.put(dest.name, new)
    return download(url, dest, progressbar=False)


@pytest.mark.parametrize(
    ("etag", "last_modified"), [("strong", True), ("strong", False), ("weak", True)]
)
def test_changed_file_is_downloaded_whole(tmp_path, etag, last_modified):
    site = Site(etag=etag, last_modified=last_modified)
    site.put("x.tar", tar_bytes(0))
    dest = tmp_path / "dl" / "x.tar"
    old = site.headers_for("x.tar")
    with serve_site(site) as base:
        out = interrupt_then_change(site, f"{base}/x.tar", dest, tar_bytes(1))
    assert out.read_bytes() == tar_bytes(1), "the new version, whole, not a splice of two"
    resumed = site.requests[1]  # the request after the cut one
    assert re.fullmatch(r"bytes=\d+-", resumed["Range"]), resumed
    want = "ETag" if etag == "strong" else "Last-Modified"  # a weak ETag may not go in If-Range
    assert resumed["If-Range"] == old[want]
    assert not part_path(dest).exists() and not validator_path(dest).exists()


def test_if_range_carries_the_stored_validator(tmp_path):
    site = Site()
    site.put("x.tar", tar_bytes(0))
    dest = tmp_path / "x.tar"
    old = site.headers_for("x.tar")
    with serve_site(site) as base:
        site.drop_after = 100_000
        with pytest.raises(DownloadError, match="run the same command again to resume"):
            download(f"{base}/x.tar", dest, progressbar=False)
        kept = part_path(dest).stat().st_size
        stored = json.loads(validator_path(dest).read_text())
        assert stored["validator"] == {"ETag": old["ETag"]}
        assert stored["url"] == f"{base}/x.tar"
        out = download(f"{base}/x.tar", dest, progressbar=False)
    assert site.requests[-1]["If-Range"] == old["ETag"]
    assert site.requests[-1]["Range"] == f"bytes={kept}-"
    assert out.read_bytes() == tar_bytes(0)


def test_unchanged_file_resumes_with_last_modified_only(tmp_path):
    site = Site(etag="none")
    site.put("x.tar", tar_bytes(0))
    dest = tmp_path / "x.tar"
    with serve_site(site) as base:
        site.drop_after = 100_000
        with pytest.raises(DownloadError, match="resume"):
            download(f"{base}/x.tar", dest, progressbar=False)
        out = download(f"{base}/x.tar", dest, progressbar=False)
        last = site.requests[-1]
    assert last["If-Range"] == site.headers_for("x.tar")["Last-Modified"]
    assert out.read_bytes() == tar_bytes(0)


def test_server_ignoring_if_range_is_caught_by_the_etag_of_its_206(tmp_path):
    site = Site(if_range=False)
    site.put("x.tar", tar_bytes(0))
    dest = tmp_path / "x.tar"
    with serve_site(site) as base:
        out = interrupt_then_change(site, f"{base}/x.tar", dest, tar_bytes(1))
        assert "Range" not in site.requests[-1], "the 206 of another version is dropped, restart"
    assert out.read_bytes() == tar_bytes(1)


def test_server_without_validator_is_not_resumed(tmp_path):
    site = Site(etag="none", last_modified=False, if_range=False)
    site.put("x.tar", tar_bytes(0))
    dest = tmp_path / "x.tar"
    with serve_site(site) as base:
        site.drop_after = 100_000
        with pytest.raises(DownloadError, match="cannot be resumed safely.*start over"):
            download(f"{base}/x.tar", dest, progressbar=False)
        assert not part_path(dest).exists(), "bytes that can never be resumed are not kept"
        site.put("x.tar", tar_bytes(1))
        out = download(f"{base}/x.tar", dest, progressbar=False)
        assert all("Range" not in r for r in site.requests)
    assert out.read_bytes() == tar_bytes(1)


def test_shorter_new_version_answered_416_is_not_taken_as_complete(tmp_path):
    site = Site(if_range=False)  # a buggy server: 416 although the file changed
    site.put("x.bin", b"a" * 150_000)
    dest = tmp_path / "x.bin"
    with serve_site(site) as base:
        out = interrupt_then_change(site, f"{base}/x.bin", dest, b"b" * 50_000)
    assert out.read_bytes() == b"b" * 50_000


def test_part_from_another_url_is_not_resumed(tmp_path):
    site = Site()
    site.put("v1.tar", tar_bytes(0))
    site.put("v2.tar", tar_bytes(1))
    dest = tmp_path / "x.tar"
    with serve_site(site) as base:
        site.drop_after = 100_000
        with pytest.raises(DownloadError):
            download(f"{base}/v1.tar", dest, progressbar=False)
        out = download(f"{base}/v2.tar", dest, progressbar=False)  # e.g. another mirror
        assert "Range" not in site.requests[-1]
    assert out.read_bytes() == tar_bytes(1)


@pytest.mark.parametrize(
    "sidecar",
    [None, "{not json", '{"url": 1}', '{"url": "u", "validator": {"ETag": "a", "x": "b"}}'],
)
def test_part_without_a_valid_validator_file_is_restarted(tmp_path, sidecar):
    site = Site()
    site.put("x.tar", tar_bytes(1))
    dest = tmp_path / "x.tar"
    part_path(dest).write_bytes(tar_bytes(0)[:100_000])  # None: e.g. left by an older medgen_nb
    if sidecar is not None:
        validator_path(dest).write_text(sidecar)
    with serve_site(site) as base:
        out = download(f"{base}/x.tar", dest, progressbar=False)
        assert "Range" not in site.requests[-1]
    assert out.read_bytes() == tar_bytes(1)
    assert not validator_path(dest).exists()


def test_file_url_changed_between_attempts_is_copied_whole(tmp_path):
    src = tmp_path / "srv" / "x.tar"
    src.parent.mkdir()
    src.write_bytes(tar_bytes(0))
    dest = tmp_path / "dl" / "x.tar"

    def interrupted(path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the whole file sits in the part, unchecked
        download(src.as_uri(), dest, check=interrupted, progressbar=False)
    src.write_bytes(tar_bytes(1) + b"\0" * 512)  # a new version (a different size and mtime)
    out = download(src.as_uri(), dest, progressbar=False)
    assert out.read_bytes() == tar_bytes(1) + b"\0" * 512


def test_second_process_on_the_same_part_is_refused(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    src = tmp_path / "x.tar"
    src.write_bytes(tar_bytes(0))
    dest = tmp_path / "dl" / "x.tar"
    dest.parent.mkdir()
    lock = dest.with_name(".x.tar.part.lock")
    with open(lock, "w") as other:  # another process holds the lock (flock is per open file)
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading x.tar"):
            download(src.as_uri(), dest, progressbar=False)
        assert not dest.exists() and lock.exists()
        fcntl.flock(other, fcntl.LOCK_UN)
    assert download(src.as_uri(), dest, progressbar=False).read_bytes() == tar_bytes(0)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x.tar"], "no lock file left"
