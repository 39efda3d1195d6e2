"""One training loop for every model family.

``fit(model, data, steps)`` handles device, seeding, batching, mixed precision, gradient clipping,
progress, live-plot callbacks, checkpoints and resuming; the model supplies only
``configure_optimizers()`` and ``train_step(batch, optimizers, ctx)`` (see
:mod:`medgen_nb.models.base`). GAN alternation stays inside the model's step.

Reproducibility: with a ``Dataset`` (not a ready ``DataLoader``) the batch order is a pure
function of ``(seed, epoch)``, and checkpoints carry every RNG state, so on one CPU the same seed
gives the same weights and an interrupted-and-resumed run gives the same weights as an
uninterrupted one. Ctrl-C during :func:`fit` is deferred to the end of the current step
(:class:`DeferredInterrupt`), so the checkpoint it writes never holds half a step (for a GAN: D
updated, G not) or an RNG state from the middle of one.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from medgen_nb.checkpoint import (
    checkpoint_files,
    latest_checkpoint,
    load_training_state,
    restore_rng,
    save_checkpoint,
)
from medgen_nb.compiling import CompiledStep
from medgen_nb.distributed import (
    SINGLE,
    Replicas,
    check_batch_order,
    check_dataset,
    restore_device_rng,
    setup,
)
from medgen_nb.models.base import Batch, GenerativeModel, StepContext
from medgen_nb.models.validation import check_batch_keys, check_positive_int
from medgen_nb.utils import seed_everything, trim_memory

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
Callback = Callable[[int, dict[str, float], GenerativeModel], None]

# bf16 autocast on CPU, measured with benchmarks/bench_models.py (best of interleaved rounds,
# 64x64 lab-mode configs, batch 16, 1 thread on a shared AMD EPYC with avx512_bf16): bf16/fp32
# training-speed ratio acgan 1.56, cgan 1.44, cvae 1.57, dcgan 1.56, gan 1.40, infogan 1.29,
# vae 1.26, wgan_gp 1.30. CPUs without native bf16 instructions were not measured, so "auto"
# picks bf16 on CPU only when /proc/cpuinfo lists avx512_bf16 or amx_bf16 (fp32 elsewhere).
CPU_AUTO_BF16 = True


@dataclass
class History:
    """Per-step training logs.

    Attributes:
        logs: key -> one float per step done (NaN where a step did not log that key, e.g. the
            WGAN-GP generator loss between generator updates).
        steps: the global step index (0-based) of each row.
        steps_done: optimisation steps completed in total (including resumed ones).
        wall_time: seconds spent in :func:`fit` calls, summed over resumes.
    """

    logs: dict[str, list[float]] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    steps_done: int = 0
    wall_time: float = 0.0

    def append(self, step: int, row: dict[str, float]) -> None:
        n = len(self.steps)
        for key in row.keys() - self.logs.keys():
            self.logs[key] = [math.nan] * n
        for key, values in self.logs.items():
            values.append(float(row.get(key, math.nan)))
        self.steps.append(step)
        self.steps_done = step + 1

    def recent_mean(self, last: int) -> dict[str, float]:
        """Mean of each key over the last ``last`` rows, ignoring NaN."""
        out = {}
        for key, values in self.logs.items():
            vals = [v for v in values[-last:] if not math.isnan(v)]
            if vals:
                out[key] = sum(vals) / len(vals)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "logs": self.logs,
            "steps": self.steps,
            "steps_done": self.steps_done,
            "wall_time": self.wall_time,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        if not d:
            return cls()
        return cls(dict(d["logs"]), list(d["steps"]), int(d["steps_done"]), float(d["wall_time"]))


def cpu_has_native_bf16() -> bool:
    """True if this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), read from /proc."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """Map ``"auto"`` to a concrete precision for ``device`` and check explicit choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision='fp16' needs a CUDA device (got {device}); use 'bf16' or 'fp32'"
        )
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and CPU_AUTO_BF16 and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def _autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def as_batch(item: Any) -> Batch:
    """Normalise what a data set yields into a batch dict: ``{"image": ..., "label": ...}``."""
    if isinstance(item, dict):
        return item
    if isinstance(item, torch.Tensor):
        return {"image": item}
    if isinstance(item, list | tuple) and 1 <= len(item) <= 2:
        return dict(zip(("image", "label"), item, strict=False))
    raise ValueError(
        f"data must yield dicts with an 'image' key, tensors, or (image, label) pairs; got {type(item).__name__}"
    )


class EpochBatchSampler:
    """Endless batches of indices: epoch ``e`` is a permutation seeded by ``(seed, e)``.

    Starting at ``start_batch`` skips whole batches without loading them, so a resumed run sees
    exactly the batches an uninterrupted run would. With ``num_replicas=W`` (distributed
    training) ``batch_size`` is the global batch ``W B`` and rank ``rank`` gets its rows
    ``[rank B, (rank + 1) B)`` of each one: together the ranks see a single process's batches.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        start_batch: int = 0,
        *,
        rank: int = 0,
        num_replicas: int = 1,
    ) -> None:
        if batch_size % num_replicas or not 0 <= rank < num_replicas:
            raise ValueError(
                f"batch_size {batch_size} must split into num_replicas={num_replicas} equal shares "
                f"and rank ({rank}) must be in [0, {num_replicas})"
            )
        self.n, self.batch_size, self.seed, self.start_batch = n, batch_size, seed, start_batch
        self.per_epoch = n // batch_size  # incomplete last batch dropped (batch norm needs B > 1)
        share = batch_size // num_replicas
        self.rows = slice(rank * share, (rank + 1) * share)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, offset = divmod(self.start_batch, self.per_epoch)
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g).tolist()
            for b in range(offset, self.per_epoch):
                yield perm[b * self.batch_size : (b + 1) * self.batch_size][self.rows]
            epoch, offset = epoch + 1, 0


def _batches(
    data: Dataset | DataLoader,
    batch_size: int,
    seed: int,
    start: int,
    device,
    replicas: Replicas = SINGLE,
) -> Iterator[Batch]:
    if isinstance(data, DataLoader):
        while True:  # cycle; order follows the loader's own sampler
            yield from (as_batch(b) for b in data)
    n = len(data)  # type: ignore[arg-type]
    if n < 1:
        raise ValueError("data is empty")
    sampler = EpochBatchSampler(
        n,
        batch_size * replicas.world_size if replicas.active else min(batch_size, n),
        seed,
        start,
        rank=replicas.rank,
        num_replicas=replicas.world_size,
    )
    loader = DataLoader(
        data,
        batch_sampler=sampler,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),  # keeps the global RNG untouched
    )
    for b in loader:
        yield as_batch(b)


def _to_device(
    batch: Batch, device: torch.device, memory_format: torch.memory_format | None = None
) -> Batch:
    def move(v: torch.Tensor) -> torch.Tensor:
        v = v.to(device, non_blocking=True)
        if memory_format is not None and v.is_floating_point() and v.ndim in (4, 5):
            fmt = torch.channels_last if v.ndim == 4 else torch.channels_last_3d
            v = v.contiguous(memory_format=fmt)
        return v

    return {k: move(v) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def resolve_channels_last(channels_last: bool | None, device: torch.device) -> bool:
    """``None`` (auto): channels-last on CUDA, where cuDNN's convolutions prefer it (most of
    all in bf16/fp16 on tensor cores), and not on the CPU, where it changed little
    (``benchmarks/bench_models.py --channels-last``, two cores, fp32, lab sizes: training
    steps/s ratio 1.02 pix2pix, 0.99 vae, 1.01 ddpm, 1.08 pix2pix3d)."""
    if channels_last is not None and not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be True, False or None, got {channels_last!r}")
    return device.type == "cuda" if channels_last is None else channels_last


def to_channels_last(model: torch.nn.Module) -> torch.memory_format:
    """Store the model's convolution weights channels-last (``channels_last_3d`` for a 3-D
    model); returns the format its inputs should take."""
    fmt = torch.channels_last_3d if getattr(model, "spatial_dims", 2) == 3 else torch.channels_last
    rank = 5 if fmt is torch.channels_last_3d else 4
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.ndim == rank:
                tensor.data = tensor.data.contiguous(memory_format=fmt)
    return fmt


class DeferredInterrupt:
    """While active, the first Ctrl-C (SIGINT) only sets :attr:`requested`; the second one acts
    at once, as it would have without this (usually ``KeyboardInterrupt``).

    :func:`fit` reads :attr:`requested` at the end of each step, so an interrupted run stops on a
    step boundary, where weights, optimizer states, RNG states and step count agree, and its
    checkpoint resumes to exactly the uninterrupted result. The handler is installed only in the
    main thread (Python delivers signals there alone) and only over a Python-level handler, which
    is restored on exit; elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # not SIG_IGN / SIG_DFL / a handler set outside Python
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            self._previous(signum, frame)
            return
        self.requested = True
        sys.stderr.write(
            "\nfit: Ctrl-C received; stopping after this step and saving a checkpoint "
            "(press Ctrl-C again to stop at once, without one)\n"
        )


def fit(
    model: GenerativeModel,
    data: Dataset | DataLoader,
    steps: int,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 16,
    seed: int = 0,
    log_every: int = 10,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    overwrite: bool = False,
    grad_clip: float | None = None,
    precision: Precision = "auto",
    progress: bool = True,
    distributed: bool | None = None,
    torch_compile: bool = False,
    channels_last: bool | None = None,
) -> History:
    """Train ``model`` until ``steps`` optimisation steps are done in total.

    Args:
        model: any registered :class:`GenerativeModel`.
        data: a ``Dataset`` (batched here, reproducible order) or a ready ``DataLoader``.
            Items: dicts with ``"image"`` ``(C, S, S)`` in [0, 1] (plus ``"label"``, ...), tensors,
            or ``(image, label)`` pairs. Images must be floating point in [0, 1], and each batch
            must carry the model's ``batch_keys`` (e.g. ``"target"`` for translation); otherwise
            a ``ValueError`` says what to change.
        steps: target total number of steps; a resumed run continues from its checkpoint's step.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
        batch_size: images per step when ``data`` is a ``Dataset``.
        seed: seeds Python/NumPy/torch and the batch order. It does not touch the weights
            ``model`` already has: they were drawn when it was created. For repeatable initial
            weights, seed before building it: ``seed_everything(seed); model = create(...)``
            (:func:`medgen_nb.utils.seed_everything`).
        log_every: steps between progress-bar updates and callback calls.
        callbacks: ``callback(steps_done, recent_mean_logs, model)`` every ``log_every`` steps
            (e.g. a live loss plot in a notebook).
        checkpoint_dir: where checkpoints go (none if None). A final checkpoint is always written
            there. Ctrl-C (SIGINT, also a notebook's interrupt button) lets the current step
            finish, writes a checkpoint of that step boundary and then raises
            ``KeyboardInterrupt``; resuming from it gives the same weights as an uninterrupted
            run. A second Ctrl-C stops at once, and a checkpoint of a half-done step is not
            written (a ``RuntimeWarning`` names the one resuming would use). A
            ``KeyboardInterrupt`` raised between steps (e.g. by a callback) is saved as well.
        checkpoint_every: steps between periodic checkpoints.
        resume: continue from the newest checkpoint in ``checkpoint_dir`` if there is one. With
            ``resume=False`` a ``checkpoint_dir`` that already holds checkpoints is refused
            (``ValueError``), so a new run never mixes with, or prunes, an earlier one.
        overwrite: with ``resume=False``, delete the checkpoint files (``ckpt-*.json`` /
            ``.safetensors``; nothing else) already in ``checkpoint_dir`` before training, i.e.
            start that folder afresh. Only on request: the earlier run is lost.
        grad_clip: max global gradient norm per optimizer (None: no clipping).
        precision: ``"auto"`` (CUDA: bf16 if supported else fp16 + GradScaler; CPU: bf16 autocast
            where the CPU has native bf16, else fp32), ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA).
        progress: show a tqdm bar (on rank 0 only when distributed).
        distributed: None (default): train on all processes of a ``torchrun`` launch (the
            ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` variables; the process group is started
            here, nccl on CUDA, gloo on the CPU) or of a process group initialised already, and
            in this process alone otherwise; False: this process alone in any case; True: as
            None, but a ``ValueError`` without a launcher. With ``W`` processes ``batch_size`` is
            the per-rank batch ``B``, and the run follows one process with ``batch_size=W B``:
            the same batches, the same noise per sample, gradients averaged over the ranks (see
            :mod:`medgen_nb.distributed`). Rank 0 writes the checkpoints (``checkpoint_dir``
            must be a folder every rank can read, to resume), which resume on any world size
            with the same global batch; the logs are averaged over the ranks, so ``History`` is
            the same on each; callbacks run on every rank (print from
            ``medgen_nb.distributed`` rank 0 only if you need one copy).
        torch_compile: compile the model's trainable networks with ``torch.compile`` (in
            place; checkpoints are unchanged). The first step pays the compile time. If
            compilation fails, that step is undone and rerun eagerly, with a
            ``RuntimeWarning`` (see :mod:`medgen_nb.compiling`).
        channels_last: keep convolution weights and image batches in the channels-last memory
            layout (NHWC; NDHWC for volumes). None: on CUDA, off on the CPU. The arithmetic
            is the same either way (up to floating-point reordering), but random draws that
            fill a tensor in memory order (dropout masks) land on other elements, so a run
            with dropout is not reproduced bit for bit across layouts.

    Returns:
        :class:`History` with one log row per step. The model is left in eval mode.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(log_every, "log_every")
    check_positive_int(seed, "seed", minimum=0)
    if checkpoint_every is not None and (
        isinstance(checkpoint_every, bool)
        or not isinstance(checkpoint_every, int)
        or checkpoint_every < 1
    ):
        raise ValueError(f"checkpoint_every must be an int >= 1 or None, got {checkpoint_every!r}")
    if checkpoint_every is not None and checkpoint_dir is None:
        raise ValueError("checkpoint_every was given but checkpoint_dir is None; pass a directory")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be > 0 or None, got {grad_clip!r}")
    if not isinstance(data, Dataset | DataLoader):
        raise ValueError(f"data must be a torch Dataset or DataLoader, got {type(data).__name__}")
    for name, flag in (
        ("resume", resume),
        ("overwrite", overwrite),
        ("torch_compile", torch_compile),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if overwrite and resume:
        raise ValueError(
            "overwrite=True needs resume=False: it deletes the checkpoints in checkpoint_dir, "
            "which resume=True would continue from"
        )
    stale = checkpoint_files(checkpoint_dir) if checkpoint_dir is not None and not resume else []
    if stale and not overwrite:
        raise ValueError(
            f"checkpoint_dir {checkpoint_dir} already holds {len(stale)} checkpoint files "
            f"(newest {stale[-1].name}) and resume=False would write a new run among them. Use a new "
            "checkpoint_dir to keep them, resume=True to continue that run, or resume=False, "
            "overwrite=True to delete them first"
        )

    replicas, dev = setup(device, distributed)
    world = replicas.world_size
    if replicas.active:
        check_dataset(data, batch_size, world)
    prec = resolve_precision(precision, dev)
    seed_everything(seed)  # the same on every rank: they share one RNG stream
    model.to(dev).train()
    memory_format = to_channels_last(model) if resolve_channels_last(channels_last, dev) else None
    if replicas.active:  # every rank starts from rank 0's weights, as DDP does
        replicas.broadcast_(list(model.parameters()) + list(model.buffers()))
    optimizers = model.configure_optimizers()
    scaler = torch.amp.GradScaler("cuda") if prec == "fp16" else None
    run_step = CompiledStep(model, optimizers, torch_compile)

    if replicas.is_main:
        for path in stale:  # overwrite=True (checked above): the user asked to start afresh
            path.unlink(missing_ok=True)
    replicas.barrier()
    history, start = History(), 0
    found = latest_checkpoint(checkpoint_dir) if (checkpoint_dir is not None and resume) else None
    order = {"seed": seed, "global_batch_size": batch_size * world, "world_size": world}
    if found is not None:
        state = load_training_state(found, model, optimizers)
        history, start = History.from_dict(state.history), state.step
        check_batch_order(state.meta.get("batch_order"), order, found)
        if state.rng is not None:
            restore_rng(state.rng)
            if replicas.active:
                stored = state.meta.get("batch_order") or {}
                restore_device_rng(state.rng, stored.get("cuda_device"), dev)
    if dev.type == "cuda":
        order["cuda_device"] = dev.index if dev.index is not None else torch.cuda.current_device()

    saved_at: list[int] = []  # steps whose checkpoint this call wrote

    def checkpoint(step_count: int) -> None:
        if checkpoint_dir is not None and step_count not in saved_at:
            if replicas.is_main:
                save_checkpoint(
                    checkpoint_dir,
                    model,
                    optimizers,
                    step=step_count,
                    history=history.to_dict(),
                    batch_order=order,
                )
            replicas.barrier()  # the others wait until the checkpoint is complete
            saved_at.append(step_count)

    batches = _batches(data, batch_size, seed, start, dev, replicas)
    bar = tqdm(
        total=steps,
        initial=start,
        disable=not (progress and replicas.is_main),
        desc=type(model).__name__,
        leave=False,
    )
    t0 = time.perf_counter()

    def clock() -> None:
        nonlocal t0
        now = time.perf_counter()
        history.wall_time += now - t0
        t0 = now

    sigint = DeferredInterrupt()
    stop = False  # distributed: a Ctrl-C on any rank, agreed on by all in the logs' all-reduce

    def stopping() -> bool:  # one process: read at the step boundary, as the flag stands then
        return stop if replicas.active else sigint.requested

    def one_step(batch: Batch, ctx: StepContext) -> dict[str, float]:
        ctx.grad_norms.clear()  # a step rerun eagerly after a failed compile starts afresh
        with _autocast(prec, dev), replicas.random_draws(batch_size):
            return dict(model.train_step(batch, optimizers, ctx))

    in_step: int | None = None  # the step whose update is under way (weights may be half-updated)
    reduce = replicas.reduce_gradients if replicas.active else None
    try:
        with sigint:
            for step in range(start, steps):
                in_step = step
                batch = _to_device(next(batches), dev, memory_format)
                check_batch_keys(batch, model)
                ctx = StepContext(
                    step=step, grad_clip=grad_clip, scaler=scaler, reduce_gradients=reduce
                )
                logs = run_step(one_step, batch, ctx)
                if scaler is not None:
                    scaler.update()
                logs.update({f"grad_norm_{k}": v for k, v in ctx.grad_norms.items()})
                if replicas.active:  # one collective: the mean logs and a stop any rank asked for
                    logs, stop = replicas.mean_logs(logs, sigint.requested, dev)
                    replicas.broadcast_(list(model.buffers()))
                history.append(step, logs)
                in_step = None  # weights, optimizers, RNG and history all say: `step` is done
                bar.update(1)
                done = step + 1
                if done % log_every == 0 or done == steps:
                    recent = history.recent_mean(log_every)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(recent.items())[:4]})
                    for callback in callbacks:
                        callback(done, recent, model)
                if checkpoint_every is not None and done % checkpoint_every == 0 and done < steps:
                    clock()
                    checkpoint(done)
                if stopping():
                    break  # Ctrl-C: stop at this step boundary, where the state is consistent
            clock()
            if stopping() or steps > start or found is None:
                checkpoint(history.steps_done)
    except KeyboardInterrupt:  # raised mid-way: a second Ctrl-C, or by the model or a callback
        clock()
        if in_step is None:
            checkpoint(history.steps_done)
        else:
            newest = latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
            warnings.warn(
                f"fit was interrupted in the middle of step {in_step}, so the model's weights may "
                "be half-updated; no checkpoint was written for that state. Resuming continues "
                f"from {newest.name if newest else 'step 0 (no checkpoint)'}; to stop cleanly, "
                "press Ctrl-C once and let the step finish",
                RuntimeWarning,
                stacklevel=2,
            )
        raise
    finally:
        bar.close()
        model.eval()
        trim_memory()  # the step's activations and gradients are freed; hand their pages back
    if stopping():
        where = f"; checkpoint in {checkpoint_dir}" if checkpoint_dir is not None else ""
        raise KeyboardInterrupt(f"fit stopped after step {history.steps_done}{where}")
    return history
