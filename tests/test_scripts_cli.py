"""The data scripts' command lines: bad values are usage errors (exit 2), failures one line (exit 1).

No test contacts a real host: the unreachable server is a socket on 127.0.0.1 that is bound but
never listens, so a connection to it is refused at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from realdata_fakes import SCRIPTS, fake_ixi, script, serve
from test_download_resume import refused_port

from medgen_nb.data.realdata.cli import run_script
from medgen_nb.data.realdata.download import DownloadError, UnsafeArchiveError

HEX = "ab" * 32


def usage_error(capsys, name: str, argv: list[str]) -> str:
    """Run ``data_scripts/<name>.py argv``; assert argparse's exit status 2; return its stderr."""
    with pytest.raises(SystemExit) as info:
        script(name).main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "usage:" in err
    return err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("T2=xyz", "needs 64 hex digits, got 'xyz'"),
        (f"T3={HEX}", "KEY one of T1, T2, PD, got 'T3="),
        (HEX, "takes KEY=HEX"),
        (f"T2=md5:{HEX}", "takes a SHA-256"),
    ],
)
def test_ixi_bad_sha256_is_a_usage_error(capsys, tmp_path, value, message):
    err = usage_error(capsys, "ixi", ["--sha256", value, "--dest", str(tmp_path)])
    assert "argument --sha256" in err and message in err


def test_ixi_sha256_for_a_modality_not_downloaded(capsys, tmp_path):
    argv = ["--modalities", "pd", "--sha256", f"t2={HEX}", "--dest", str(tmp_path)]
    assert "--sha256 given for T2, which --modalities (pd) does not download" in usage_error(
        capsys, "ixi", argv
    )


def test_synthrad_sha256_with_another_algorithm(capsys, tmp_path):
    err = usage_error(capsys, "synthrad", ["--sha256", f"md5:{HEX[:32]}", "--dest", str(tmp_path)])
    assert "takes a SHA-256" in err


@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("ixi", "http://127.0.0.1:9/IXI-T2.tar", "must contain {MOD}"),
        ("medmnist", "http://127.0.0.1:9/{flie}", "must contain {file}"),
        ("synthrad", "ftp://127.0.0.1:9/Task{task}.zip", "supports http://, https://, file://"),
    ],
)
def test_bad_url_template_is_a_usage_error(capsys, tmp_path, name, url, message):
    argv = (["pneumoniamnist"] if name == "medmnist" else []) + ["--url", url]
    err = usage_error(capsys, name, [*argv, "--dest", str(tmp_path)])
    assert "argument --url" in err and message in err


def test_ixi_url_without_mod_would_save_one_tar_under_every_name(tmp_path, capsys):
    # Before --url was checked, this downloaded IXI-T2.tar twice, once as "IXI-PD.tar".
    src = fake_ixi(tmp_path / "files", ids=(2,), mods=("T2",))
    with tarfile.open(tmp_path / "IXI-T2.tar", "w") as tar:
        tar.add(next(src.glob("*.nii.gz")), arcname="IXI002-Guys-0802-T2.nii.gz")
    url = (tmp_path / "IXI-T2.tar").as_uri()
    argv = ["--modalities", "t2", "pd", "--url", url, "--dest", str(tmp_path / "d"), "--quiet"]
    usage_error(capsys, "ixi", argv)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("name", "archive", "message"),
    [
        ("brats", "missing.zip", "no such file: "),
        ("brats", "BraTS.rar", "must end in one of .tar, .tar.gz, .tgz, .zip"),
        ("synthrad", "missing.zip", "no such file: "),
        ("synthrad", "Task1.tar", "must end in one of .zip"),
    ],
)
def test_bad_archive_is_a_usage_error(capsys, tmp_path, name, archive, message):
    path = tmp_path / archive
    if "missing" not in archive:
        path.write_bytes(b"not an archive")
    err = usage_error(capsys, name, ["--archive", str(path), "--dest", str(tmp_path / "d")])
    assert "argument --archive" in err and message in err


def test_corrupt_brats_archive_is_one_line(capsys, tmp_path):
    bad = tmp_path / "BraTS.zip"
    bad.write_bytes(b"PK\x03\x04 cut short")
    rc = run_script(script("brats").main, ["--archive", str(bad), "--dest", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert "error:" in err and "BraTS.zip is not a readable archive" in err


@pytest.mark.parametrize(
    ("exc", "rc", "message"),
    [
        (DownloadError("cannot reach host"), 1, "error: cannot reach host"),
        (UnsafeArchiveError("member 'a' is a file"), 1, "error: member 'a' is a file"),
        (PermissionError(13, "Permission denied", "/data"), 1, "Permission denied: '/data'"),
        (KeyboardInterrupt(), 130, "interrupted; run the same command again to resume"),
    ],
)
def test_run_script_turns_failures_into_one_line(capsys, exc, rc, message):
    def main(argv):
        raise exc

    assert run_script(main, []) == rc
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_run_script_keeps_the_traceback_of_a_bug():
    def main(argv):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_script(main, [])


def test_run_script_passes_the_exit_status():
    assert run_script(lambda argv: 0, []) == 0


def test_offline_medmnist_prints_one_line_naming_the_host(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env["MEDGEN_NB_CACHE"] = str(tmp_path / "cache")
    with refused_port() as port:
        proc = subprocess.run(
            [
                sys.executable,
                str(SCRIPTS / "medmnist.py"),
                "pneumoniamnist",
                "--dest",
                str(tmp_path / "d"),
                "--url",
                f"http://127.0.0.1:{port}/{{file}}",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"medmnist.py: error: cannot reach 127.0.0.1:{port} ")
    assert "Connection refused" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "d" / "pneumoniamnist.npz").exists()


def test_unreachable_host_in_process_says_cannot_reach(tmp_path):
    with refused_port() as port, pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1"):
        script("medmnist").main(
            [
                "pneumoniamnist",
                "--dest",
                str(tmp_path),
                "--quiet",
                "--url",
                f"http://127.0.0.1:{port}/{{file}}",
            ]
        )


def test_ixi_with_valid_sha256_still_downloads(tmp_path):
    import hashlib

    src = fake_ixi(tmp_path / "files", ids=(2,), mods=("T2",))
    srv = tmp_path / "srv"
    srv.mkdir()
    with tarfile.open(srv / "IXI-T2.tar", "w") as tar:
        for f in src.glob("*.nii.gz"):
            tar.add(f, arcname=f.name)
    sha = hashlib.sha256((srv / "IXI-T2.tar").read_bytes()).hexdigest()
    with serve(srv) as url:
        rc = script("ixi").main(
            [
                "--modalities",
                "t2",
                "--sha256",
                f"T2={sha.upper()}",
                "--dest",
                str(tmp_path / "d"),
                "--quiet",
                "--url",
                url + "/IXI-{MOD}.tar",
            ]
        )
    assert rc == 0
    assert len(list((tmp_path / "d").glob("*.nii.gz"))) == 1


def test_ixi_archives_without_a_common_subject_are_an_error(tmp_path, capsys):
    srv = tmp_path / "srv"
    srv.mkdir()
    for mod in ("T2", "PD"):  # tars that hold no IXI file names at all
        with tarfile.open(srv / f"IXI-{mod}.tar", "w") as tar:
            (tmp_path / "readme.txt").write_text(mod)
            tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    url = srv.as_uri() + "/IXI-{MOD}.tar"
    argv = ["--modalities", "t2", "pd", "--url", url, "--dest", str(tmp_path / "d"), "--quiet"]
    assert script("ixi").main(argv) == 1
    err = capsys.readouterr().err
    assert "no subject is in every requested archive (subjects found: T2 0, PD 0)" in err
    assert not list((tmp_path / "d").glob("*.nii.gz"))


def test_synthrad_region_missing_from_the_zip_is_an_error(tmp_path, capsys):
    import zipfile

    archive = tmp_path / "Task1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Task1/pelvis/1PA001/ct.nii.gz", b"x")
    argv = ["--archive", str(archive), "--region", "brain", "--dest", str(tmp_path / "d")]
    assert script("synthrad").main([*argv, "--quiet"]) == 1
    assert "Task1.zip has no subjects under Task1/brain/" in capsys.readouterr().err
