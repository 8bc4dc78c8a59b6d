"""How much DAgger distillation: the budget of :class:`~snnrl.agents.distillation.DistillationConfig`, chosen on
tuning episodes only.

For each teacher, the ``mse+spiking`` recipe at T=4 is built with each candidate budget and evaluated on episodes
seeded 100-129 (the fidelity protocol's tuning seeds, never its reported 0-29); the rule: the candidate with the
highest mean return as a share of the ANN's on the same episodes, averaged over the teachers. Writes
``benchmarks/results/fidelity/distillation_budget.json``.

Usage::

    .venv/bin/python benchmarks/distillation_budget.py                    # td3-halfcheetah td3-walker2d
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from snnrl.agents.distillation import DistillationConfig
from snnrl.agents.evaluation import run_episodes
from snnrl.agents.policy import AnnPolicy
from snnrl.agents.recipe import Recipe, RecipeBuilder
from snnrl.agents.zoo import load_teacher
from snnrl.results import write_result

CANDIDATES = {"rounds3-epochs4-lr1e-4": DistillationConfig(rounds=3, epochs=4, lr=1e-4),
              "rounds6-epochs8-lr1e-4": DistillationConfig(rounds=6, epochs=8, lr=1e-4),
              "rounds3-epochs4-lr3e-4": DistillationConfig(rounds=3, epochs=4, lr=3e-4),
              "rounds3-epochs16-lr3e-4": DistillationConfig(rounds=3, epochs=16, lr=3e-4),
              "rounds3-epochs32-lr3e-4": DistillationConfig(rounds=3, epochs=32, lr=3e-4)}
OUT = Path(__file__).resolve().parent / "results" / "fidelity" / "distillation_budget.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teachers", nargs="*", default=["td3-halfcheetah", "td3-walker2d"])
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.teachers:
        actor, entry = load_teacher(name)
        env = entry["env_id"]
        ann = float(np.mean([e.episode_return for e in run_episodes(AnnPolicy(actor, metering=False), env,
                                                                    episodes=30, seed=100)]))
        for label, config in CANDIDATES.items():
            start = time.perf_counter()
            builder = RecipeBuilder(actor, env, distillation=config)
            policy = builder.policy(Recipe("mse", "spiking"), args.timesteps, metering=False)
            ret = float(np.mean([e.episode_return for e in run_episodes(policy, env, episodes=30, seed=100)]))
            rows.append({"teacher": name, "candidate": label, "config": asdict(config), "tuning_return": ret,
                         "ann_tuning_return": ann, "share": ret / ann, "wall_s": time.perf_counter() - start})
            print(f"{name} {label}: {ret:.4g} ({100 * ret / ann:.1f}% of the ANN's {ann:.4g})", flush=True)
    scores = {label: float(np.mean([r["share"] for r in rows if r["candidate"] == label])) for label in CANDIDATES}
    chosen = max(CANDIDATES, key=lambda label: scores[label])
    print(f"chosen: {chosen} (mean share {scores[chosen]:.3f})")
    write_result(args.out, "distillation_budget",
                 config={"teachers": args.teachers, "timesteps": args.timesteps, "tuning_seeds": [100, 129],
                         "rule": "highest mean tuning return / ANN tuning return, averaged over the teachers"},
                 raw=rows, summary={"scores": scores, "chosen": chosen})
    return 0


if __name__ == "__main__":
    sys.exit(main())
