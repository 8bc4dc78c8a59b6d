"""Per-episode energy records built from per-decision operation counts.

:class:`EpisodeEnergyRecorder` collects, decision by decision, the operations of one environment's policy
(``{layer: [macs, accumulates, neuron_updates, spikes]}``, as :meth:`snnrl.opcount.OperationCounter.by_sample`
gives per row) and turns them into the record that the env wrapper puts in ``info["energy"]`` at episode
end and that evaluation reports write out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.opcount import OpsSummary

__all__ = ["EpisodeEnergyRecorder", "EnergyModel", "ENERGY_RECORD_KEYS"]


class EnergyModel(Protocol):
    """Anything that prices an :class:`~snnrl.opcount.OpsSummary` in pJ (digital and neuromorphic profiles)."""

    name: str

    def energy_pj(self, ops: OpsSummary) -> float: ...

ENERGY_RECORD_KEYS = ("steps", "energy_pj", "energy_per_decision_pj", "energy_per_step_pj", "synaptic_ops",
                      "neuron_updates", "spikes", "spikes_per_layer", "ops_per_layer", "profile")


class EpisodeEnergyRecorder:
    """Accumulate one episode's operations and energy under a hardware ``profile``."""

    def __init__(self, profile: EnergyModel = DIGITAL_45NM_FP32) -> None:
        self.profile = profile
        self.reset()

    def reset(self) -> None:
        """Start a new episode."""
        self._per_layer: dict[str, list[int]] = {}
        self._energy_per_step: list[float] = []

    @property
    def steps(self) -> int:
        return len(self._energy_per_step)

    def add_decision(self, ops: Mapping[str, Any]) -> float:
        """Add one decision's per-layer counts ``[macs, accumulates, neuron_updates, spikes]``; returns its pJ."""
        energy = 0.0
        for layer, counts in ops.items():
            values = [int(v) for v in (counts.tolist() if hasattr(counts, "tolist") else counts)]   # tensor, array, list
            totals = self._per_layer.setdefault(layer, [0, 0, 0, 0])
            for i, v in enumerate(values):
                totals[i] += v
            energy += self.profile.energy_pj(OpsSummary(*values))
        self._energy_per_step.append(energy)
        return energy

    def record(self) -> dict[str, Any]:
        """The episode's energy record (JSON-serialisable)."""
        total = OpsSummary()
        for values in self._per_layer.values():
            total = total + OpsSummary(*values)
        energy = float(sum(self._energy_per_step))
        return {
            "steps": self.steps,
            "energy_pj": energy,
            "energy_per_decision_pj": energy / self.steps if self.steps else 0.0,
            "energy_per_step_pj": list(self._energy_per_step),
            "synaptic_ops": {"macs": total.macs, "accumulates": total.accumulates},
            "neuron_updates": total.neuron_updates,
            "spikes": total.spikes,
            "spikes_per_layer": {k: v[3] for k, v in self._per_layer.items() if v[2] > 0},
            "ops_per_layer": {k: dict(zip(("macs", "accumulates", "neuron_updates", "spikes"), v))
                              for k, v in self._per_layer.items()},
            "profile": self.profile.name,
        }
