"""Tidy results: one row per (task, model, metric), with its subject-level interval.

Rows from several models (or tasks) concatenate into one table with ``Results.concat`` or ``+``.
``to_markdown()`` is what a notebook displays; ``to_csv()`` and ``to_frame()`` (pandas, if
installed) are for analysis. Per-subject values are kept, so a later test (paired differences,
another interval) needs no re-scoring.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

COLUMNS: tuple[str, ...] = (
    "task",
    "data",
    "model",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "unit",
    "higher_is_better",
    "images",
    "subjects",
)


@dataclass(frozen=True)
class Row:
    """One metric of one model on one task.

    ``value`` is the mean over subjects of each subject's mean; ``ci_low``/``ci_high`` the
    cluster-bootstrap interval over subjects; ``per_subject`` maps subject id -> that subject's mean.
    """

    task: str
    data: str
    model: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    unit: str
    higher_is_better: bool
    images: int
    subjects: int
    per_subject: dict[str, float] = field(default_factory=dict, compare=False)

    @classmethod
    def of(
        cls,
        task,
        spec,
        model: str,
        value: float,
        low: float,
        high: float,
        *,
        images: int,
        subjects: int,
        per_subject: dict[str, float] | None = None,
    ) -> Row:
        """A row for ``task`` (a task declaration) and ``spec`` (its :class:`MetricSpec`)."""
        return cls(
            task=task.name, data=task.data, model=model, metric=spec.name, value=float(value),
            ci_low=float(low), ci_high=float(high), unit=spec.unit,
            higher_is_better=spec.higher_is_better, images=int(images), subjects=int(subjects),
            per_subject=per_subject or {},
        )  # fmt: skip


class Results:
    """An ordered collection of :class:`Row`."""

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self.rows: list[Row] = list(rows)
        for row in self.rows:
            if not isinstance(row, Row):
                raise ValueError(f"Results holds Row objects, got {type(row).__name__}")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __add__(self, other: Results) -> Results:
        if not isinstance(other, Results):
            return NotImplemented
        return Results([*self.rows, *other.rows])

    @classmethod
    def concat(cls, parts: Sequence[Results]) -> Results:
        return cls(row for part in parts for row in part.rows)

    def get(self, model: str, metric: str, task: str | None = None) -> Row:
        """The one row of ``model`` and ``metric`` (and ``task``, where several tasks are held)."""
        found = [
            r
            for r in self.rows
            if r.model == model and r.metric == metric and (task is None or r.task == task)
        ]
        if len(found) != 1:
            have = sorted({(r.task, r.model, r.metric) for r in self.rows})
            raise ValueError(
                f"expected one row for model={model!r}, metric={metric!r}, task={task!r}, found "
                f"{len(found)}; rows are (task, model, metric) = {have}"
            )
        return found[0]

    def records(self) -> list[dict]:
        """Rows as plain dicts (the table columns, without the per-subject values)."""
        return [{k: asdict(r)[k] for k in COLUMNS} for r in self.rows]

    def to_csv(self, path=None) -> str:
        """CSV text of the table (also written to ``path`` if given)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.records())
        text = buf.getvalue()
        if path is not None:
            from medgen_nb.utils import atomic_write

            with atomic_write(path, "w") as fh:
                fh.write(text)
        return text

    def to_frame(self):
        """A pandas DataFrame of :meth:`records` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:  # pandas is optional
            raise ImportError(
                "to_frame() needs pandas; pip install pandas, or use to_csv()"
            ) from err
        return pd.DataFrame(self.records(), columns=list(COLUMNS))

    def to_markdown(self, digits: dict[str, int] | None = None) -> str:
        """A Markdown table: one line per (task, model), one column per metric, "value [low, high]".

        ``digits`` sets decimals per metric (default: 2 for dB and HU, 4 for [0, 1] MAE, else 3).
        """
        if not self.rows:
            return "(no results)"
        metrics = list(dict.fromkeys(r.metric for r in self.rows))
        units = {r.metric: r.unit for r in self.rows}
        better = {r.metric: r.higher_is_better for r in self.rows}
        keys = list(dict.fromkeys((r.task, r.data, r.model) for r in self.rows))
        cells = {(r.task, r.data, r.model, r.metric): r for r in self.rows}
        several_tasks = len({k[:2] for k in keys}) > 1

        def places(metric: str) -> int:
            if digits and metric in digits:
                return digits[metric]
            return 2 if units[metric] in ("dB", "HU", "SUV") else 4 if metric == "mae" else 3

        def fmt(row: Row | None, metric: str) -> str:
            if row is None:
                return "-"
            d = places(metric)
            if math.isnan(row.ci_low):
                return f"{row.value:.{d}f}"
            return f"{row.value:.{d}f} [{row.ci_low:.{d}f}, {row.ci_high:.{d}f}]"

        head = ["task"] if several_tasks else []
        head += ["model", "subjects", "images"]
        for m in metrics:
            unit = f" ({units[m]})" if units[m] else ""
            head.append(f"{m}{unit} {'↑' if better[m] else '↓'}")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for task, data, model in keys:
            any_row = next(r for r in self.rows if (r.task, r.data, r.model) == (task, data, model))
            row = [f"{task} ({data})"] if several_tasks else []
            row += [model, str(any_row.subjects), str(any_row.images)]
            row += [fmt(cells.get((task, data, model, m)), m) for m in metrics]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:  # Jupyter shows the table
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"Results({len(self.rows)} rows)"
