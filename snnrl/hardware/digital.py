"""Digital CMOS energy model: energy per multiply-accumulate and per accumulate (a *model*, not a measurement).

Source: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm:
32-bit float multiply 3.7 pJ + add 0.9 pJ, so ``E_MAC = 4.6 pJ`` and ``E_AC = 0.9 pJ``. Assumptions: memory
access, data movement and control are not counted; a neuron update costs ``neuron_update_energy_pj`` (0 by
default, as in the SNN-vs-ANN comparisons this anchor comes from).
"""

from __future__ import annotations

from dataclasses import dataclass

from snnrl.opcount import OpsSummary

__all__ = ["DigitalProfile", "DIGITAL_45NM_FP32"]


@dataclass(frozen=True)
class DigitalProfile:
    """Energy per operation of a digital datapath."""

    name: str
    mac_energy_pj: float
    accumulate_energy_pj: float
    neuron_update_energy_pj: float = 0.0

    def energy_pj(self, ops: OpsSummary) -> float:
        """Energy in pJ of the operations in ``ops``."""
        return (ops.macs * self.mac_energy_pj + ops.accumulates * self.accumulate_energy_pj
                + ops.neuron_updates * self.neuron_update_energy_pj)


DIGITAL_45NM_FP32 = DigitalProfile(name="digital-45nm-fp32 (Horowitz 2014)", mac_energy_pj=4.6,
                                   accumulate_energy_pj=0.9)
