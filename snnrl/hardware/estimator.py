"""One entry point from operation counts to energy / latency / area on any hardware profile.

:func:`estimate` takes a :class:`~snnrl.hardware.workload.Workload` (per layer, per timestep, per sample) and a
profile and returns a :class:`HardwareEstimate`. What each profile can give:

==============================  ==========  ==========  ========  ==============  ==========
profile                         energy      latency     area      EDAP, TOPS/mm²  TOPS/W
==============================  ==========  ==========  ========  ==============  ==========
:class:`DigitalProfile`         yes         ``None``    ``None``  ``None``        if shapes
:class:`NeuromorphicProfile`    yes         ``None``    ``None``  ``None``        if shapes
:class:`ImcProfile`             yes         yes         yes       yes             yes
==============================  ==========  ==========  ========  ==============  ==========

Digital and neuromorphic profiles price each layer's counts, ``E = Σ_l Σ_t profile.energy_pj(ops_{l,t})``;
they have no latency or area model, so those fields are ``None`` (not 0). The IMC profile maps layer shapes onto
crossbars (:func:`snnrl.hardware.imc.imc_cost`). ``operations`` (for TOPS/W) are dense-equivalent operations,
``2 · Σ_l dense_macs · T``, and need every synaptic layer's shape; without shapes they are ``None``.

Typical inputs: an ANN teacher counted with ``OperationCounter(net, dense=True)`` (MACs only); a converted
policy (first layer MACs on analog input, accumulates after); a continual-learning backbone (conv + linear);
a quantized network (pick the digital profile of its bit width, or give ``weight_bits`` / ``membrane_bits`` to
the IMC profile).

Example
-------
>>> from snnrl.hardware.workload import LayerGeometry, workload_from_geometry
>>> wl = workload_from_geometry([LayerGeometry.linear("fc", 10, 4)], timesteps=1)
>>> estimate(wl, profile=DIGITAL_45NM_FP32).energy_pj           # 40 MACs x 4.6 pJ
184.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from snnrl.hardware.digital import DIGITAL_45NM_FP32, DigitalProfile
from snnrl.hardware.imc import ImcProfile, imc_cost
from snnrl.hardware.neuromorphic import NeuromorphicProfile
from snnrl.hardware.workload import LayerWorkload, Workload
from snnrl.opcount import OpsSummary

__all__ = ["HardwareEstimate", "LayerEstimate", "estimate", "compare", "HardwareProfile"]

HardwareProfile = DigitalProfile | NeuromorphicProfile | ImcProfile


@dataclass(frozen=True)
class LayerEstimate:
    """One layer's share of an estimate (``area_mm2`` / ``operations`` ``None`` where not modelled)."""

    name: str
    kind: str
    energy_pj: float
    area_mm2: float | None = None
    operations: float | None = None
    energy_components_pj: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HardwareEstimate:
    """Cost of one sample's inference (``timesteps`` steps) on one hardware profile.

    ``None`` means the profile has no model for that quantity. ``edap_pj_ns_mm2 = energy_pj · latency_ns ·
    area_mm2``; ``tops_per_w = operations / energy_pj``; ``tops_per_mm2 = 1e-3 · operations / (latency_ns ·
    area_mm2)``.
    """

    profile: str
    timesteps: int
    energy_pj: float
    latency_ns: float | None
    area_mm2: float | None
    edap_pj_ns_mm2: float | None
    tops_per_w: float | None
    tops_per_mm2: float | None
    operations: float | None
    weight_bits: int | None
    membrane_bits: int | None
    energy_per_timestep_pj: tuple[float, ...]
    energy_components_pj: dict[str, float]
    area_components_mm2: dict[str, float] | None
    layers: tuple[LayerEstimate, ...]

    @property
    def edap(self) -> float | None:
        """Energy × delay × area in pJ·ns·mm² (alias of :attr:`edap_pj_ns_mm2`)."""
        return self.edap_pj_ns_mm2

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (for reports)."""
        return asdict(self)


def _layer_operations(layer: LayerWorkload) -> float | None:
    """Dense-equivalent operations of a synaptic layer: 2 per synapse per timestep it ran."""
    if layer.geometry is None:
        return None
    steps = sum(1 for m in layer.macs if m > 0) if layer.has_analog_input else layer.timesteps
    return 2.0 * layer.geometry.dense_macs * steps


def _dense_operations(workload: Workload) -> float | None:
    ops = [_layer_operations(layer) for layer in workload.synaptic_layers]
    if not ops or any(o is None for o in ops):
        return None
    return float(sum(o for o in ops if o is not None))


def _energy_only(workload: Workload, profile: DigitalProfile | NeuromorphicProfile) -> HardwareEstimate:
    if isinstance(profile, DigitalProfile):
        prices = {"macs": profile.mac_energy_pj, "accumulates": profile.accumulate_energy_pj,
                  "neuron_updates": profile.neuron_update_energy_pj}
    else:
        prices = {"macs": profile.effective_mac_energy_pj, "accumulates": profile.synaptic_op_energy_pj,
                  "neuron_updates": profile.neuron_update_energy_pj}
    per_step = [0.0] * workload.timesteps
    components = dict.fromkeys(prices, 0.0)
    layers = []
    for layer in workload.layers:
        for t in range(workload.timesteps):
            per_step[t] += profile.energy_pj(layer.at(t))
        total: OpsSummary = layer.total()
        parts = {key: getattr(total, key) * price for key, price in prices.items()}
        for key, value in parts.items():
            components[key] += value
        ops = _layer_operations(layer) if layer.is_synaptic else None
        layers.append(LayerEstimate(layer.name, layer.kind, profile.energy_pj(total), None, ops, parts))
    energy = float(sum(per_step))
    operations = _dense_operations(workload)
    return HardwareEstimate(
        profile=profile.name, timesteps=workload.timesteps, energy_pj=energy, latency_ns=None, area_mm2=None,
        edap_pj_ns_mm2=None, tops_per_w=operations / energy if operations is not None and energy > 0 else None,
        tops_per_mm2=None, operations=operations, weight_bits=None, membrane_bits=None,
        energy_per_timestep_pj=tuple(per_step), energy_components_pj=components, area_components_mm2=None,
        layers=tuple(layers))


def estimate(workload: Workload, *, profile: HardwareProfile = DIGITAL_45NM_FP32, weight_bits: int | None = None,
             membrane_bits: int | None = None) -> HardwareEstimate:
    """Energy / latency / area of ``workload`` (one sample) on ``profile``.

    Parameters
    ----------
    workload
        Per-layer, per-timestep counts (:func:`~snnrl.hardware.workload.workload_from_counter` or
        :func:`~snnrl.hardware.workload.workload_from_geometry`).
    profile
        A :class:`DigitalProfile`, :class:`NeuromorphicProfile` or :class:`ImcProfile` (built in, or
        :func:`~snnrl.hardware.profiles.load_profile` from TOML).
    weight_bits, membrane_bits
        Bit widths for the IMC model (default: the profile's). Digital and neuromorphic profiles carry their
        precision in the profile itself (e.g. :data:`~snnrl.hardware.digital.DIGITAL_45NM_INT8`), so passing
        bit widths with them is an error rather than silently ignored.
    """
    if isinstance(profile, ImcProfile):
        cost = imc_cost(workload, profile=profile, weight_bits=weight_bits, membrane_bits=membrane_bits)
        energy, latency, area, ops = cost.energy_pj, cost.latency_ns, cost.area_mm2, cost.operations
        layers = tuple(LayerEstimate(c.name, workload.layer(c.name).kind, c.energy_pj, c.area_mm2, c.operations,
                                     dict(c.energy_components_pj)) for c in cost.layers)
        return HardwareEstimate(
            profile=profile.name, timesteps=cost.timesteps, energy_pj=energy, latency_ns=latency, area_mm2=area,
            edap_pj_ns_mm2=energy * latency * area, tops_per_w=ops / energy if energy > 0 else None,
            tops_per_mm2=1e-3 * ops / (latency * area) if latency > 0 and area > 0 else None, operations=ops,
            weight_bits=cost.weight_bits, membrane_bits=cost.membrane_bits,
            energy_per_timestep_pj=cost.energy_per_timestep_pj, energy_components_pj=dict(cost.energy_components_pj),
            area_components_mm2=dict(cost.area_components_mm2), layers=layers)
    if isinstance(profile, (DigitalProfile, NeuromorphicProfile)):
        if weight_bits is not None or membrane_bits is not None:
            raise ValueError(
                f"weight_bits / membrane_bits apply to the IMC profile only; received weight_bits={weight_bits}, "
                f"membrane_bits={membrane_bits} with {type(profile).__name__} '{profile.name}'. For a digital "
                "datapath of another precision pick its profile, e.g. horowitz_45nm(bits=8, number_format='int').")
        return _energy_only(workload, profile)
    raise TypeError(f"profile must be a DigitalProfile, NeuromorphicProfile or ImcProfile, received "
                    f"{type(profile).__name__}. Load custom profiles with snnrl.hardware.profiles.load_profile().")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def compare(baseline: HardwareEstimate, candidate: HardwareEstimate) -> Mapping[str, float | None]:
    """How much better ``candidate`` is than ``baseline``: ``{"energy", "latency", "area", "edap"}`` as
    ``baseline / candidate`` (lower-is-better quantities) and ``{"tops_per_w", "tops_per_mm2"}`` as
    ``candidate / baseline``; ``None`` where a quantity is missing."""
    return {
        "energy": _ratio(baseline.energy_pj, candidate.energy_pj),
        "latency": _ratio(baseline.latency_ns, candidate.latency_ns),
        "area": _ratio(baseline.area_mm2, candidate.area_mm2),
        "edap": _ratio(baseline.edap_pj_ns_mm2, candidate.edap_pj_ns_mm2),
        "tops_per_w": _ratio(candidate.tops_per_w, baseline.tops_per_w),
        "tops_per_mm2": _ratio(candidate.tops_per_mm2, baseline.tops_per_mm2),
    }

