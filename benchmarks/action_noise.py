"""How much action error a teacher tolerates: its ANN with Gaussian action noise, against the spiking recipe.

The fidelity protocol (``benchmarks/conversion_fidelity.py --protocol``) reports each recipe's RMS action error
against the ANN and the share of the ANN's margin it keeps. This benchmark asks the teacher the converse: the ANN
itself acts, with independent Gaussian noise of standard deviation ``sigma`` (in action units) added to every action
dimension and the sum clipped to the action bounds, on the same 30 episodes (seeds 0-29) as the protocol's rows.
The noise levels are fixed ones (:data:`SIGMAS`, fractions of half the action range) plus the recipe's own RMS
error at every T of the teacher's fidelity file, so a row shows what an error of that size costs this teacher when
it carries no bias and no correlation over time (the recipe's errors are close to white: its lag-1
autocorrelation is in the same file). Nothing here is tuned; the fidelity score uses the protocol file's
zero-action returns on the same seeds.

Writes ``benchmarks/results/fidelity/action_noise.json``.

Usage::

    .venv/bin/python benchmarks/action_noise.py                       # every teacher with a fidelity file
    .venv/bin/python benchmarks/action_noise.py td3-halfcheetah td3-hopper     # the others' rows kept
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "fidelity"
SIGMAS = (0.05, 0.1, 0.2)
"""Fixed noise levels, as fractions of half the action range (the recipe's levels are its RMS error, in action units)."""
EPISODES, SEED, NOISE_SEED = 30, 0, 7


class NoisyPolicy:
    """``policy``'s actions plus ``N(0, sigma^2)`` per dimension, clipped to ``[low, high]`` (SB3's ``predict``)."""

    def __init__(self, policy, sigma: float, low: np.ndarray, high: np.ndarray, seed: int) -> None:
        self.policy, self.sigma, self.low, self.high = policy, sigma, low, high
        self.rng = np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        actions, state = self.policy.predict(observation, state, episode_start, deterministic)
        noisy = actions + self.sigma * self.rng.standard_normal(np.shape(actions))
        return np.clip(noisy, self.low, self.high).astype(np.float32), state


def measure(name: str, fidelity_doc: dict) -> dict:
    """Rows of one teacher: the ANN at every noise level, beside the recipe's fidelity at the matching T."""
    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy
    from snnrl.agents.zoo import load_teacher

    actor, entry = load_teacher(name)
    zero = fidelity_doc["reference"]["return_mean"]
    ann = fidelity_doc["ann"]["return_mean"]
    recipe = {p["timesteps"]: p["rows"]["recipe"] for p in fidelity_doc["per_timesteps"]}
    half_range = float((actor.action_high - actor.action_low).mean()) / 2
    levels = [(f * half_range, None) for f in SIGMAS] + [(r["action_error_rms"], t) for t, r in sorted(recipe.items())]
    rows = []
    for sigma, timesteps in levels:
        policy = NoisyPolicy(AnnPolicy(actor, metering=False), sigma, actor.action_low.numpy(),
                             actor.action_high.numpy(), NOISE_SEED)
        start = time.perf_counter()
        episodes = run_episodes(policy, entry["env_id"], episodes=EPISODES, seed=SEED)
        returns = [e.episode_return for e in episodes]
        mean = float(np.mean(returns))
        row = {"sigma": sigma, "sigma_of_half_range": sigma / half_range, "matches_recipe_at_t": timesteps, "return_mean": mean,
               "return_std": float(np.std(returns)), "returns": returns,
               "full_episodes": int(sum(e.length >= fidelity_doc["time_limit"] for e in episodes)),
               "fidelity": (mean - zero) / (ann - zero), "wall_s": time.perf_counter() - start}
        if timesteps is not None:
            row["recipe"] = recipe[timesteps]["recipe"]
            row["recipe_fidelity"] = recipe[timesteps]["fidelity"]
        rows.append(row)
        print(f"{name} sigma {sigma:.3f}{'' if timesteps is None else f' (recipe T={timesteps})'}: "
              f"{mean:.5g}, fidelity {100 * row['fidelity']:.1f}%", flush=True)
    return {"teacher": name, "env_id": entry["env_id"], "ann_return": ann, "zero_action_return": zero,
            "teacher_sha256": entry.get("sha256"), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    import json

    import torch

    from snnrl.io import ArtifactError
    from snnrl.reports.schema import FIDELITY_KIND
    from snnrl.results import load_result, write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("teachers", nargs="*", help="zoo names (default: every teacher with a fidelity protocol file)")
    p.add_argument("--out", type=Path, default=RESULTS / "action_noise.json")
    args = p.parse_args(argv)
    docs = {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in sorted(RESULTS.glob("*.json"))}
    files = {name: doc for name, doc in docs.items() if doc.get("kind") == FIDELITY_KIND}
    names = args.teachers or list(files)
    missing = [n for n in names if n not in files]
    if missing:
        p.error(f"no fidelity protocol file for {', '.join(missing)} in {RESULTS}; run "
                f"`benchmarks/conversion_fidelity.py {missing[0]} --protocol` first, or name one of "
                f"{', '.join(files)}")
    torch.set_num_threads(1)
    kept = {}                                  # a teacher not named keeps its rows while its protocol file is unchanged
    if args.out.exists() and args.teachers:    # read (and checked) before any episode runs
        try:
            earlier = load_result(args.out, benchmark="action_noise")["summary"]
        except ArtifactError as exc:
            p.error(f"--out: {exc} Delete it, or name another --out.")
        for t in earlier:
            if t["teacher"] in files and t["teacher"] not in names and \
                    t["teacher_sha256"] == files[t["teacher"]]["zoo_entry"].get("sha256"):
                kept[t["teacher"]] = t
    measured = {n: measure(n, files[n]) for n in names}
    teachers = [{**kept, **measured}[n] for n in sorted({**kept, **measured})]
    write_result(args.out, benchmark="action_noise",
                 config={"sigmas": list(SIGMAS), "episodes": EPISODES, "seed": SEED, "noise_seed": NOISE_SEED,
                         "noise": "independent Gaussian per action dimension and step, clipped to the bounds"},
                 seed=SEED, raw={}, summary=teachers)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
