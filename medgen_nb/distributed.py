"""Training on several processes with PyTorch's own engine (``torch.distributed``), under torchrun.

:func:`medgen_nb.train.fit` calls :func:`setup`: under ``torchrun --nproc_per_node=N`` (the
``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` variables) it initialises the default process group
(``nccl`` on CUDA, ``gloo`` on the CPU), or uses one the caller has initialised already. What then
differs from one process (:class:`Replicas` holds it):

* **Gradients** are averaged over the ranks by an all-reduce inside ``ctx.optimize`` right after
  ``backward`` (:meth:`Replicas.reduce_gradients`), which is what ``DistributedDataParallel``
  does. DDP itself is not used: a GAN step backpropagates G's loss through D (DDP would reduce
  D's gradients there too), runs several forwards per backward, and WGAN-GP's gradient penalty
  needs ``autograd.grad(create_graph=True)``, which DDP's reducer does not support; the
  models' one hook, ``ctx.optimize``, is where every update passes, so the average goes there.
* **Data**: rank ``r`` takes rows ``[r B, (r + 1) B)`` of each global batch of ``W B`` indices
  of the same seeded permutation (:class:`medgen_nb.train.EpochBatchSampler`).
* **Random draws inside ``train_step``**: every rank keeps the *same* RNG state (seeded alike,
  restored alike), and a draw whose leading size is the per-rank batch ``B`` (``torch.randn``,
  ``randn_like``, ``randint``, ``Tensor.normal_``, ``bernoulli``, ``F.dropout``, ...; see
  :class:`GlobalBatchRandom`) is made for the whole global batch ``W B`` and each rank keeps its
  rows. Sample ``i`` of a global batch therefore gets the same noise at any world size, so W
  ranks with batch ``B`` follow one process with batch ``W B`` (up to float rounding), and a
  checkpoint resumes on any world size. Per-rank streams seeded from ``(seed, rank)`` would make
  the trained weights depend on the number of GPUs.
* **Logs** are averaged over the ranks, so every rank's ``History`` is the same; checkpoints are
  written by rank 0 while the others wait; buffers (batch-norm running statistics) are copied
  from rank 0 after each step, as DDP's ``broadcast_buffers`` does.

Limits (the same as DDP's): batch norm normalises with per-rank statistics, so a model with
batch norm follows a single process only approximately (the VAE uses group norm, Pix2Pix and
CycleGAN can use ``norm="instance"``); draws made outside torch's Python API (Python's
``random``, NumPy, CycleGAN's image pool) and draws in a ``Dataset`` are per rank.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, Dataset

from medgen_nb.utils import pick_device


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer") from None


@dataclass(frozen=True)
class Replicas:
    """Where this process stands among the training processes (one process: the defaults).

    Attributes:
        rank: this process's index, 0 .. world_size - 1 (rank 0 writes checkpoints).
        world_size: number of processes ``W``; 1 means no collective calls at all.
        local_rank: index on this machine (the CUDA device it uses).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def reduce_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Replace each ``p.grad`` by its mean over the ranks (sum-all-reduce, then ``/ W``).

        Parameters without a gradient are skipped; every rank runs the same code on the same
        random draws, so the same parameters have gradients everywhere.
        """
        grads = [p.grad for p in params if p.grad is not None]
        _coalesced(grads, lambda flat: dist.all_reduce(flat), scale=1.0 / self.world_size)

    def broadcast_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Overwrite ``tensors`` on every rank with rank 0's values (in place)."""
        _coalesced([t.data for t in tensors], lambda flat: dist.broadcast(flat, src=0))

    def mean_logs(
        self, logs: dict[str, float], stop: bool, device: torch.device
    ) -> tuple[dict[str, float], bool]:
        """``logs`` averaged over the ranks (float64), and whether any rank asked to stop."""
        keys = sorted(logs)
        values = torch.tensor([logs[k] for k in keys] + [float(stop)], dtype=torch.float64)
        values = values.to(device)
        dist.all_reduce(values)
        out = (values / self.world_size).tolist()
        return dict(zip(keys, out[:-1], strict=True)), out[-1] > 0

    def random_draws(self, batch_size: int) -> AbstractContextManager:
        """Context for ``train_step``: batch-shaped draws over the global batch (see module doc)."""
        if not self.active:
            return nullcontext()
        return GlobalBatchRandom(batch_size, self.rank, self.world_size)


SINGLE = Replicas()


def _coalesced(
    tensors: list[torch.Tensor], collective: Callable[[torch.Tensor], Any], scale: float = 1.0
) -> None:
    """Run ``collective`` on one flat buffer per (dtype, device) and copy the result back."""
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = torch._utils._flatten_dense_tensors(group)
        collective(flat)
        if scale != 1.0:
            flat.mul_(scale)
        for t, reduced in zip(
            group, torch._utils._unflatten_dense_tensors(flat, group), strict=True
        ):
            t.copy_(reduced)


def setup(device: str | torch.device, enabled: bool | None) -> tuple[Replicas, torch.device]:
    """Find (or start) the process group and pick this rank's device.

    Args:
        device: as in :func:`medgen_nb.utils.pick_device`; on CUDA each rank takes
            ``cuda:LOCAL_RANK``.
        enabled: None: distributed if a process group is initialised or ``WORLD_SIZE`` > 1 (as
            torchrun sets it); False: one process whatever the environment; True: as None, but a
            ``ValueError`` if there is neither.

    Returns:
        ``(replicas, device)``; without a process group ``(SINGLE, pick_device(device))``.
    """
    if enabled not in (None, True, False):
        raise ValueError(f"distributed must be None, True or False, got {enabled!r}")
    dev = pick_device(device)
    if enabled is False:
        return SINGLE, dev
    initialised = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if initialised else _env_int("WORLD_SIZE", 1)
    if world <= 1:
        if enabled:
            raise ValueError(
                "distributed=True, but no process group is initialised and WORLD_SIZE is "
                f"{os.environ.get('WORLD_SIZE', 'unset')}: launch with "
                "`torchrun --nproc_per_node=N ...`, or pass distributed=None for one process"
            )
        return SINGLE, dev
    rank = dist.get_rank() if initialised else _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not initialised:
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise ValueError(
                f"WORLD_SIZE={world} but {missing} are not set: start the processes with torchrun "
                "(it sets them), or initialise torch.distributed before calling fit"
            )
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dist.get_backend() == "nccl" and dev.type != "cuda":
        raise ValueError(
            f"the process group uses nccl, which needs CUDA tensors, but fit runs on {dev}; "
            "initialise it with backend='gloo' for CPU training, or train on device='cuda'"
        )
    return Replicas(rank, world, local_rank), dev


def restore_device_rng(rng: dict[str, Any], device_index: int | None, device: torch.device) -> None:
    """Give this rank's CUDA device the RNG state rank 0's device had (all ranks share one)."""
    states = rng.get("cuda") or []
    if device.type == "cuda" and device_index is not None and 0 <= device_index < len(states):
        state = torch.tensor(states[device_index], dtype=torch.uint8)
        torch.cuda.set_rng_state(state, device=device)


def check_dataset(data: Dataset | DataLoader, batch_size: int, world: int) -> None:
    """Distributed training shards a ``Dataset`` itself and needs ``world * batch_size`` items."""
    if isinstance(data, DataLoader):
        raise ValueError(
            f"distributed training over {world} processes needs a Dataset, not a DataLoader: fit "
            "splits each global batch over the ranks itself (pass the loader's .dataset)"
        )
    if world * batch_size > len(data):  # type: ignore[arg-type]
        raise ValueError(
            f"batch_size={batch_size} per rank x {world} ranks = {world * batch_size} images per "
            f"step, but data holds {len(data)}; lower batch_size to at most "  # type: ignore[arg-type]
            f"{len(data) // world}"  # type: ignore[arg-type]
        )


def check_batch_order(stored: dict[str, Any] | None, order: dict[str, Any], path: Path) -> None:
    """Warn when a resumed run continues the batch order at another seed or global batch."""
    if not stored:
        return  # written before checkpoints kept it
    changed = [k for k in ("seed", "global_batch_size") if stored.get(k) != order[k]]
    if changed:
        was = ", ".join(f"{k}={stored.get(k)}" for k in changed)
        now = ", ".join(f"{k}={order[k]}" for k in changed)
        warnings.warn(
            f"{path.name} was written with {was} and this run has {now}, so the resumed run sees "
            "other batches than an uninterrupted one; keep the seed and batch_size x world size "
            "to continue it exactly",
            RuntimeWarning,
            stacklevel=3,
        )


# --- random draws over the global batch --------------------------------------------------------

_SIZED = {torch.randn, torch.rand, torch.randint}
_LIKE = {torch.randn_like, torch.rand_like, torch.randint_like}
_IN_PLACE = {
    getattr(torch.Tensor, name)
    for name in (
        "normal_", "uniform_", "bernoulli_", "exponential_", "random_", "geometric_",
        "log_normal_", "cauchy_",
    )
}  # fmt: skip
_ELEMENTWISE = {torch.bernoulli, torch.poisson, torch.normal}
_DROPOUT = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d}


class GlobalBatchRandom(TorchFunctionMode):
    """Make draws of leading size ``batch_size`` for the whole global batch; keep this rank's rows.

    Every rank holds the same RNG state, so a draw of shape ``(B, ...)`` is made as
    ``(W B, ...)`` (what one process with the global batch draws) and rank ``r`` keeps rows
    ``[r B, (r + 1) B)``. Other draws are made as they are, alike on all ranks, as one process
    would make them once. Handled: ``torch.randn/rand/randint`` (by size), their ``_like``
    forms, the in-place ``Tensor`` samplers (``normal_``, ``uniform_``, ``bernoulli_``, ...),
    ``torch.bernoulli/poisson/normal`` on tensors, and ``F.dropout`` / ``dropout1d-3d``.
    A draw written to ``out=`` is made as it is. Each rank draws ``W`` times the noise it
    uses, which costs little next to the network.
    """

    def __init__(self, batch_size: int, rank: int, world_size: int) -> None:
        super().__init__()
        self.batch, self.world = batch_size, world_size
        self.rows = slice(rank * batch_size, (rank + 1) * batch_size)

    def _batched(self, shape: Sequence[int]) -> bool:
        return len(shape) >= 1 and int(shape[0]) == self.batch

    def _full(self, like: torch.Tensor) -> torch.Tensor:
        """An empty ``(W B, ...)`` tensor laid out as ``like`` (memory order decides the values)."""
        full = torch.empty(
            (self.batch * self.world, *like.shape[1:]), dtype=like.dtype, device=like.device
        )
        if (
            like.dim() == 4
            and not like.is_contiguous()
            and like.is_contiguous(memory_format=torch.channels_last)
        ):
            full = full.contiguous(memory_format=torch.channels_last)
        return full

    def _pad(self, value: Any) -> Any:
        """A batched tensor argument (probabilities, means) placed in its rows of a full one."""
        if isinstance(value, torch.Tensor) and self._batched(value.shape):
            full = self._full(value).zero_()
            full[self.rows] = value.detach()
            return full
        return value

    def _keep(self, full: torch.Tensor, requires_grad: bool = False) -> torch.Tensor:
        return full[self.rows].clone().requires_grad_(requires_grad)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = dict(kwargs or {})
        if "out" in kwargs:
            return func(*args, **kwargs)
        if func in _SIZED:
            return self._sized(func, args, kwargs)
        if func in _LIKE and args and self._batched(args[0].shape):
            return self._keep(func(self._full(args[0]), *args[1:], **kwargs))
        if func in _IN_PLACE and args and self._batched(args[0].shape):
            target, full = args[0], self._full(args[0])
            func(full, *(self._pad(a) for a in args[1:]), **kwargs)
            with torch.no_grad():
                target.copy_(full[self.rows])
            return target
        if func in _ELEMENTWISE and any(
            isinstance(a, torch.Tensor) and self._batched(a.shape) for a in args
        ):
            return self._keep(func(*(self._pad(a) for a in args), **kwargs))
        if func in _DROPOUT:
            return self._dropout(func, args, kwargs)
        return func(*args, **kwargs)

    def _sized(self, func, args: tuple, kwargs: dict) -> torch.Tensor:  # noqa: ANN001
        """``randn(*size)`` / ``randn(size)`` / ``randint([low,] high, size)``, size also by key."""
        requires_grad = bool(kwargs.pop("requires_grad", False))
        if "size" in kwargs:
            size, head = tuple(kwargs.pop("size")), args
        elif func is torch.randint:
            size, head = tuple(args[-1]), args[:-1]
        elif len(args) == 1 and isinstance(args[0], Sequence | torch.Size):
            size, head = tuple(args[0]), ()
        else:
            size, head = tuple(args), ()
        if not self._batched(size):
            return func(*head, size, requires_grad=requires_grad, **kwargs)
        full = func(*head, (self.batch * self.world, *size[1:]), **kwargs)
        return self._keep(full, requires_grad)

    def _dropout(self, func, args: tuple, kwargs: dict) -> torch.Tensor:  # noqa: ANN001
        """Dropout of this rank's rows with the mask one process would draw for the global batch."""
        bound = inspect.signature(func).bind(*args, **kwargs)
        bound.apply_defaults()
        x, p, training, inplace = (
            bound.arguments[k] for k in ("input", "p", "training", "inplace")
        )
        if not training or p == 0 or not self._batched(x.shape):
            return func(*args, **kwargs)
        # the mask (already scaled by 1 / (1 - p)) is what dropout makes of ones
        mask = func(self._full(x).fill_(1.0), p, True, False)[self.rows]
        return x.mul_(mask) if inplace else x * mask
