"""Exact operation counting per layer and per timestep, with forward hooks that never change outputs.

What is counted (``T`` timesteps, ``B`` samples):

* synaptic layers (``nn.Linear``, ``nn.Conv1d/2d``), per timestep:
  - analog (non-spike) input: dense multiply-accumulates, ``MACs = output elements × fan-in``;
  - spike input (all values in {-1, 0, 1}): ``accumulates = Σ over non-zero inputs of their fan-out``
    (exact for convolutions, padding and stride included);
* spiking neurons: ``neuron_updates`` = number of neuron states updated, ``spikes`` = non-zero outputs.

Multi-step layers (:class:`snnrl.layers.MultiStep`) and multi-step neurons see ``[T, B, ...]`` and produce one
record per timestep: the model's operations at every step, also where :class:`~snnrl.layers.MultiStep` computed a
layer once on an input repeated over time (direct coding); :meth:`OperationCounter.computed_summary` counts such a
layer once, as it ran (what NeuroBench's package counts). In single-step mode each call is one timestep; the counter numbers timesteps per layer
from the last :meth:`OperationCounter.reset`.

Example
-------
>>> import torch
>>> from snnrl.layers import SpikingSequential
>>> from snnrl.neurons import IFNeuron
>>> net = SpikingSequential(torch.nn.Linear(4, 3), IFNeuron(), torch.nn.Linear(3, 2))
>>> with OperationCounter(net) as counter:
...     _ = net(torch.full((2, 1, 4), 0.5))
>>> counter.summary().macs          # first layer: 2 timesteps x 3 outputs x 4 inputs
24
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from snnrl.layers import MultiStep, outermost_modules
from snnrl.neurons import SpikingNeuron

__all__ = ["LayerOps", "OpsSummary", "OperationCounter", "is_spike_tensor"]

_SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d)


@dataclass(frozen=True)
class LayerOps:
    """Operations of one layer at one timestep, summed over the batch."""

    layer: str
    kind: str
    timestep: int
    samples: int
    macs: int = 0
    accumulates: int = 0
    neuron_updates: int = 0
    spikes: int = 0


@dataclass(frozen=True)
class OpsSummary:
    """Totals of a set of :class:`LayerOps` records (summed over layers, timesteps and samples)."""

    macs: int = 0
    accumulates: int = 0
    neuron_updates: int = 0
    spikes: int = 0

    def __add__(self, other: "OpsSummary") -> "OpsSummary":
        return OpsSummary(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def scaled(self, factor: float) -> dict[str, float]:
        """Each total multiplied by ``factor`` (e.g. ``1 / samples`` for per-sample numbers)."""
        return {k: v * factor for k, v in asdict(self).items()}


def is_spike_tensor(x: torch.Tensor) -> bool:
    """True when every value of ``x`` is -1, 0 or 1 (binary or ternary spikes)."""
    if x.dtype == torch.bool:
        return True
    if x.is_complex():
        return bool(((x == 0) | (x == 1) | (x == -1)).all())
    return torch.equal(x, torch.sign(x))  # sign(x) == x exactly for -1, 0, 1 only (NaN never compares equal)


_FIELDS = ("macs", "accumulates", "neuron_updates", "spikes")


def _synapse_ops(layer: nn.Module, x: torch.Tensor, y: torch.Tensor, *, dense: bool = False
                 ) -> tuple[int, torch.Tensor | None]:
    """Operations of ``layer`` for input ``[T, B, ...]``: ``(MACs per timestep and sample, None)`` for dense
    counting or analog input, ``(0, accumulates [T, B] int64)`` for spike input."""
    if dense or not is_spike_tensor(x):
        if isinstance(layer, nn.Linear):
            per_output = layer.in_features
        else:
            per_output = (layer.in_channels // layer.groups) * int(torch.tensor(layer.kernel_size).prod())
        return math.prod(y.shape[2:]) * per_output, None
    steps, batch = x.shape[:2]
    if isinstance(layer, nn.Linear) and math.prod(x.shape[2:]) * layer.out_features < 2 ** 24:
        # below 2^24 the float32 count below is exact, so count in integers
        return 0, torch.count_nonzero(x if x.dim() == 3 else x.flatten(2), dim=2) * layer.out_features
    nonzero = (x != 0).to(torch.float32)
    if isinstance(layer, nn.Linear):
        return 0, (nonzero.flatten(2).sum(2) * layer.out_features).round().to(torch.int64)
    ones = torch.ones_like(layer.weight, dtype=torch.float32)
    conv = F.conv2d if isinstance(layer, nn.Conv2d) else F.conv1d
    fan = conv(nonzero.flatten(0, 1), ones, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return 0, fan.unflatten(0, (steps, batch)).flatten(2).sum(2).round().to(torch.int64)


class _Entry(NamedTuple):
    layer: str
    kind: str
    start: int
    counts: torch.Tensor  # [T, B, 4] int64: macs, accumulates, neuron_updates, spikes
    held: bool = False    # computed once on an input repeated over time (MultiStep), counted at every step


class OperationCounter:
    """Count operations of ``net`` while inside the ``with`` block (hooks are removed on exit).

    Counts are kept per layer, per timestep and per sample (batch row), so a vectorised policy can
    attribute operations to each environment (:meth:`by_sample`). A counter can be entered again (e.g. once per
    decision, with :meth:`reset` in between); the layers to hook are looked up on its first entry.

    Parameters
    ----------
    net
        Any module holding synaptic layers and :class:`~snnrl.neurons.SpikingNeuron` s.
    enabled
        ``False`` makes the counter a no-op (no hooks), so call sites need no branching.
    dense
        Count every synaptic layer as dense MACs whatever its input (conventional ANN hardware), instead of
        accumulates for spike inputs.
    """

    def __init__(self, net: nn.Module, *, enabled: bool = True, dense: bool = False) -> None:
        self.net = net
        self.enabled = enabled
        self.dense = dense
        self._entries: list[_Entry] = []
        self._clock: dict[str, int] = defaultdict(int)
        self._handles: list[Any] = []
        self._hooks: list[tuple[nn.Module, Any]] | None = None

    # -- hooks ---------------------------------------------------------------------------------------
    def _targets(self) -> list[tuple[str, nn.Module]]:
        return outermost_modules(self.net, lambda m: isinstance(m, (SpikingNeuron, *_SYNAPTIC)) or (
            isinstance(m, MultiStep) and isinstance(m.layer, _SYNAPTIC)))

    def __enter__(self) -> "OperationCounter":
        if self.enabled and not self._handles:
            if self._hooks is None:  # the counted layers are looked up once per counter (re-entries reuse them)
                self._hooks = [(module, self._make_hook(name)) for name, module in self._targets()]
            for module, hook in self._hooks:
                self._handles.append(module.register_forward_hook(hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _make_hook(self, name: str):
        def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if torch.is_grad_enabled():
                with torch.no_grad():
                    self._record(name, mod, inputs[0].detach(), output.detach())
            else:
                self._record(name, mod, inputs[0], output)
        return hook

    def _record(self, name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        if getattr(module, "step_mode", "s") != "m":
            x, y = x.unsqueeze(0), y.unsqueeze(0)
        steps, batch = y.shape[:2]
        if isinstance(module, SpikingNeuron):
            kind = "neuron"
            spikes = torch.count_nonzero(y if y.dim() == 3 else y.flatten(2), dim=2)       # [T, B] int64
            zero = torch.zeros_like(spikes)
            counts = torch.stack((zero, zero, torch.full_like(spikes, math.prod(y.shape[2:])), spikes), dim=2)
        else:
            layer = module.layer if isinstance(module, MultiStep) else module
            kind = "linear" if isinstance(layer, nn.Linear) else "conv"
            macs, accumulates = _synapse_ops(layer, x, y, dense=self.dense)
            if accumulates is None:
                counts = torch.zeros(steps, batch, 4, dtype=torch.int64)
                counts.select(2, 0).fill_(macs)
            else:
                zero = torch.zeros_like(accumulates)
                counts = torch.stack((zero, accumulates, zero, zero), dim=2)
        start = self._clock[name]
        self._clock[name] = start + steps
        held = isinstance(module, MultiStep) and steps > 1 and y.stride(0) == 0
        self._entries.append(_Entry(name, kind, start, counts, held))

    # -- results -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Drop the counts and restart timestep numbering."""
        self._entries.clear()
        self._clock.clear()

    @property
    def records(self) -> list[LayerOps]:
        """One :class:`LayerOps` per layer call and timestep, summed over the batch."""
        out = []
        for e in self._entries:
            per_step = e.counts.sum(1).tolist()
            for t, (macs, acc, upd, spk) in enumerate(per_step):
                out.append(LayerOps(e.layer, e.kind, e.start + t, e.counts.shape[1], macs, acc, upd, spk))
        return out

    def summary(self, layer: str | None = None) -> OpsSummary:
        """Totals over all counts (or one layer's)."""
        totals = [0, 0, 0, 0]
        for e in self._entries:
            if layer is None or e.layer == layer:
                totals = [a + b for a, b in zip(totals, e.counts.sum((0, 1)).tolist())]
        return OpsSummary(*totals)

    def computed_summary(self) -> OpsSummary:
        """Totals of the operations as they ran: a layer computed once on an input repeated over time counts its
        first timestep only (:meth:`summary` counts it at every timestep, the model's operations)."""
        totals = [0, 0, 0, 0]
        for e in self._entries:
            counts = e.counts[:1] if e.held else e.counts
            totals = [a + b for a, b in zip(totals, counts.sum((0, 1)).tolist())]
        return OpsSummary(*totals)

    def by_layer(self) -> dict[str, OpsSummary]:
        """Totals per layer, in execution order."""
        out: dict[str, OpsSummary] = {}
        for e in self._entries:
            out[e.layer] = out.get(e.layer, OpsSummary()) + OpsSummary(*e.counts.sum((0, 1)).tolist())
        return out

    def by_timestep(self) -> dict[int, OpsSummary]:
        """Totals per timestep index."""
        out: dict[int, OpsSummary] = {}
        for r in self.records:
            out[r.timestep] = out.get(r.timestep, OpsSummary()) + OpsSummary(r.macs, r.accumulates,
                                                                              r.neuron_updates, r.spikes)
        return dict(sorted(out.items()))

    def by_sample(self) -> dict[str, torch.Tensor]:
        """Per-layer totals per sample: ``{layer: int64 tensor [B, 4]}`` with columns
        ``macs, accumulates, neuron_updates, spikes`` (summed over timesteps and calls)."""
        out: dict[str, torch.Tensor] = {}
        for e in self._entries:
            per_sample = e.counts.sum(0)
            out[e.layer] = out[e.layer] + per_sample if e.layer in out else per_sample
        return out
