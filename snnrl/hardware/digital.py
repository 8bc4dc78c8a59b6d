"""Digital CMOS energy model: energy per multiply-accumulate and per accumulate (a *model*, not a measurement).

Source: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, energy per
arithmetic operation in 45 nm at 0.9 V:

==========  ==========  ===========
operation   8-bit int   32-bit int
==========  ==========  ===========
add         0.03 pJ     0.1 pJ
multiply    0.2 pJ      3.1 pJ
==========  ==========  ===========

==========  ==========  ===========
operation   16-bit fp   32-bit fp
==========  ==========  ===========
add         0.4 pJ      0.9 pJ
multiply    1.1 pJ      3.7 pJ
==========  ==========  ===========

A multiply-accumulate costs one multiply plus one add, ``E_MAC = E_mult + E_add``; an accumulate (what a binary
spike turns a synaptic operation into) costs one add, ``E_AC = E_add``. So fp32: ``E_MAC = 4.6 pJ``,
``E_AC = 0.9 pJ``. The table has no 16-bit integer entries; :func:`horowitz_45nm` interpolates them as a power
law in bit width through the 8- and 32-bit entries (the geometric mean: add 0.0548 pJ, multiply 0.787 pJ) and
says so in the profile's name.

Assumptions: memory access, data movement and control are not counted (they often dominate real chips); a
neuron update costs ``neuron_update_energy_pj`` (0 by default, as in the SNN-vs-ANN comparisons this anchor comes
from). The model has no latency or area: estimates on a digital profile report ``None`` for those.

Example
-------
>>> from snnrl.opcount import OpsSummary
>>> DIGITAL_45NM_FP32.energy_pj(OpsSummary(macs=10, accumulates=100))
136.0
>>> horowitz_45nm(bits=8, number_format="int").mac_energy_pj
0.23
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from snnrl.hardware._validation import ProfileError, check_profile_fields
from snnrl.opcount import OpsSummary

__all__ = [
    "DigitalProfile",
    "DIGITAL_45NM_FP32",
    "DIGITAL_45NM_FP16",
    "DIGITAL_45NM_INT32",
    "DIGITAL_45NM_INT16",
    "DIGITAL_45NM_INT8",
    "HOROWITZ_45NM_PJ",
    "horowitz_45nm",
]

HOROWITZ_45NM_PJ = MappingProxyType({
    ("int", 8): MappingProxyType({"mult": 0.2, "add": 0.03}),
    ("int", 32): MappingProxyType({"mult": 3.1, "add": 0.1}),
    ("fp", 16): MappingProxyType({"mult": 1.1, "add": 0.4}),
    ("fp", 32): MappingProxyType({"mult": 3.7, "add": 0.9}),
})
"""Horowitz (ISSCC 2014) 45 nm energies in pJ, keyed by ``(number_format, bits)``: ``{"mult": .., "add": ..}``."""


@dataclass(frozen=True)
class DigitalProfile:
    """Energy per operation of a digital datapath (a model: arithmetic only, no memory or control).

    ``E = macs·mac_energy_pj + accumulates·accumulate_energy_pj + neuron_updates·neuron_update_energy_pj``.
    """

    name: str
    mac_energy_pj: float
    accumulate_energy_pj: float
    neuron_update_energy_pj: float = 0.0

    def __post_init__(self) -> None:
        check_profile_fields(self, kind="digital")

    def energy_pj(self, ops: OpsSummary) -> float:
        """Energy in pJ of the operations in ``ops``."""
        return (ops.macs * self.mac_energy_pj + ops.accumulates * self.accumulate_energy_pj
                + ops.neuron_updates * self.neuron_update_energy_pj)


def horowitz_45nm(*, bits: int, number_format: str = "int", neuron_update_energy_pj: float = 0.0
                  ) -> DigitalProfile:
    """A 45 nm digital profile for ``bits``-bit ``number_format`` ("int" or "fp") arithmetic (Horowitz 2014).

    Supported: int 8 / 16 / 32 (16 interpolated, see the module docstring) and fp 16 / 32.
    """
    if number_format not in ("int", "fp"):
        raise ProfileError(f"number_format must be 'int' or 'fp', received {number_format!r}.")
    key = (number_format, bits)
    if key in HOROWITZ_45NM_PJ:
        entry, note = HOROWITZ_45NM_PJ[key], "Horowitz 2014"
        mult, add = entry["mult"], entry["add"]
    elif key == ("int", 16):
        lo, hi = HOROWITZ_45NM_PJ[("int", 8)], HOROWITZ_45NM_PJ[("int", 32)]
        mult, add = math.sqrt(lo["mult"] * hi["mult"]), math.sqrt(lo["add"] * hi["add"])
        note = "Horowitz 2014, interpolated between 8 and 32 bit"
    else:
        supported = sorted(f"{f}{b}" for f, b in HOROWITZ_45NM_PJ) + ["int16"]
        raise ProfileError(f"No 45 nm energy for {number_format}{bits}; supported: {', '.join(supported)}. "
                           "Write a profile TOML with your own numbers for other formats.")
    return DigitalProfile(name=f"digital-45nm-{number_format}{bits} ({note})",
                          mac_energy_pj=round(mult + add, 6), accumulate_energy_pj=add,
                          neuron_update_energy_pj=neuron_update_energy_pj)


DIGITAL_45NM_FP32 = DigitalProfile(name="digital-45nm-fp32 (Horowitz 2014)", mac_energy_pj=4.6,
                                   accumulate_energy_pj=0.9)
DIGITAL_45NM_FP16 = horowitz_45nm(bits=16, number_format="fp")
DIGITAL_45NM_INT32 = horowitz_45nm(bits=32, number_format="int")
DIGITAL_45NM_INT16 = horowitz_45nm(bits=16, number_format="int")
DIGITAL_45NM_INT8 = horowitz_45nm(bits=8, number_format="int")
