"""What a network does in one inference, in the terms hardware models need.

A :class:`Workload` holds, per layer and per timestep, the operations of **one sample** (one batch row):
multiply-accumulates, accumulates, neuron updates and spikes, as :class:`snnrl.opcount.OperationCounter`
counts them, plus optionally each synaptic layer's shape (:class:`LayerGeometry`), which the in-memory-computing
model needs to map weights onto crossbars.

Three ways to build one:

* :func:`workload_from_counter` — from an :class:`~snnrl.opcount.OperationCounter` run (exact counts);
  add shapes with ``geometry=layer_geometries(net, example_input)``;
* :func:`workload_from_geometry` — from layer shapes and assumed input spike rates (explicit numbers);
* constructing :class:`LayerWorkload` records by hand.

The input spike rate of a synaptic layer at timestep ``t`` is ``r = accumulates_t / dense_macs`` with
``dense_macs = out_channels · output_positions · fan_in``; exact for linear layers, a slight underestimate at
convolution borders (padding has no fan-out). A layer with analog input (MACs) has ``r = 1``.

Example
-------
>>> geometry = [LayerGeometry.linear("fc1", 4, 3), LayerGeometry.linear("fc2", 3, 2)]
>>> wl = workload_from_geometry(geometry, timesteps=2, input_spike_rate=0.5)
>>> wl.total().macs, wl.total().accumulates, wl.total().neuron_updates
(24.0, 6.0, 10.0)
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from snnrl.layers import MultiStep
from snnrl.opcount import OperationCounter, OpsSummary

__all__ = [
    "LayerGeometry",
    "LayerWorkload",
    "Workload",
    "WorkloadError",
    "layer_geometries",
    "workload_from_counter",
    "workload_from_geometry",
]

_KINDS = ("linear", "conv")
_SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d)


class WorkloadError(ValueError):
    """A workload or layer shape is inconsistent or lacks what a hardware model needs."""


@dataclass(frozen=True)
class LayerGeometry:
    """Shape of one synaptic layer, per sample.

    Parameters
    ----------
    name
        Layer name (as :class:`~snnrl.opcount.OperationCounter` names it).
    kind
        ``"linear"`` or ``"conv"``.
    in_channels, out_channels
        Input / output channels (features for linear layers).
    kernel_size
        Kernel extent per spatial dimension, e.g. ``(3, 3)``; ``()`` for linear layers.
    input_positions, output_positions
        Spatial positions of the input / output feature map (``H·W``); 1 for linear layers.
    groups
        Convolution groups.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...] = ()
    input_positions: int = 1
    output_positions: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel_size", tuple(int(k) for k in self.kernel_size))
        if self.kind not in _KINDS:
            raise WorkloadError(f"LayerGeometry '{self.name}': kind must be one of {_KINDS}, received {self.kind!r}.")
        for attr in ("in_channels", "out_channels", "input_positions", "output_positions", "groups"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WorkloadError(f"LayerGeometry '{self.name}': {attr} must be an integer >= 1, "
                                    f"received {value!r}.")
        if any(k < 1 for k in self.kernel_size):
            raise WorkloadError(f"LayerGeometry '{self.name}': kernel sizes must be >= 1, received {self.kernel_size}.")
        if self.kind == "linear" and (self.kernel_size or self.output_positions != 1 or self.groups != 1):
            raise WorkloadError(f"LayerGeometry '{self.name}': a linear layer has kernel_size=(), "
                                f"output_positions=1 and groups=1; received {self.kernel_size}, "
                                f"{self.output_positions}, {self.groups}.")
        if self.kind == "conv" and not self.kernel_size:
            raise WorkloadError(f"LayerGeometry '{self.name}': a conv layer needs kernel_size, e.g. (3, 3).")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise WorkloadError(f"LayerGeometry '{self.name}': channels ({self.in_channels}, {self.out_channels}) "
                                f"must be divisible by groups={self.groups}.")

    @classmethod
    def linear(cls, name: str, in_features: int, out_features: int) -> "LayerGeometry":
        """A fully connected layer."""
        return cls(name, "linear", in_features, out_features)

    @classmethod
    def conv2d(cls, name: str, in_channels: int, out_channels: int, *, kernel_size: int,
               input_hw: tuple[int, int] | int, output_hw: tuple[int, int] | int) -> "LayerGeometry":
        """A square-kernel 2-D convolution from its input and output map sizes."""
        in_hw = (input_hw, input_hw) if isinstance(input_hw, int) else input_hw
        out_hw = (output_hw, output_hw) if isinstance(output_hw, int) else output_hw
        return cls(name, "conv", in_channels, out_channels, (kernel_size, kernel_size),
                   in_hw[0] * in_hw[1], out_hw[0] * out_hw[1])

    @property
    def kernel_elements(self) -> int:
        """Number of kernel positions (1 for linear layers)."""
        return math.prod(self.kernel_size) if self.kernel_size else 1

    @property
    def fan_in(self) -> int:
        """Inputs per output neuron: ``in_channels / groups · kernel_elements``."""
        return self.in_channels // self.groups * self.kernel_elements

    @property
    def output_neurons(self) -> int:
        """Output values per timestep: ``out_channels · output_positions``."""
        return self.out_channels * self.output_positions

    @property
    def input_values(self) -> int:
        """Input values per timestep: ``in_channels · input_positions``."""
        return self.in_channels * self.input_positions

    @property
    def dense_macs(self) -> int:
        """Multiply-accumulates of one dense evaluation: ``output_neurons · fan_in``."""
        return self.output_neurons * self.fan_in


def _as_tuple(values: Sequence[float], name: str, what: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if any(not math.isfinite(v) or v < 0 for v in out):
        raise WorkloadError(f"Layer '{name}': {what} must be finite and >= 0, received {out}.")
    return out


@dataclass(frozen=True)
class LayerWorkload:
    """Per-timestep operations of one layer for one sample (tuples of length ``T``).

    ``kind`` is ``"linear"`` / ``"conv"`` (synaptic) or ``"neuron"``.
    """

    name: str
    kind: str
    macs: tuple[float, ...]
    accumulates: tuple[float, ...]
    neuron_updates: tuple[float, ...]
    spikes: tuple[float, ...]
    geometry: LayerGeometry | None = None

    def __post_init__(self) -> None:
        lengths = set()
        for attr in ("macs", "accumulates", "neuron_updates", "spikes"):
            values = _as_tuple(getattr(self, attr), self.name, attr)
            object.__setattr__(self, attr, values)
            lengths.add(len(values))
        if len(lengths) != 1:
            raise WorkloadError(f"Layer '{self.name}': macs, accumulates, neuron_updates and spikes must have one "
                                f"entry per timestep each; received lengths {sorted(lengths)}.")
        if self.kind not in _KINDS + ("neuron",):
            raise WorkloadError(f"Layer '{self.name}': kind must be 'linear', 'conv' or 'neuron', "
                                f"received {self.kind!r}.")

    @property
    def timesteps(self) -> int:
        return len(self.macs)

    @property
    def is_synaptic(self) -> bool:
        return self.kind in _KINDS

    @property
    def has_analog_input(self) -> bool:
        """True if the layer did dense MACs (non-spike input) at some timestep."""
        return any(m > 0 for m in self.macs)

    def total(self) -> OpsSummary:
        """Totals over timesteps (float counts)."""
        return OpsSummary(sum(self.macs), sum(self.accumulates), sum(self.neuron_updates), sum(self.spikes))

    def at(self, t: int) -> OpsSummary:
        """Operations at timestep ``t``."""
        return OpsSummary(self.macs[t], self.accumulates[t], self.neuron_updates[t], self.spikes[t])

    def input_rates(self) -> tuple[float, ...]:
        """Input spike rate per timestep, ``accumulates / dense_macs`` (1 where the input is analog).

        Needs :attr:`geometry`.
        """
        if self.geometry is None:
            raise WorkloadError(f"Layer '{self.name}' has no geometry, so its input spike rate is unknown. Build "
                                "the workload with geometry=layer_geometries(net, example_input).")
        dense = self.geometry.dense_macs
        return tuple(1.0 if m > 0 else min(a / dense, 1.0) for m, a in zip(self.macs, self.accumulates))


@dataclass(frozen=True)
class Workload:
    """Per-layer, per-timestep operations of one sample over ``timesteps`` steps."""

    layers: tuple[LayerWorkload, ...]
    timesteps: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise WorkloadError("A workload needs at least one layer.")
        steps = {layer.timesteps for layer in self.layers}
        if len(steps) != 1:
            raise WorkloadError(f"All layers of a workload need the same number of timesteps; received {steps}.")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise WorkloadError(f"Layer names must be unique; received {names}.")
        object.__setattr__(self, "timesteps", steps.pop())

    def total(self) -> OpsSummary:
        """Totals over layers and timesteps (float counts)."""
        out = OpsSummary(0.0, 0.0, 0.0, 0.0)
        for layer in self.layers:
            out = out + layer.total()
        return out

    @property
    def synaptic_layers(self) -> tuple[LayerWorkload, ...]:
        return tuple(layer for layer in self.layers if layer.is_synaptic)

    def layer(self, name: str) -> LayerWorkload:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"No layer '{name}' in the workload; layers: {[lay.name for lay in self.layers]}.")

    def with_static_analog_input(self) -> "Workload":
        """The same workload where layers with analog input compute their MACs at the first timestep only.

        With direct (repeat) encoding the analog input is identical at every timestep, so hardware can compute
        the first layer's current once per sample and reuse it; :class:`~snnrl.opcount.OperationCounter`
        counts it at every timestep.
        """
        layers = []
        for layer in self.layers:
            if layer.has_analog_input:
                first = next(t for t, m in enumerate(layer.macs) if m > 0)
                macs = tuple(m if t == first else 0.0 for t, m in enumerate(layer.macs))
                layer = replace(layer, macs=macs)
            layers.append(layer)
        return Workload(tuple(layers))


def _synaptic_targets(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(counter name, synaptic module) pairs, named the way OperationCounter names them."""
    out: list[tuple[str, nn.Module]] = []
    claimed: set[int] = set()
    for name, module in net.named_modules():
        if id(module) in claimed:
            continue
        if isinstance(module, MultiStep) and isinstance(module.layer, _SYNAPTIC):
            out.append((name, module.layer))
            claimed.update(id(m) for m in module.modules())
        elif isinstance(module, _SYNAPTIC):
            out.append((name, module))
            claimed.add(id(module))
    return out


def _geometry_of(name: str, layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> LayerGeometry:
    if isinstance(layer, nn.Linear):
        return LayerGeometry.linear(name, layer.in_features, layer.out_features)
    spatial = 2 if isinstance(layer, nn.Conv2d) else 1
    return LayerGeometry(name, "conv", layer.in_channels, layer.out_channels, tuple(layer.kernel_size),
                         math.prod(x.shape[-spatial:]), math.prod(y.shape[-spatial:]), layer.groups)


def layer_geometries(net: nn.Module, example_input: torch.Tensor) -> tuple[LayerGeometry, ...]:
    """Shapes of every synaptic layer of ``net`` (Linear, Conv1d, Conv2d), found by running a copy of ``net``.

    ``net`` itself is not run, so its neuron states are untouched. Layers are named as
    :class:`~snnrl.opcount.OperationCounter` names them, in execution order.
    """
    clone = copy.deepcopy(net)
    names = {id(module): name for name, module in _synaptic_targets(clone)}
    found: dict[str, LayerGeometry] = {}
    handles = []

    def make_hook(name: str):
        def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if name not in found:
                found[name] = _geometry_of(name, mod, inputs[0], output)
        return hook

    for module in clone.modules():
        if id(module) in names:
            handles.append(module.register_forward_hook(make_hook(names[id(module)])))
    try:
        with torch.no_grad():
            clone(example_input)
    finally:
        for handle in handles:
            handle.remove()
    if not found:
        raise WorkloadError(f"{type(net).__name__} ran no Linear / Conv1d / Conv2d layer on the example input.")
    return tuple(found.values())


def _geometry_map(geometry: Sequence[LayerGeometry] | Mapping[str, LayerGeometry] | None
                  ) -> dict[str, LayerGeometry]:
    if geometry is None:
        return {}
    if isinstance(geometry, Mapping):
        return dict(geometry)
    return {g.name: g for g in geometry}


def workload_from_counter(counter: OperationCounter, *,
                          geometry: Sequence[LayerGeometry] | Mapping[str, LayerGeometry] | None = None
                          ) -> Workload:
    """Per-sample workload of everything ``counter`` counted (one :class:`LayerWorkload` per counted layer).

    Counts are divided by each call's batch size, so the workload is that of one sample; ``T`` is the number of
    timesteps the counter saw (reset the counter between inferences to get one inference). ``geometry``
    (e.g. :func:`layer_geometries`) attaches shapes to the synaptic layers of the same name.
    """
    records = counter.records
    if not records:
        raise WorkloadError("The counter has no records: run the network inside `with OperationCounter(net):` "
                            "before building a workload.")
    steps = max(r.timestep for r in records) + 1
    kinds: dict[str, str] = {}
    counts: dict[str, list[list[float]]] = defaultdict(lambda: [[0.0] * steps for _ in range(4)])
    for r in records:
        kinds.setdefault(r.layer, r.kind)
        per = counts[r.layer]
        for i, value in enumerate((r.macs, r.accumulates, r.neuron_updates, r.spikes)):
            per[i][r.timestep] += value / r.samples
    shapes = _geometry_map(geometry)
    unknown = sorted(set(shapes) - set(kinds))
    if unknown:
        raise WorkloadError(f"Geometry for layers {unknown} that the counter did not see; counted layers: "
                            f"{list(kinds)}. Compute the geometry from the same network.")
    layers = [LayerWorkload(name, kinds[name], *counts[name], geometry=shapes.get(name)) for name in kinds]
    return Workload(tuple(layers))


def workload_from_geometry(geometry: Sequence[LayerGeometry], *, timesteps: int,
                           input_spike_rate: float | Mapping[str, float | Sequence[float]] = 1.0,
                           analog_first_layer: bool = True) -> Workload:
    """A workload from layer shapes and assumed input spike rates (explicit numbers instead of a run).

    Each synaptic layer ``l`` at timestep ``t`` does ``dense_macs`` MACs if it is the first layer and
    ``analog_first_layer``, else ``r_{l,t}·dense_macs`` accumulates, and updates ``output_neurons`` neurons
    (every synaptic layer is assumed to feed spiking neurons). Spikes are not modelled (0).

    Parameters
    ----------
    input_spike_rate
        One rate for all spike-input layers, or ``{layer name: rate or per-timestep rates}``.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise WorkloadError(f"timesteps must be an integer >= 1, received {timesteps!r}.")
    layers = []
    for index, g in enumerate(geometry):
        analog = analog_first_layer and index == 0
        if isinstance(input_spike_rate, Mapping):
            if not analog and g.name not in input_spike_rate:
                raise WorkloadError(f"No input spike rate for layer '{g.name}'; give one per spike-input layer "
                                    f"(received rates for {sorted(input_spike_rate)}).")
            rate = input_spike_rate.get(g.name, 1.0)
        else:
            rate = input_spike_rate
        rates = [float(rate)] * timesteps if isinstance(rate, (int, float)) else [float(r) for r in rate]
        if len(rates) != timesteps or any(not 0.0 <= r <= 1.0 for r in rates):
            raise WorkloadError(f"Layer '{g.name}': input spike rate must be in [0, 1], one value or one per "
                                f"timestep ({timesteps}); received {rate!r}.")
        dense = float(g.dense_macs)
        macs = [dense if analog else 0.0] * timesteps
        acc = [0.0 if analog else r * dense for r in rates]
        updates = [float(g.output_neurons)] * timesteps
        layers.append(LayerWorkload(g.name, g.kind, macs, acc, updates, [0.0] * timesteps, geometry=g))
    return Workload(tuple(layers))
