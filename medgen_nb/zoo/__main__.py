"""``python -m medgen_nb.zoo list | train NAME | train --all | train --stale | verify [NAME]``.

``train`` reproduces entries from their recipes (one at a time; set ``OMP_NUM_THREADS`` to the
cores you lend it) and prints a table of their gates; ``verify`` re-scores the stored weights
against the manifest (``--quick``: on the small verify subset) and reports stale entries. The
exit status is 1 when a verification fails or a trained entry misses its gate.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from medgen_nb.zoo.manifest import ZooError, available, entry, stale_reasons


def _gate_list_cell(spec: dict[str, Any]) -> str:
    """Creation entries: each gate's value, side and bound; intervals and N are in the manifest."""
    if "metrics" not in spec:
        return "not trained"
    cells = []
    for g in spec.get("gate_results", []):
        value = "-" if g["value"] is None else f"{g['value']:.3g}"
        bound = "-" if g["bound"] is None else f"{g['bound']:.3g}"
        cells.append(
            f"{g['metric']} {value} {g['side']} {bound}: {'PASS' if g['passed'] else 'FAIL'}"
        )
    return "; ".join(cells)


def _gate_cell(spec: dict[str, Any]) -> str:
    gate = spec["gate"]
    if isinstance(gate, list):
        return _gate_list_cell(spec)
    if "above" in gate:
        if "metrics" not in spec:
            return f"{', '.join(gate['metrics'])} above the {gate['above']}: not trained"
        m, ref = spec["metrics"][gate["split"]], spec["metrics"][gate["above"]]
        cells = [
            f"{k} {m[k]['value']:.3g} [{m[k]['ci_low']:.3g}, {m[k]['ci_high']:.3g}] vs "
            f"{ref[k]['value']:.3g}" for k in gate["metrics"]
        ]  # fmt: skip
        verdict = "PASS" if spec.get("gate_passed") else "BELOW GATE"
        return (
            f"{'; '.join(cells)} (N={m['subjects']} subjects, {m['slices']} slices) above the "
            f"{gate['above']}: {verdict}"
        )
    if "metrics" not in spec:
        return f"{gate['metric']} >= {gate['min']}: not trained"
    m = spec["metrics"][gate["split"]]
    v = m[gate["metric"]]
    verdict = "PASS" if spec.get("gate_passed") else "BELOW GATE"
    return (
        f"{gate['metric']} {v['value']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}] "
        f"(N={m['subjects']} subjects, {m['slices']} slices) >= {gate['min']}: {verdict}"
    )


def gate_table(names: Sequence[str], root=None) -> str:
    """A markdown table: entry, weight size, gate with interval and N, staleness."""
    lines = ["| entry | MB | gate | stale |", "|---|---|---|---|"]
    for name in names:
        spec = entry(name, root)
        size = spec["weights"].get("bytes")
        mb = f"{size / 1e6:.2f}" if size else "-"
        stale = "; ".join(stale_reasons(name, root)) or "no"
        lines.append(f"| {name} | {mb} | {_gate_cell(spec)} | {stale} |")
    return "\n".join(lines)


def _module_of(name: str, root) -> Any:
    """``train``/``verify`` functions for the entry's kind (heavy imports only when needed)."""
    from types import SimpleNamespace

    from medgen_nb.zoo import creation, training

    if training.entry_kind(entry(name, root)) == "translation":
        return SimpleNamespace(train=training.train_entry, verify=training.verify_entry)
    return SimpleNamespace(
        train=creation.train_creation_entry, verify=creation.verify_creation_entry
    )


def _names(args: argparse.Namespace, root) -> list[str]:
    if getattr(args, "all", False):
        return available(root)
    if getattr(args, "stale", False):
        return [n for n in available(root) if stale_reasons(n, root)]
    if args.name is None:
        return available(root) if args.command == "verify" else []
    entry(args.name, root)  # unknown names: a clear error listing the entries
    return [args.name]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medgen_nb.zoo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", default=None, help="a copy of the zoo (default: the package's)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="entries, sizes, gates and staleness")
    train = sub.add_parser("train", help="train entries from their recipes")
    train.add_argument("name", nargs="?")
    which = train.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every entry")
    which.add_argument("--stale", action="store_true", help="entries whose versions changed")
    train.add_argument("--progress", action="store_true")
    verify = sub.add_parser("verify", help="re-score stored weights against the manifest")
    verify.add_argument("name", nargs="?")
    verify.add_argument("--quick", action="store_true", help="re-score the small verify subset")
    args = parser.parse_args(argv)
    root = args.root
    try:
        if args.command == "list":
            print(gate_table(available(root), root))
            return 0
        names = _names(args, root)
        if args.command == "train":
            if not names and not args.stale:
                parser.error("train needs NAME, --all or --stale")
            for name in names:
                print(f"training {name} ...", flush=True)
                _module_of(name, root).train(name, root=root, progress=args.progress)
            print(gate_table(names, root) if names else "no stale entries")
            return 0 if all(entry(n, root).get("gate_passed") for n in names) else 1
        failed = 0
        for name in names:
            report = _module_of(name, root).verify(name, quick=args.quick, root=root)
            checks = ", ".join(
                f"{m} {a:.4f} -> {b:.4f} (tol {t})" for m, (a, b, t) in report["checked"].items()
            )
            status = "ok" if report["ok"] else "MISMATCH"
            stale = f"; STALE: {'; '.join(report['stale'])}" if report["stale"] else ""
            print(f"{name} [{report['subset']}]: {status}: {checks}{stale}")
            failed += not report["ok"]
        return 1 if failed else 0
    except ZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
