"""The import contracts in pyproject.toml hold, and a wrong-way import breaks them.

``lint-imports`` (import-linter) reads the ``[tool.importlinter]`` contracts: the layers
(data <- models <- train, metrics <- tasks, evaluation <- widgets), metrics never importing the
simulators, models never importing the loop, no private-module imports across packages, no
circles. The second test copies the package, adds one wrong-way import and checks that the
contract that forbids it is reported broken, so a contract that could never fail would show.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.skip("import-linter is not installed (pip install -e '.[test]')")
        exe = Path(found)
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(exe), "--config", str(CONFIG), "--no-cache"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_contracts_hold():
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout, run.stdout


@pytest.mark.parametrize(
    "module, line, contract, shown",
    [
        (
            "models/vae.py",
            "import medgen_nb.train",
            "Models never import the training loop",
            "medgen_nb.models.vae -> medgen_nb.train",
        ),
        (
            "metrics/fidelity.py",
            "import medgen_nb.data.brain_phantom",
            "Metrics never import the simulators",
            "medgen_nb.metrics.fidelity -> medgen_nb.data.brain_phantom",
        ),
        (
            "data/contrast.py",
            "import medgen_nb.data.chest_base",
            "No import circles",
            ".contrast -> .chest_base",
        ),
        (
            "widgets/metrics.py",
            "import medgen_nb.metrics._checks",
            "_private module",
            "medgen_nb.widgets.metrics -> medgen_nb.metrics._checks",
        ),
    ],
)
def test_a_wrong_way_import_breaks_its_contract(tmp_path, module, line, contract, shown):
    shutil.copytree(
        ROOT / "medgen_nb",
        tmp_path / "medgen_nb",
        ignore=shutil.ignore_patterns("__pycache__", "assets"),
    )
    target = tmp_path / "medgen_nb" / module
    target.write_text(target.read_text() + f"\n{line}  # deliberately the wrong way\n")
    run = _lint_imports(tmp_path)
    assert run.returncode != 0, run.stdout
    broken = run.stdout[run.stdout.index("Broken contracts") :]
    assert contract in broken, run.stdout
    assert shown in broken, run.stdout
