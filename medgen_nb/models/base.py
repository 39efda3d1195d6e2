"""The contract between every model and the one training loop (:func:`medgen_nb.train.fit`).

A model is an ``nn.Module`` that

* builds its optimizers in ``configure_optimizers()`` (a dict, e.g. ``{"g": ..., "d": ...}``);
* takes one optimisation step in ``train_step(batch, optimizers, ctx)`` and returns a dict of
  floats (losses, accuracies) for logging. GAN alternation (D then G) stays inside the step; the
  step calls ``ctx.optimize(loss, optimizer)`` instead of ``loss.backward(); opt.step()`` so that the
  loop can add gradient scaling (fp16 on CUDA) and clipping in one place;
* keeps no training state on ``self`` beyond parameters and registered buffers.

Image tensors going in and out of every public method are in [0, 1] (see
:mod:`medgen_nb.data.intensity`); models map to [-1, 1] internally where their output layer
(tanh) wants it. Inputs are checked on the way in (:mod:`.validation`): an integer dtype, NaN or
values outside [0, 1] (beyond a small tolerance) raise a ``ValueError`` that names the fix.

Configuration
-------------
Every model's constructor arguments are its ``config``: :class:`Configurable` binds each call to
the constructor's signature (defaults applied) and stores the result in ``self.config`` before
the constructor body runs, so ``medgen_nb.models.create(name, **model.config)`` rebuilds the
model and a checkpoint can store and compare it. Values are plain JSON values (numbers, strings,
booleans, None, lists and tuples of them). A constructor that derives a value from an argument
(``depth=None`` -> ``log2(size)``, ``betas`` list -> tuple) stores it with
:meth:`Configurable.resolve_config`, so the config names the model that was built, not the
shorthand it was asked for.

Log keys
--------
``train_step`` returns floats under names of the form ``<quantity>[_<role>][_<part>][_<domain>]``:

* ``loss``: the objective of a model with one optimizer (VAE: negative ELBO, diffusion: L_simple).
* ``loss_d``, ``loss_g``: the totals the discriminator (or critic) and the generator optimizers
  minimise, named after the optimizer keys ``"d"`` and ``"g"``; logged on every step that updates
  that network (WGAN-GP updates G, and logs ``loss_g``, every ``n_critic``-th step).
* ``loss_<part>``: one term of a total, before its weight: ``loss_l1``, ``loss_cycle``,
  ``loss_kl``, ``loss_recon``, ``loss_gp``. Adversarial terms name their player: ``loss_g_gan``
  (the generator's), ``loss_d_gan`` (the discriminator's, where its total has other terms),
  ``loss_d_cls`` (ACGAN's classifier), ``loss_info`` (InfoGAN's mutual-information bound).
* ``_a`` / ``_b`` suffix: the part of one domain (CycleGAN, UNIT); the key without the suffix is
  the sum over both domains, e.g. ``loss_d = loss_d_a + loss_d_b``.
* Diagnostics that no optimizer minimises: ``acc_<what>`` for fractions in [0, 1]
  (``acc_d_real``, ``acc_d_fake``, ``acc_d_cls``, ``acc_code``), ``mse`` (VAE reconstruction,
  [0, 1]² units), ``wasserstein_estimate`` (the critic's E f(x) - E f(G(z))).

The loop (:func:`medgen_nb.train.fit`) adds ``grad_norm_<optimizer>`` when it clips gradients.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

Batch = dict[str, torch.Tensor]
Optimizers = dict[str, torch.optim.Optimizer]


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


@dataclass
class StepContext:
    """What the loop lends a model's ``train_step``: gradient scaling, clipping, the step number.

    Attributes:
        step: global optimisation step (0-based) of this call.
        grad_clip: max global gradient norm per optimizer, or None.
        scaler: a ``torch.amp.GradScaler`` for fp16 on CUDA, or None.
        grad_norms: filled by :meth:`optimize`, optimizer name -> gradient norm before clipping.
        reduce_gradients: called with the parameters of each update right after ``backward``
            (before unscaling, clipping and the step); under distributed training the loop sets
            it to an all-reduce that averages the gradients over the ranks, which is what
            ``DistributedDataParallel`` does (None: one process, nothing to do).
    """

    step: int = 0
    grad_clip: float | None = None
    scaler: torch.amp.GradScaler | None = None
    grad_norms: dict[str, float] = field(default_factory=dict)
    reduce_gradients: Callable[[list[nn.Parameter]], None] | None = None

    def optimize(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[nn.Parameter] | None = None,
        name: str | None = None,
        retain_graph: bool = False,
    ) -> None:
        """zero_grad -> backward -> (average over ranks, unscale, clip) -> step, for one optimizer."""
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(
                f"loss became {loss.item()} at step {self.step}; lower the learning rate or enable grad_clip"
            )
        params = (
            list(parameters)
            if parameters is not None
            else [p for group in optimizer.param_groups for p in group["params"]]
        )
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward(retain_graph=retain_graph)
        else:
            loss.backward(retain_graph=retain_graph)
        if self.reduce_gradients is not None:
            # before unscale_: every rank then sees the same gradients, so the scaler's inf check
            # (and with it the decision to skip the step) agrees on all of them
            self.reduce_gradients(params)
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
            self.grad_norms[name or str(id(optimizer))] = float(norm)
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()


def _plain(value: Any) -> Any:
    """``value`` as a plain JSON value (numpy scalars become Python numbers, containers are
    copied); raises ``TypeError`` for anything JSON cannot hold."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not a plain JSON value")


def _plain_argument(owner: str, key: str, value: Any) -> Any:
    try:
        return _plain(value)
    except TypeError as err:
        raise TypeError(
            f"{owner}({key}={value!r}): {err}. Constructor arguments become model.config, which a "
            "checkpoint stores and rebuilds the model from: pass numbers, strings, booleans, None, "
            "or lists and string-keyed dicts of them"
        ) from None


@functools.cache
def _config_parameters(cls: type) -> dict[str, Any]:
    """Constructor arguments a call ``cls(...)`` can reach -> their defaults, in config order.

    A subclass whose ``__init__`` takes ``**config`` hands what it does not name to its base's
    ``__init__``, so the walk goes up the MRO until a constructor without ``**``. The base's
    arguments come first and a subclass's new ones follow; a subclass's default wins (WGAN-GP's
    ``lr``). Arguments without a default map to ``inspect.Parameter.empty``.
    """
    levels: list[list[inspect.Parameter]] = []  # most derived first
    for klass in cls.__mro__:
        if not issubclass(klass, Configurable):
            break
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(klass.__init__).parameters.values())[1:]  # drop self
        levels.append([p for p in params if p.kind is not p.VAR_KEYWORD])
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    defaults: dict[str, Any] = {}
    for params in levels:
        for p in params:
            defaults.setdefault(p.name, p.default)
    order = dict.fromkeys(p.name for params in reversed(levels) for p in params)
    return {name: defaults[name] for name in order}


def _capture_config(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a constructor so that the outermost call stores its bound arguments in ``self.config``."""
    signature = inspect.signature(init)
    var_keyword = next(
        (p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None
    )

    @functools.wraps(init)
    def wrapper(self: Configurable, *args: Any, **kwargs: Any) -> None:
        # Only the call that builds the object captures; a base __init__ reached by super()
        # finds the complete config already in place (and may read it while it builds).
        if type(self).__init__ is wrapper:
            try:
                passed = signature.bind(self, *args, **kwargs).arguments
            except TypeError:
                return init(self, *args, **kwargs)  # the constructor's own error, unchanged
            passed.update(passed.pop(var_keyword, None) or {})
            owner = type(self).__name__
            self.config = {
                key: _plain_argument(owner, key, passed.get(key, default))
                for key, default in _config_parameters(type(self)).items()
                if passed.get(key, default) is not inspect.Parameter.empty
            }
        init(self, *args, **kwargs)

    return wrapper


class Configurable:
    """Stores every constructor call's arguments in ``self.config`` (see "Configuration" above).

    Subclasses write an ordinary ``__init__``; :meth:`__init_subclass__` wraps it. Constructors
    take named arguments only (no ``*args``), since each becomes a config key.
    """

    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if init is None:
            return
        params = inspect.signature(init).parameters.values()
        star = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
        if star:
            raise TypeError(
                f"{cls.__name__}.__init__ takes *{star}; a Configurable constructor takes named "
                "arguments only, because each becomes a key of model.config"
            )
        cls.__init__ = _capture_config(init)  # type: ignore[method-assign]

    def resolve_config(self, **values: Any) -> None:
        """Replace constructor arguments in ``self.config`` by the values the constructor derived.

        For example ``self.resolve_config(depth=depth)`` after ``depth = log2(size) if depth is
        None else depth``. Raises ``ValueError`` for a name that is not a constructor argument
        (``create(name, **config)`` would refuse it).
        """
        for key, value in values.items():
            if key not in self.config:
                raise ValueError(
                    f"{type(self).__name__}.resolve_config: {key!r} is not a constructor "
                    f"argument; config keys are {list(self.config)}"
                )
            self.config[key] = _plain_argument(type(self).__name__, key, value)


class GenerativeModel(Configurable, nn.Module):
    """Base class: subclasses implement :meth:`configure_optimizers` and :meth:`train_step`.

    ``batch_keys`` names the batch keys ``train_step`` reads; :func:`medgen_nb.train.fit` checks
    every batch for them and says what is missing (none are checked by default). Constructor
    arguments are captured in ``self.config`` (:class:`Configurable`).
    """

    batch_keys: tuple[str, ...] = ()

    def configure_optimizers(self) -> Optimizers:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement configure_optimizers()")

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement train_step()")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


ModelFactory = Callable[..., GenerativeModel]


@runtime_checkable
class Translator(Protocol):
    """Anything that maps source images to target images: ``(B, C_in, S, S) -> (B, C_out, S, S)``,
    both in [0, 1] (Pix2Pix, CycleGAN, UNIT, a conditional diffusion model, the baselines)."""

    def translate(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Sampler(Protocol):
    """Anything that draws new images: ``sample(n, labels=None, generator=None) -> (n, C, S, S)``
    in [0, 1] (VAEs, GANs, diffusion models)."""

    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...
