"""Multi-step execution of stateless layers and a checked sequential container for spiking networks.

:class:`MultiStep` runs a stateless layer (Linear, Conv2d, BatchNorm, pooling, Flatten, ...) once on the
``T*B`` rows of a ``[T, B, ...]`` input, instead of ``T`` calls. :class:`SpikingSequential` chains layers
and neurons, wraps stateless layers in :class:`MultiStep` automatically, and checks its input: a time
dimension in multi-step mode, ``T >= 1``, finite values.

Example
-------
>>> import torch
>>> from snnrl.neurons import IFNeuron
>>> net = SpikingSequential(torch.nn.Linear(4, 3), IFNeuron(), torch.nn.Linear(3, 2))
>>> net(torch.ones(5, 2, 4)).shape        # [T, B, features]
torch.Size([5, 2, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from snnrl.neurons import SpikingNeuron, _check_step_mode

__all__ = ["MultiStep", "SpikingSequential", "set_step_mode", "InputError", "check_input", "outermost_modules"]


class InputError(ValueError):
    """Input to a spiking network has the wrong shape or contains NaN / inf."""


_TIME_INVARIANT = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Flatten, nn.Identity, nn.ReLU,
                   nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                   nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
"""Layers whose output on a row depends on that row alone, deterministically (no dropout, no batch statistics)."""


def _time_invariant(layer: nn.Module) -> bool:
    if isinstance(layer, _TIME_INVARIANT):
        return True
    return isinstance(layer, nn.modules.batchnorm._BatchNorm) and not layer.training   # running statistics


class MultiStep(nn.Module):
    """Apply a stateless ``layer`` to ``[T, B, ...]`` as one call on ``[T*B, ...]``.

    An input that is the same at every timestep *by construction* (a time axis of stride 0, as
    :func:`snnrl.encoding.repeat_over_time` builds for direct coding) goes through a time-invariant layer
    (Linear, conv, pooling, Flatten, ReLU, BatchNorm in eval mode) once, on ``[B, ...]``, and comes out repeated
    over time the same way: the same values, ``1/T`` of the work (e.g. a spiking MLP's first layer on static
    images, or a whole ReLU network). Gradients flow through the repeat (summed over time).
    In single-step mode (``step_mode="s"``) the layer is applied to ``[B, ...]`` directly.
    """

    def __init__(self, layer: nn.Module, *, step_mode: str = "m") -> None:
        super().__init__()
        self.layer = layer
        self.step_mode = _check_step_mode(step_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return self.layer(x)
        if x.dim() < 2:
            raise InputError(f"MultiStep({type(self.layer).__name__}) expects [T, B, ...], got shape {tuple(x.shape)}.")
        t, b = x.shape[:2]
        if t > 1 and x.stride(0) == 0 and _time_invariant(self.layer):
            y = self.layer(x[0])
            return y.unsqueeze(0).expand(t, *y.shape)
        y = self.layer(x.flatten(0, 1))
        return y.unflatten(0, (t, b))

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


_SAMPLE_NDIM = {nn.Linear: 1, nn.Conv1d: 2, nn.Conv2d: 3, nn.Conv3d: 4, nn.BatchNorm1d: 1, nn.BatchNorm2d: 3}


def _sample_ndim_of(module: nn.Module) -> int | None:
    inner = module.layer if isinstance(module, MultiStep) else module
    for cls, ndim in _SAMPLE_NDIM.items():
        if isinstance(inner, cls):
            return ndim
    return None


def outermost_modules(net: nn.Module, predicate) -> list[tuple[str, nn.Module]]:  # noqa: ANN001
    """``(name, module)`` of every module matching ``predicate`` that is not inside another match, in order.

    E.g. a neuron wrapped by another neuron (self-prediction, membrane quantization) is reached through its wrapper.
    """
    found: list[tuple[str, nn.Module]] = []
    claimed: set[int] = set()
    for name, module in net.named_modules():
        if id(module) not in claimed and predicate(module):
            found.append((name, module))
            claimed.update(id(m) for m in module.modules())
    return found


def set_step_mode(module: nn.Module, step_mode: str) -> nn.Module:
    """Set ``step_mode`` on ``module`` and every sub-module that has one; returns ``module``."""
    _check_step_mode(step_mode)
    for sub in module.modules():
        if hasattr(sub, "step_mode"):
            sub.step_mode = step_mode
    return module


def check_input(x: torch.Tensor, *, sample_ndim: int | None, step_mode: str, check_finite: bool = True,
                where: str = "network") -> None:
    """Raise :class:`InputError` unless ``x`` has a time (multi-step) and batch dimension and is finite.

    ``sample_ndim`` is the rank of one sample (1 for feature vectors, 3 for ``C×H×W`` images); ``None``
    skips the rank check.
    """
    lead = 2 if step_mode == "m" else 1
    layout = "[T, B, ...]" if step_mode == "m" else "[B, ...]"
    if sample_ndim is not None and x.dim() != lead + sample_ndim:
        hint = ""
        if step_mode == "m" and x.dim() == 1 + sample_ndim:
            hint = (" The input has no time dimension: repeat it over time with "
                    "snnrl.encoding.repeat_over_time(x, timesteps) or switch to single-step mode.")
        raise InputError(f"{where}: expected input {layout} with {sample_ndim}-d samples ({lead + sample_ndim} "
                         f"dims), received shape {tuple(x.shape)}.{hint}")
    if step_mode == "m" and x.dim() >= 1 and x.shape[0] < 1:
        raise InputError(f"{where}: the time dimension is empty (T=0); need T >= 1 timesteps.")
    if check_finite and x.is_floating_point() and not torch.isfinite(x).all():
        bad = "NaN" if torch.isnan(x).any() else "inf"
        raise InputError(f"{where}: input contains {bad} values. Check the data source (e.g. an environment "
                         "observation or a normalisation that divided by zero) before feeding the network.")


class SpikingSequential(nn.Sequential):
    """A sequential spiking network with checked input.

    Stateless layers are wrapped in :class:`MultiStep`; neurons and wrapped layers share ``step_mode``.

    Parameters
    ----------
    *modules
        Layers and neurons in order.
    sample_ndim
        Rank of one input sample; inferred from the first layer (Linear: 1, Conv2d: 3) when ``None``.
    step_mode
        ``"m"`` (input ``[T, B, ...]``) or ``"s"`` (``[B, ...]``, one timestep per call).
    check_finite
        Raise on NaN / inf input.
    """

    def __init__(self, *modules: nn.Module, sample_ndim: int | None = None, step_mode: str = "m",
                 check_finite: bool = True) -> None:
        wrapped = [m if isinstance(m, (SpikingNeuron, MultiStep)) or _is_container(m) else MultiStep(m)
                   for m in modules]
        super().__init__(*wrapped)
        self.sample_ndim = sample_ndim if sample_ndim is not None else (
            _sample_ndim_of(wrapped[0]) if wrapped else None)
        self.check_finite = check_finite
        self.step_mode = _check_step_mode(step_mode)
        set_step_mode(self, step_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        check_input(x, sample_ndim=self.sample_ndim, step_mode=self.step_mode, check_finite=self.check_finite,
                    where=type(self).__name__)
        for module in self:
            x = module(x)
        return x


def _is_container(module: nn.Module) -> bool:
    """Modules that manage time themselves (they contain neurons or have a step_mode)."""
    return hasattr(module, "step_mode") or any(isinstance(m, SpikingNeuron) for m in module.modules())
