"""The kinds and schema versions of the report files snnrl writes (one place, read by writers and readers)."""

from __future__ import annotations

__all__ = ["SWEEP_KIND", "SWEEP_SCHEMA_VERSION", "ENERGY_RECORDS_KIND", "ENERGY_REPORT_KIND",
           "ENERGY_REPORT_SCHEMA_VERSION", "CONTINUAL_SUMMARY_KIND", "CONTINUAL_SUMMARY_SCHEMA_VERSION",
           "FIDELITY_KIND", "FIDELITY_SCHEMA_VERSION"]

SWEEP_KIND = "snnrl-conversion-sweep"
"""``results.json`` of a conversion sweep (``snnrl evaluate``, ``benchmarks/conversion_fidelity.py``)."""
SWEEP_SCHEMA_VERSION = 1

ENERGY_RECORDS_KIND = "snnrl-energy-records"
"""Energy records a user collected from :class:`~snnrl.envs.ClosedLoop` (``write_energy_records``)."""
ENERGY_REPORT_KIND = "snnrl-energy-report"
ENERGY_REPORT_SCHEMA_VERSION = 1
"""Version of both energy kinds."""

CONTINUAL_SUMMARY_KIND = "snnrl-continual-summary"
CONTINUAL_SUMMARY_SCHEMA_VERSION = 1

FIDELITY_KIND = "snnrl-fidelity-protocol"
"""One teacher's tuned fidelity protocol (``benchmarks/conversion_fidelity.py --protocol``)."""
FIDELITY_SCHEMA_VERSION = 1
