"""Phantom v1 next to v2 for one brain and one chest subject (``docs/figures/phantom_v1_v2.png``).

Run: ``python benchmarks/figure_phantom_versions.py [--out docs/figures/phantom_v1_v2.png]``.
The v1 row comes from the slices stored in the package (the v1 simulator is not kept); the v2 row
is simulated now for the same subject seeds (brain 0, chest 0). Everything shown is simulated.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from medgen_nb.data.brain_phantom import simulate_brain_subject  # noqa: E402
from medgen_nb.data.chest_ct import simulate_chest_subject  # noqa: E402
from medgen_nb.data.phantom_versions import load_v1_reference, reference_slices  # noqa: E402
from medgen_nb.viz import version_comparison  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/phantom_v1_v2.png"))
    args = parser.parse_args()
    v1 = load_v1_reference()
    v2 = {
        "brain": reference_slices(simulate_brain_subject(0), "brain"),
        "chest": reference_slices(simulate_chest_subject(0), "chest"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for region in ("brain", "chest"):
        fig = version_comparison(
            v1[region], v2[region], suptitle=f"simulated {region} subject 0: phantom v1 (top), v2"
        )
        path = args.out.with_name(f"{args.out.stem}_{region}{args.out.suffix}")
        fig.savefig(path, dpi=90)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
