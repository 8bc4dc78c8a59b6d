"""How a pixel teacher's CNN is fitted: the fit settings of :class:`~snnrl.agents.pixel_teacher.PixelDistillationConfig`
(epochs, learning rate and schedule, the auxiliary state loss, random shifts), chosen on held-out frames.

For a state teacher of the zoo (default ``td3-halfcheetah``), frames of its pixel env (action repeat 1) are rendered
while the state teacher acts with Gaussian action noise (std 0.1 of the half range, so the states spread as a
student's do): 6,000 training frames from episodes seeded 40,000+ and 1,500 validation frames from episodes seeded
41,000+ (disjoint from every other seed range of the toolkit, and from the 1000+ evaluation episodes of
``benchmarks/pixel_teachers.py``). Each candidate fits a fresh CNN (same weights seed) on the training frames; the
rule: the lowest mean squared action error (actions scaled to [-1, 1]) on the validation frames, where fits within
``TIE`` (0.005) of the lowest count as equal and the cheapest of them wins (fewest epochs x CNN weights; then the lower
error), since every DAgger round of a pixel teacher pays for its fit. Writes ``benchmarks/results/pixel_fit.json``.

Usage::

    .venv/bin/python benchmarks/pixel_fit.py                       # td3-halfcheetah, about 25 min on one core
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from snnrl.agents.pixel_teacher import PixelDistillationConfig, labelled_rollout, pixel_student, refit
from snnrl.agents.zoo import load_teacher, not_state_teacher
from snnrl.envs.pixels import camera_kwargs, pixel_env_id, scene_flags
from snnrl.results import write_result

OUT = Path(__file__).resolve().parent / "results" / "pixel_fit.json"
TRAIN_SEED, TRAIN_FRAMES, VALIDATION_SEED, VALIDATION_FRAMES, NOISE = 40_000, 6000, 41_000, 1500, 0.1
TIE = 0.005
RULE = (f"the lowest mean squared action error (actions scaled to [-1, 1]) on the validation frames; fits within {TIE} "
        "of the lowest are equal and the cheapest of them (fewest epochs x CNN weights, then the lower error) wins")
_BASE = replace(PixelDistillationConfig(), batch_size=64, channels=(16, 32, 32), hidden=256, kernels=(8, 4, 3),
                strides=(4, 2, 1), shift=0)       # NatureCNN's layout, named whole so a moved default moves no row
_FINE = {"kernels": (4, 4, 3), "strides": (2, 2, 1)}
CANDIDATES = {
    "epochs4-lr3e-4-constant": replace(_BASE, epochs=4, lr=3e-4, lr_schedule="constant", state_weight=0.0),
    "epochs16-lr1e-3-cosine": replace(_BASE, epochs=16, lr=1e-3, lr_schedule="cosine", state_weight=0.0),
    "epochs16-lr1e-3-cosine-state1": replace(_BASE, epochs=16, lr=1e-3, lr_schedule="cosine", state_weight=1.0),
    "epochs16-lr1e-3-cosine-state3": replace(_BASE, epochs=16, lr=1e-3, lr_schedule="cosine", state_weight=3.0),
    "epochs16-lr1e-3-cosine-state1-shift4": replace(_BASE, epochs=16, lr=1e-3, lr_schedule="cosine",
                                                    state_weight=1.0, shift=4),
    "epochs32-lr1e-3-cosine-state1": replace(_BASE, epochs=32, lr=1e-3, lr_schedule="cosine", state_weight=1.0),
    "epochs16-lr1e-3-cosine-state1-wide": replace(_BASE, epochs=16, lr=1e-3, lr_schedule="cosine", state_weight=1.0,
                                                  channels=(32, 64, 64), hidden=512),
    "epochs16-lr1e-3-cosine-state1-fine": replace(_BASE, epochs=16, lr=1e-3, lr_schedule="cosine", state_weight=1.0,
                                                  **_FINE),
    "epochs32-lr1e-3-cosine-state1-fine": replace(_BASE, epochs=32, lr=1e-3, lr_schedule="cosine", state_weight=1.0,
                                                  **_FINE)}
"""The fit of the first pixel teachers (4 epochs, constant 3e-4, actions only), longer fits with and without the
state loss and DrQ's random shift, twice the epochs, a CNN twice as wide (channels 32/64/64, Linear 512), and one
with feature maps twice as fine (kernels 4/4/3, strides 2/2/1, ``-fine``); every label names its whole fit (the
unnamed layout is NatureCNN's, 16/32/32 channels and Linear 256; batch 64, no shift unless named)."""


def chosen_fit(rows: dict[str, dict]) -> str:
    """The fit the rule (:data:`RULE`) picks from rows with ``validation_mse`` and ``cost``."""
    best = min(row["validation_mse"] for row in rows.values())
    return min((k for k in rows if rows[k]["validation_mse"] <= best + TIE),
               key=lambda k: (rows[k]["cost"], rows[k]["validation_mse"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("teacher", nargs="?", default="td3-halfcheetah", help="a state teacher of the zoo")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if (problem := not_state_teacher([args.teacher])) is not None:
        p.error(problem)
    teacher, entry = load_teacher(args.teacher)
    torch.set_num_threads(1)
    env_id = pixel_env_id(entry["env_id"], 1)
    noise = np.random.default_rng(TRAIN_SEED)

    def noisy_teacher(frames: np.ndarray, states: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            action = teacher(torch.from_numpy(states)).numpy()
        half = (teacher.action_high - teacher.action_low).numpy() / 2
        return np.clip(action + NOISE * half * noise.standard_normal(action.shape),
                       teacher.action_low.numpy(), teacher.action_high.numpy())

    start = time.perf_counter()
    train = labelled_rollout(noisy_teacher, teacher, env_id, steps=TRAIN_FRAMES, envs=_BASE.envs, seed=TRAIN_SEED)
    frames, labels, _ = labelled_rollout(noisy_teacher, teacher, env_id, steps=VALIDATION_FRAMES, envs=_BASE.envs,
                                         seed=VALIDATION_SEED)
    print(f"{args.teacher}: rendered {TRAIN_FRAMES} + {VALIDATION_FRAMES} frames in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    scale = (teacher.action_high - teacher.action_low) / 2
    rows = {}
    for name, config in CANDIDATES.items():
        began = time.perf_counter()
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        student = pixel_student(teacher, tuple(frames.shape[1:]), env_id, config, generator)
        refit(student, teacher, *train, config, generator)
        student.eval()
        with torch.no_grad():
            error = torch.cat([student(frames[i:i + 500]) - labels[i:i + 500] for i in range(0, len(frames), 500)])
            train_error = torch.cat([student(train[0][i:i + 500]) - train[1][i:i + 500] for i in range(0, 1500, 500)])
        rows[name] = {"config": asdict(config), "validation_mse": float(((error / scale) ** 2).mean()),
                      "cost": config.epochs * sum(p.numel() for p in student.parameters()),
                      "train_mse_first_1500": float(((train_error / scale) ** 2).mean()),
                      "fit_s": time.perf_counter() - began}
        row = rows[name]
        print(f"{name}: validation MSE {row['validation_mse']:.4f} (train {row['train_mse_first_1500']:.4f}, "
              f"{row['fit_s']:.0f} s)", flush=True)
    chosen = chosen_fit(rows)
    print(f"chosen: {chosen}", flush=True)
    write_result(args.out, benchmark="pixel-fit",
                 config={"teacher": args.teacher, "env_id": env_id, "camera": camera_kwargs(env_id),
                         "scene": scene_flags(env_id), "train_seed": TRAIN_SEED, "train_frames": TRAIN_FRAMES,
                         "validation_seed": VALIDATION_SEED, "validation_frames": VALIDATION_FRAMES,
                         "action_noise": NOISE,
                         "rule": RULE},
                 raw=rows, summary={"chosen": chosen, **{k: r["validation_mse"] for k, r in rows.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
