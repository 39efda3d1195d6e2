"""Named tasks: what a fair comparison needs (data, sources -> target, slices, mask, metrics).

``tasks.available()`` lists the task names; ``tasks.get("brain_t1w_to_t2w")`` returns the phantom
variant, ``tasks.get("brain_t1w_to_t2w", data="ixi")`` the one on IXI. ``task_data =
tasks.build(task, smoke=True)`` makes its datasets. Tasks hold no training code: models are
fitted and scored by :mod:`medgen_nb.evaluation`.
"""

from __future__ import annotations

from medgen_nb.tasks.base import (
    CreationTask,
    DownstreamTask,
    MetricSpec,
    Task,
    TaskData,
    TranslationTask,
    metric_set,
)
from medgen_nb.tasks.build import build
from medgen_nb.tasks.registry import TASKS

KINDS: tuple[str, ...] = ("translation", "creation", "downstream")
_BY_KEY: dict[tuple[str, str], Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` to the registry (a name + data pair may be registered once)."""
    key = (task.name, task.data)
    if key in _BY_KEY:
        raise ValueError(f"task {task.name!r} on data {task.data!r} is registered already")
    _BY_KEY[key] = task
    return task


for _task in TASKS:
    register(_task)


def available(kind: str | None = None, data: str | None = None) -> list[str]:
    """Sorted task names, optionally only of one ``kind`` or with a variant on ``data``."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    return sorted(
        {
            t.name
            for t in _BY_KEY.values()
            if (kind is None or t.kind == kind) and (data is None or t.data == data)
        }
    )


def variants(name: str) -> list[str]:
    """The data sources task ``name`` is registered on: ``"phantom"`` first, then alphabetical."""
    found = sorted(
        (t.data for t in _BY_KEY.values() if t.name == name), key=lambda d: (d != "phantom", d)
    )
    if not found:
        raise ValueError(f"unknown task {name!r}; choose one of {available()}")
    return found


def get(name: str, data: str = "phantom") -> Task:
    """The task ``name`` on ``data`` (``"phantom"`` or a real data set such as ``"ixi"``)."""
    if not isinstance(name, str) or (name, data) not in _BY_KEY:
        if any(t.name == name for t in _BY_KEY.values()):
            raise ValueError(
                f"task {name!r} has no variant on data {data!r}; it runs on {variants(name)}"
            )
        raise ValueError(f"unknown task {name!r}; choose one of {available()}")
    return _BY_KEY[name, data]


__all__ = [
    "KINDS",
    "CreationTask",
    "DownstreamTask",
    "MetricSpec",
    "Task",
    "TaskData",
    "TranslationTask",
    "available",
    "build",
    "get",
    "metric_set",
    "register",
    "variants",
]
