"""Hardware models against their published anchors (issue: hardware profiles and energy reports).

1. The IMC crossbar model on SpikeSim's VGG9 example (T=5, 4-bit weights, 22-bit membranes): energy, latency and
   area vs the published 15.907 µJ, 62.8 ms and 8.43 mm², plus the 32-bit vs 4-bit ratios (EDAP, TOPS/W, TOPS/mm²).
2. The digital 45 nm model on a converted TD3 Hopper actor at T=16, vs the reference setup's 86 nJ (SNN) and
   318 nJ (ANN) per decision, with the operation counts that explain the difference: the ANN energy is exactly
   ``MACs × (E_mult + E_add)``, so the hidden sizes decide it.

Writes ``benchmarks/results/hardware_models.json`` (common result schema).
Usage: ``.venv/bin/python benchmarks/hardware_models.py [--teacher td3-hopper] [--episodes 3]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from snnrl.results import write_result

RESULTS = Path(__file__).resolve().parent / "results" / "hardware_models.json"
PUBLISHED_VGG9 = {"energy_uj": 15.907, "latency_ms": 62.8, "area_mm2": 8.43}
REFERENCE_HOPPER_NJ = {"snn_t16": 86.0, "ann": 318.0}


def vgg9(weight_bits: int, membrane_bits: int):
    from snnrl.hardware import SPIKESIM_RRAM_65NM, estimate, workload_from_geometry
    from snnrl.hardware.imc import spikesim_vgg9_geometry

    return estimate(workload_from_geometry(spikesim_vgg9_geometry(), timesteps=5), profile=SPIKESIM_RRAM_65NM,
                    weight_bits=weight_bits, membrane_bits=membrane_bits)


def imc_anchor() -> dict:
    from snnrl.hardware import compare

    est = vgg9(4, 22)
    ours = {"energy_uj": est.energy_pj / 1e6, "latency_ms": est.latency_ns / 1e6, "area_mm2": est.area_mm2}
    ratios = compare(vgg9(32, 32), vgg9(4, 4))
    return {"ours": ours, "published": PUBLISHED_VGG9,
            "relative_error": {k: ours[k] / PUBLISHED_VGG9[k] - 1 for k in ours},
            "ratios_32bit_vs_4bit": {k: ratios[k] for k in ("edap", "tops_per_w", "tops_per_mm2")}}


def digital_hopper(teacher: str, episodes: int, timesteps: int) -> dict:
    from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, convert_actor
    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy, SpikingPolicy
    from snnrl.agents.zoo import load_teacher
    from snnrl.hardware.digital import DIGITAL_45NM_FP32

    actor, entry = load_teacher(teacher)
    env_id = entry["env_id"]
    snn = convert_actor(actor, calibrate_thresholds(actor, env_id, ConversionConfig(seed=0), progress=False))
    rows = {}
    for label, policy in (("ann", AnnPolicy(actor)), (f"snn_t{timesteps}", SpikingPolicy(snn, timesteps=timesteps))):
        res = run_episodes(policy, env_id, episodes=episodes, seed=0)
        steps = sum(r.length for r in res)
        rows[label] = {"energy_per_decision_nj": sum(r.energy["energy_pj"] for r in res) / steps / 1000,
                       "macs_per_decision": sum(r.energy["synaptic_ops"]["macs"] for r in res) / steps,
                       "accumulates_per_decision": sum(r.energy["synaptic_ops"]["accumulates"] for r in res) / steps,
                       "spikes_per_decision": sum(r.energy["spikes"] for r in res) / steps,
                       "return_mean": float(np.mean([r.episode_return for r in res])), "steps": steps}
    linears = [m for m in actor.hidden if isinstance(m, torch.nn.Linear)]
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    act_dim = actor.head.out_features
    mac_pj = DIGITAL_45NM_FP32.mac_energy_pj

    def ann_macs(hidden: list[int]) -> int:
        dims = [sizes[0], *hidden, act_dim]
        return sum(a * b for a, b in zip(dims, dims[1:]))

    return {
        "teacher": teacher, "env_id": env_id, "timesteps": timesteps, "episodes": episodes,
        "profile": DIGITAL_45NM_FP32.name, "mac_energy_pj": mac_pj,
        "accumulate_energy_pj": DIGITAL_45NM_FP32.accumulate_energy_pj, "measured": rows,
        "actor_layers": [*sizes, act_dim], "reference_nj": REFERENCE_HOPPER_NJ,
        "ann_nj_from_counts": {"this actor": ann_macs(sizes[1:]) * mac_pj / 1000,
                               "256-256 actor": ann_macs([256, 256]) * mac_pj / 1000},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="td3-hopper")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--timesteps", type=int, default=16)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    imc = imc_anchor()
    digital = digital_hopper(args.teacher, args.episodes, args.timesteps)
    summary = {"vgg9_energy_uj": imc["ours"]["energy_uj"], "vgg9_latency_ms": imc["ours"]["latency_ms"],
               "vgg9_area_mm2": imc["ours"]["area_mm2"],
               **{f"vgg9_{k}_error_pct": 100 * v for k, v in imc["relative_error"].items()},
               **{f"vgg9_{k}_gain_32_to_4bit": v for k, v in imc["ratios_32bit_vs_4bit"].items()},
               "hopper_ann_nj": digital["measured"]["ann"]["energy_per_decision_nj"],
               f"hopper_snn_t{args.timesteps}_nj": digital["measured"][f"snn_t{args.timesteps}"]["energy_per_decision_nj"],
               "ann_nj_256x256_actor_from_counts": digital["ann_nj_from_counts"]["256-256 actor"],
               "reference_ann_nj": REFERENCE_HOPPER_NJ["ann"], "reference_snn_t16_nj": REFERENCE_HOPPER_NJ["snn_t16"]}
    summary["hopper_snn_over_ann"] = summary[f"hopper_snn_t{args.timesteps}_nj"] / summary["hopper_ann_nj"]
    summary["reference_snn_over_ann"] = REFERENCE_HOPPER_NJ["snn_t16"] / REFERENCE_HOPPER_NJ["ann"]
    config = {k: v for k, v in vars(args).items() if k != "out"}  # no machine paths in a committed result
    write_result(args.out, "hardware_models", config=config, seed=0,
                 raw={"imc_vgg9": imc, "digital_hopper": digital}, summary=summary)
    for key, value in summary.items():
        print(f"{key:40s} {value:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
