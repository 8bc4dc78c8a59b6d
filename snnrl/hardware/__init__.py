"""snnrl.hardware: hardware cost models that turn operation counts into energy / latency / area, and per-episode
energy records (their reports: :mod:`snnrl.reports.energy`).

Every model here is a *model*, with its sources and assumptions in its module docstring:

* :mod:`~snnrl.hardware.digital` — 45 nm digital datapath, energy per MAC / accumulate (Horowitz 2014);
* :mod:`~snnrl.hardware.imc` — RRAM crossbar in-memory computing after SpikeSim: energy, latency, area;
* :mod:`~snnrl.hardware.neuromorphic` — Loihi-like energy per synaptic op and neuron update;
* :mod:`~snnrl.hardware.workload` — per-layer, per-timestep operations of one sample (+ layer shapes);
* :mod:`~snnrl.hardware.estimator` — :func:`estimate`: workload + profile -> :class:`HardwareEstimate`;
* :mod:`~snnrl.hardware.profiles` — profiles from TOML files, built-ins by name.
"""

from snnrl.hardware._validation import ProfileError
from snnrl.hardware.digital import (DIGITAL_45NM_FP16, DIGITAL_45NM_FP32, DIGITAL_45NM_INT8, DIGITAL_45NM_INT16,
                                    DIGITAL_45NM_INT32, DigitalProfile, horowitz_45nm)
from snnrl.hardware.estimator import HardwareEstimate, LayerEstimate, compare, estimate
from snnrl.hardware.imc import SPIKESIM_RRAM_65NM, ImcCost, ImcProfile, imc_cost
from snnrl.hardware.neuromorphic import LOIHI_2018, NeuromorphicProfile
from snnrl.hardware.profiles import builtin_profiles, load_profile, profile_from_dict, save_profile
from snnrl.hardware.workload import (LayerGeometry, LayerWorkload, Workload, WorkloadError, layer_geometries,
                                     workload_from_counter, workload_from_geometry)

__all__ = [
    "DigitalProfile",
    "DIGITAL_45NM_FP32",
    "DIGITAL_45NM_FP16",
    "DIGITAL_45NM_INT32",
    "DIGITAL_45NM_INT16",
    "DIGITAL_45NM_INT8",
    "horowitz_45nm",
    "ImcProfile",
    "SPIKESIM_RRAM_65NM",
    "ImcCost",
    "imc_cost",
    "NeuromorphicProfile",
    "LOIHI_2018",
    "LayerGeometry",
    "LayerWorkload",
    "Workload",
    "WorkloadError",
    "layer_geometries",
    "workload_from_counter",
    "workload_from_geometry",
    "HardwareEstimate",
    "LayerEstimate",
    "estimate",
    "compare",
    "ProfileError",
    "load_profile",
    "profile_from_dict",
    "save_profile",
    "builtin_profiles",
]
