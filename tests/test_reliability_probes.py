"""The probe runner's verdicts: each class of outcome is recognised, and the shipped probes pass."""

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch  # noqa: E402
from reliability_probes import VERDICTS, Probe, classify, load_probes, run_probe  # noqa: E402

from medgen_nb.metrics import psnr  # noqa: E402

ZEROS, ONES = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)


def _verdict(probe: Probe, tmp_path: Path) -> str:
    return classify(probe, tmp_path)[0]


def test_a_deliberate_error_with_its_hint_is_clear(tmp_path):
    probe = Probe(
        "t", "bad data range", lambda _: psnr(ZEROS, ONES, data_range=-1), hint="data_range"
    )
    assert _verdict(probe, tmp_path) == "clear error"


def test_a_deliberate_error_without_the_hint_is_unclear(tmp_path):
    probe = Probe("t", "bad data range", lambda _: psnr(ZEROS, ONES, data_range=-1), hint="zebra")
    assert _verdict(probe, tmp_path) == "unclear error"


def test_an_accidental_attribute_error_is_a_crash(tmp_path):
    probe = Probe("t", "crash", lambda _: None.shape)
    assert _verdict(probe, tmp_path) == "crash"


def test_a_bare_key_error_is_unclear(tmp_path):
    probe = Probe("t", "key error", lambda _: {}["image"])
    assert _verdict(probe, tmp_path) == "unclear error"


def test_a_returned_value_where_an_error_belongs_is_silent_wrong(tmp_path):
    probe = Probe("t", "silent", lambda _: 3.0)
    assert _verdict(probe, tmp_path) == "silent wrong"


def test_results_are_judged_by_their_check(tmp_path):
    right = Probe("t", "right", lambda _: 2 + 2, expect="result", check=lambda v, _: v == 4)
    wrong = Probe("t", "wrong", lambda _: 2 + 3, expect="result", check=lambda v, _: v == 4)
    lost = Probe("t", "lost", lambda _: 0, expect="result", check=lambda v, _: "data loss")
    assert [_verdict(p, tmp_path) for p in (right, wrong, lost)] == [
        "correct",
        "silent wrong",
        "data loss",
    ]


def test_a_loud_warning_counts_only_where_the_probe_allows_it(tmp_path):
    def warn(_):
        warnings.warn("only 10 samples for 128 features", UserWarning, stacklevel=1)
        return 1.0

    assert (
        _verdict(Probe("t", "w", warn, hint="samples", warning_ok=True), tmp_path) == "clear error"
    )
    assert _verdict(Probe("t", "w", warn, hint="samples"), tmp_path) == "silent wrong"


def test_every_shipped_probe_ends_in_a_clear_error_or_a_correct_result():
    probes = load_probes()
    assert probes, "no probes found in benchmarks/probes_*.py"
    bad = {}
    for probe in probes:
        verdict, detail = run_probe(probe)
        assert verdict in VERDICTS
        if verdict not in ("clear error", "correct"):
            bad[f"{probe.item} {probe.name}"] = f"{verdict}: {detail}"
    assert not bad, bad
