"""load_dataset: the notebooks' DATA names, their errors, and the not-found message."""

import pytest

from medgen_nb.data.realdata import DataNotFoundError, load_dataset


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "name must be one of"),
        ("mnist", "unknown data set 'mnist'"),
        ("medmnist", "needs a set"),
        ("nifti", "needs a folder"),
        ("phantom", "embedded simulated data"),
    ],
)
def test_bad_names(name, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(name)


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("ixi", "python data_scripts/ixi.py"),
        ("synthrad", "python data_scripts/synthrad.py"),
        ("brats", "python data_scripts/brats.py --help"),
        ("medmnist:pneumoniamnist", "python data_scripts/medmnist.py pneumoniamnist"),
    ],
)
def test_absent_data_say_what_and_how(tmp_path, name, command):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(name, tmp_path / "empty")
    msg = str(info.value)
    assert str(tmp_path / "empty") in msg and command in msg


def test_default_root_is_the_scripts_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "realdata" / "ixi")):
        load_dataset("ixi")


@pytest.mark.parametrize("name", ["medmnist", "ixi", "synthrad", "brats"])
def test_scripts_have_help(name, capsys):
    from realdata_fakes import script

    with pytest.raises(SystemExit) as info:
        script(name).main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--dest" in out and "--subjects" in out and "usage" in out
