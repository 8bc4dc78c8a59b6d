"""Exact (NEXUS-style) conversion: returns vs the ANN over seeded episodes, and energy per decision vs rate coding.

Slow on a CPU (the gate-level simulation runs about 2 decisions per second for a 4-400-300-1 actor): the five full
InvertedPendulum episodes take about 20 minutes. Writes ``benchmarks/results/exact/*.json``.

Usage: ``.venv/bin/python benchmarks/exact_mode.py [--teacher td3-invertedpendulum] [--episodes 5]``
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

from snnrl.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "exact"


def main(argv: list[str] | None = None) -> int:
    from snnrl.results import package_versions
    from snnrl.exact.benchmark import compare_energy, compare_returns

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="td3-invertedpendulum")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--energy-steps", type=int, default=None, help="steps of the energy episode (default: full)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    config = {k: v for k, v in vars(args).items() if k != "out"}  # no machine paths in a committed result
    meta = {"schema_version": 1, "versions": package_versions(),
            "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    returns = compare_returns(args.teacher, episodes=args.episodes, seed=args.seed)
    atomic_write_json(args.out / f"returns-{args.teacher}.json", {**meta, "benchmark": "exact_mode_returns",
                                                                 "config": config,
                                                                 **returns})
    energy = compare_energy(args.teacher, seed=args.seed, max_steps=args.energy_steps)
    atomic_write_json(args.out / f"energy-{args.teacher}.json", {**meta, "benchmark": "exact_mode_energy",
                                                                "config": config,
                                                                "rows": energy})
    for row in energy:
        print(f"{row['policy']:24s} {row['energy_per_decision_pj'] / 1e6:10.4f} uJ/decision")
    print(f"returns exact {returns['exact_snn']['returns']} vs ANN (same order) {returns['ann_sequential']['returns']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
