"""Frames of a spiking rollout on a pixel task: what a converted CNN saw, and how its actions track the ANN's.

For a pixel teacher of the zoo whose fidelity protocol has run (``benchmarks/results/pixel-fidelity/NAME.json``,
:mod:`benchmarks.conversion_fidelity` ``--protocol``), this rebuilds that run's CRPI-alone policy at ``--timesteps``
(max thresholds from the same calibration rollouts, ``alpha`` as tuned on the tuning seeds: no new choice is made
here), plays one episode on seed 0 (a reported seed) and draws ``--frames`` of the frames it acted on (the newest
of each 3-frame stack, 84x84) above its actions and the ANN's actions on the same observations.

Usage::

    .venv/bin/python benchmarks/pixel_frames.py pixel-td3-invertedpendulum       # -> results/plots/pixel_rollout.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from snnrl.agents.policy import AnnPolicy
from snnrl.agents.recipe import Recipe, RecipeBuilder
from snnrl.agents.zoo import load_teacher
from snnrl.io import atomic_write_bytes
from snnrl.reports.output import figure_png, pyplot

RESULTS = Path(__file__).resolve().parent / "results"


def rollout(policy, teacher: AnnPolicy, env_id: str, *, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray,
                                                                               np.ndarray, float]:
    """One episode of ``policy``: the frames it saw, its actions, the teacher's actions there, the return."""
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids)

    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    frames, actions, labels, total, state, start = [], [], [], 0.0, None, np.ones(1, bool)
    done = False
    while not done:
        action, state = policy.predict(obs[None], state, start)
        label, _ = teacher.predict(obs[None])
        frames.append(obs[-3:].transpose(1, 2, 0).copy())
        actions.append(action[0])
        labels.append(label[0])
        obs, reward, terminated, truncated, _ = env.step(action[0])
        total += float(reward)
        done, start = terminated or truncated, np.zeros(1, bool)
    env.close()
    return frames, np.array(actions), np.array(labels), total


def strip_png(frames: list[np.ndarray], actions: np.ndarray, labels: np.ndarray, *, count: int, window: int,
              title: str) -> bytes:
    """``count`` frames spread over the first ``window`` steps, above both policies' actions there."""
    plt = pyplot()
    window = min(window, len(frames))
    actions, labels = actions[:window], labels[:window]
    picks = np.linspace(0, window - 1, count).round().astype(int)
    fig = plt.figure(figsize=(1.6 * count, 3.6), dpi=120)
    grid = fig.add_gridspec(2, count, height_ratios=[1, 0.9])
    for i, k in enumerate(picks):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[k], interpolation="nearest")
        ax.set_title(f"step {k}", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    steps = np.arange(len(actions))
    for d in range(actions.shape[1]):
        ax.plot(steps, labels[:, d], color=f"C{d}", lw=1.2, alpha=0.5, label=f"ANN a[{d}]")
        ax.plot(steps, actions[:, d], color=f"C{d}", lw=0.8, ls="--", label=f"SNN a[{d}]")
    ax.vlines(picks, *ax.get_ylim(), color="0.7", lw=0.5)
    ax.set_xlabel("agent step")
    ax.legend(fontsize=7, ncol=2 * actions.shape[1], loc="upper right")
    fig.suptitle(title, fontsize=9)
    return figure_png(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", nargs="?", default="pixel-td3-invertedpendulum", help="a pixel teacher of the zoo")
    parser.add_argument("--timesteps", type=int, default=8, help="T of the protocol's row to draw")
    parser.add_argument("--frames", type=int, default=6, help="frames in the strip")
    parser.add_argument("--window", type=int, default=120, help="first steps drawn (frames and actions)")
    parser.add_argument("--out", type=Path, default=RESULTS / "plots" / "pixel_rollout.png")
    args = parser.parse_args(argv)
    path = RESULTS / "pixel-fidelity" / f"{args.teacher}.json"
    if not path.exists():
        parser.error(f"no fidelity protocol for {args.teacher!r} ({path.name} missing): run "
                     f"benchmarks/conversion_fidelity.py --protocol {args.teacher} --out {path.parent} first.")
    if args.frames < 2 or args.window < args.frames:
        parser.error(f"--frames {args.frames} --window {args.window}: draw at least 2 frames, within a window at "
                     "least as long.")
    doc = json.loads(path.read_text(encoding="utf-8"))
    blocks = {b["timesteps"]: b for b in doc["per_timesteps"]}
    if args.timesteps not in blocks:
        parser.error(f"--timesteps {args.timesteps}: the protocol ran T in {sorted(blocks)}; pick one of those.")
    torch.set_num_threads(1)
    alpha = blocks[args.timesteps]["rows"]["crpi"]["alpha"]
    actor, entry = load_teacher(args.teacher)
    builder = RecipeBuilder(actor, entry["env_id"], calibration_steps=doc["config"]["calibration_steps"])
    policy = builder.policy(Recipe(alpha=alpha), args.timesteps, metering=False)
    frames, actions, labels, total = rollout(policy, AnnPolicy(actor, metering=False), entry["env_id"])
    title = (f"{args.teacher}: spiking CNN (CRPI α={alpha:g}, T={args.timesteps}) on {entry['env_id']}, seed 0:\n"
             f"return {total:.4g} (ANN on seeds 0-{doc['config']['episodes'] - 1}: {doc['ann']['return_mean']:.4g})")
    atomic_write_bytes(args.out, strip_png(frames, actions, labels, count=args.frames, window=args.window,
                                                 title=title))
    print(f"{title}\n-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
