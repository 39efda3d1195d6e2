"""safe_extract refuses archives whose members collide and destinations it would write through."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from medgen_nb.data.realdata.download import UnsafeArchiveError, safe_extract


def _archive(path, members: list[tuple[str, bytes | None]]):
    """A .tar or .zip with ``(name, data)`` members in order; data None is a folder."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                if data is None:
                    zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
                else:
                    zf.writestr(name, data)
        return path
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _tree(folder):
    return (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        if folder.exists()
        else []
    )


@pytest.mark.parametrize("suffix", [".tar", ".zip"])
@pytest.mark.parametrize(
    "members",
    [
        [("a", b"file"), ("a/b", b"below a file")],
        [("a", b"file"), ("a/b", None)],
        [("d/a", b"file"), ("d/a/b/c.txt", b"deep")],
        [("a/b", b"first"), ("a", b"then the file")],
    ],
    ids=["file-file", "file-dir", "nested", "child-first"],
)
def test_member_below_a_file_member_is_refused_naming_both(tmp_path, suffix, members):
    arc = _archive(tmp_path / f"x{suffix}", members)
    with pytest.raises(UnsafeArchiveError, match=r"member '(d/)?a' is a file.*'(d/)?a/b"):
        safe_extract(arc, tmp_path / "out", progressbar=False)
    assert _tree(tmp_path / "out") == [], "nothing extracted"


def test_member_with_no_name_is_refused(tmp_path):
    arc = _archive(tmp_path / "x.tar", [("./", b"no name")])
    with pytest.raises(UnsafeArchiveError, match="has no file name"):
        safe_extract(arc, tmp_path / "out", progressbar=False)


@pytest.mark.parametrize("suffix", [".tar", ".zip"])
def test_symlinked_folder_in_destination_is_not_written_through(tmp_path, suffix):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a").symlink_to(outside, target_is_directory=True)
    arc = _archive(tmp_path / f"x{suffix}", [("ok.txt", b"fine"), ("a/x", b"escapes")])
    with pytest.raises(UnsafeArchiveError, match=r"out/a is a symbolic link.*'a/x'"):
        safe_extract(arc, dest, progressbar=False)
    assert list(outside.iterdir()) == [], "nothing written through the link"
    assert _tree(dest) == ["a"], "nothing extracted at all"


def test_symlinked_file_in_destination_is_not_replaced(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "f.txt").symlink_to(precious)
    arc = _archive(tmp_path / "x.tar", [("f.txt", b"new")])
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        safe_extract(arc, dest, progressbar=False)
    assert precious.read_text() == "mine" and (dest / "f.txt").is_symlink()


def test_file_in_destination_where_a_folder_is_needed_is_named(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a").write_text("the user's file")
    arc = _archive(tmp_path / "x.zip", [("a/b.txt", b"x")])
    with pytest.raises(UnsafeArchiveError, match=r"out/a is a file.*'a/b.txt' needs a folder"):
        safe_extract(arc, dest, progressbar=False)
    assert (dest / "a").read_text() == "the user's file"


def test_folder_in_destination_where_a_file_goes_is_named(tmp_path):
    dest = tmp_path / "out"
    (dest / "a").mkdir(parents=True)
    arc = _archive(tmp_path / "x.tar", [("a", b"x")])
    with pytest.raises(UnsafeArchiveError, match=r"out/a is a folder.*member 'a'"):
        safe_extract(arc, dest, progressbar=False)


def test_destination_itself_may_be_a_link_and_reextraction_replaces_files(tmp_path):
    real = tmp_path / "big_disk"
    real.mkdir()
    link = tmp_path / "data"
    link.symlink_to(real, target_is_directory=True)  # a user's data folder on another disk
    arc = _archive(tmp_path / "x.tar", [("s1/a.txt", b"one"), ("s1/b.txt", b"two")])
    safe_extract(arc, link, progressbar=False)
    out = safe_extract(arc, link, progressbar=False)  # again, over the first extraction
    assert [p.relative_to(link).as_posix() for p in out] == ["s1/a.txt", "s1/b.txt"]
    assert (real / "s1" / "b.txt").read_bytes() == b"two"
    assert sorted(os.listdir(real)) == ["s1"]


def test_duplicate_member_is_written_once_last_wins(tmp_path):
    arc = _archive(tmp_path / "x.tar", [("a.txt", b"old"), ("a.txt", b"new")])
    out = safe_extract(arc, tmp_path / "out", progressbar=False)
    assert out == [tmp_path / "out" / "a.txt"]
    assert out[0].read_bytes() == b"new"
