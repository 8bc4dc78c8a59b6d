"""Neuromorphic-chip energy model: energy per synaptic operation and per neuron update (a *model*).

``E = accumulates·synaptic_op_energy_pj + macs·mac_energy_pj + neuron_updates·neuron_update_energy_pj``

Source of :data:`LOIHI_2018`: M. Davies et al., "Loihi: a neuromorphic manycore processor with on-chip
learning", IEEE Micro 38(1), 2018, table of energy per operation (14 nm, pre-silicon/measured figures):
minimum synaptic spike operation 23.6 pJ; neuron update 81 pJ for an active neuron and 52 pJ for an inactive
one. We use the *active* figure (81 pJ): in a time-stepped network every neuron integrates input at every
step. A profile with the inactive figure is one TOML line away (``neuron_update_energy_pj = 52.0``).

Assumptions (ours, not Intel's): one counted accumulate is one synaptic spike operation; a dense
multiply-accumulate on an analog (non-spike) input, e.g. a converted policy's first layer, costs
``mac_energy_pj`` (default: the synaptic-op energy, i.e. graded inputs handled as one synaptic op each);
spike routing between cores (a few pJ per hop), idle/static power, and the host are not counted. This is
Loihi-*like*: it prices operations with Loihi's per-operation energies, it does not map the network onto Loihi's
cores, so it has no latency or area (estimates report ``None`` for them).

Example
-------
>>> from snnrl.opcount import OpsSummary
>>> round(LOIHI_2018.energy_pj(OpsSummary(accumulates=10, neuron_updates=2)), 6)
398.0
"""

from __future__ import annotations

from dataclasses import dataclass

from snnrl.hardware._validation import check_profile_fields
from snnrl.opcount import OpsSummary

__all__ = ["NeuromorphicProfile", "LOIHI_2018"]


@dataclass(frozen=True)
class NeuromorphicProfile:
    """Energy per synaptic operation and per neuron update of an event-driven chip (a model)."""

    name: str
    synaptic_op_energy_pj: float
    neuron_update_energy_pj: float
    mac_energy_pj: float | None = None

    def __post_init__(self) -> None:
        check_profile_fields(self, kind="neuromorphic")

    @property
    def effective_mac_energy_pj(self) -> float:
        """Energy of one dense MAC on analog input: ``mac_energy_pj``, or the synaptic-op energy if unset."""
        return self.synaptic_op_energy_pj if self.mac_energy_pj is None else self.mac_energy_pj

    def energy_pj(self, ops: OpsSummary) -> float:
        """Energy in pJ of the operations in ``ops``."""
        return (ops.accumulates * self.synaptic_op_energy_pj + ops.macs * self.effective_mac_energy_pj
                + ops.neuron_updates * self.neuron_update_energy_pj)


LOIHI_2018 = NeuromorphicProfile(name="loihi-like (Davies et al. 2018)", synaptic_op_energy_pj=23.6,
                                 neuron_update_energy_pj=81.0)
