"""Optional ``torch.compile`` for the training loop, with a clean fall-back to eager mode.

``fit(..., torch_compile=True)`` compiles each trainable network of the model in place (its
``__call__``, as :meth:`torch.nn.Module.compile` does, so parameter names and checkpoints do not
change). Compilation
happens lazily, inside the first training step, and can fail there for reasons outside the
model: no C++ compiler for the CPU backend, an unsupported Python or platform, an operator the
compiler does not handle. :class:`CompiledStep` therefore runs the first step on a snapshot of
the weights, optimiser states and random-number generators; if compilation fails it restores the
snapshot, switches the networks back to eager mode, warns once, and runs the same step eagerly.
The run then matches an eager run with the same seed.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from medgen_nb.checkpoint import capture_rng, restore_rng

COMPILE_BACKEND: str | Callable[..., Any] = "inductor"
"""The ``torch.compile`` backend ``fit(compile=True)`` uses (a name or a backend callable)."""


def trainable_networks(model: nn.Module) -> list[nn.Module]:
    """The model's direct sub-networks that hold trainable parameters (G and D of a GAN, the
    denoiser of a diffusion model; not its frozen EMA copy)."""
    return [m for m in model.children() if any(p.requires_grad for p in m.parameters())]


def compiled_call(net: nn.Module) -> Callable[..., Any]:
    """``torch.compile`` of ``net``'s call, for ``net._compiled_call_impl``.

    :meth:`torch.nn.Module.compile` compiles ``net._call_impl`` directly, and dynamo does not
    trace a top frame that lives inside torch, so an ``nn.Sequential`` (most of the encoders and
    decoders here) would silently stay eager. Entering through a function of this file makes
    dynamo start here and inline the module's call, hooks and ``forward``.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        return net._call_impl(*args, **kwargs)

    # Dynamo keeps its compiled frames per code object. Were all networks to share this one,
    # each would be a recompilation of the same frame: past a few, dynamo turns to dynamic
    # shapes (which failed to lower a 3-D convolution's backward here) and past its cache
    # limit it runs eagerly. A copy of the code per network gives each its own cache.
    call.__code__ = call.__code__.replace()
    return torch.compile(call, backend=COMPILE_BACKEND, dynamic=False)


def is_compile_error(err: BaseException) -> bool:
    """True for failures of the compiler stack (dynamo, its backends), not of the model."""
    from torch._dynamo.exc import TorchDynamoException

    return isinstance(err, TorchDynamoException)


class CompiledStep:
    """Runs training steps with the model's networks compiled, or eagerly after a failure.

    Args:
        model: the model (already on its device); its trainable networks are compiled here.
        optimizers: the optimisers ``fit`` built, restored with the weights on a fall-back.
        enabled: False leaves everything eager (``fit(torch_compile=False)``).
    """

    def __init__(self, model: nn.Module, optimizers: dict[str, Any], enabled: bool) -> None:
        self.model, self.optimizers = model, optimizers
        self.networks: list[nn.Module] = []
        self.active = False  # networks compiled and the first step not yet seen through
        if not enabled:
            return
        if not torch._dynamo.is_dynamo_supported():
            self._warn("torch.compile is not supported on this Python/platform")
            return
        self.networks = trainable_networks(model)
        for net in self.networks:
            net._compiled_call_impl = compiled_call(net)
        self.active = bool(self.networks)

    @property
    def compiled(self) -> bool:
        """Whether the networks run compiled (after the first step: compiled successfully)."""
        return bool(self.networks)

    def _warn(self, why: str) -> None:
        warnings.warn(
            f"fit(torch_compile=True): {why}; training continues in eager mode (same results, "
            "without the compiler's speed-up)",
            RuntimeWarning,
            stacklevel=4,
        )

    def _uncompile(self) -> None:
        for net in self.networks:
            net._compiled_call_impl = None  # eager forward again
        self.networks = []

    def __call__(self, step: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
        """Run one training step, ``step(*args)``; rerun after a failed compile, so ``step``
        must start from a clean slate each call (``fit`` clears the StepContext's norms)."""
        if not self.active:
            return step(*args)
        saved = (
            copy.deepcopy(self.model.state_dict()),
            {k: copy.deepcopy(o.state_dict()) for k, o in self.optimizers.items()},
            capture_rng(),
        )
        try:
            logs = step(*args)
        except Exception as err:
            if not is_compile_error(err):
                raise
            weights, optimizer_states, rng = saved
            self.model.load_state_dict(weights)
            for key, state in optimizer_states.items():
                self.optimizers[key].load_state_dict(state)
            restore_rng(rng)
            self._uncompile()
            cause = getattr(err, "inner_exception", None) or err.__cause__ or err
            first_line = (str(cause).strip().splitlines() or [""])[0]
            self._warn(f"compilation failed ({type(cause).__name__}: {first_line})")
            logs = step(*args)
        self.active = False
        return logs
