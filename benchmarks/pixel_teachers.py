"""Pixel teachers: distil a state teacher of the zoo into a CNN actor on rendered frames (DAgger), evaluate it on
fresh episodes beside its state teacher, and add it to the zoo when it keeps >= 80% of the state teacher's margin
over the zero action (the fidelity score, :func:`snnrl.sweeps.statistics.fidelity_score`).

For each state teacher ``NAME`` (default ``td3-invertedpendulum``) the CNN acts in
``snnrl/<Task>PixelsRepeat1-v5`` (84x84, 3 frames, every step: the control rate its state teacher was trained at;
``--action-repeat 2`` for DrQ-v2's, at which td3-invertedpendulum itself falls; :mod:`snnrl.envs.pixels`) and is
distilled by
:func:`snnrl.agents.pixel_teacher.distill_pixel_actor` at its defaults (rollout seeds 30,000+). Evaluation: 10
episodes seeded 1000-1009 (the zoo's evaluation seeds), the CNN in the pixel env and the state teacher in the state
env from the same initial states, and the zero action as reference. The CNN is cached in ``--work-dir`` (a rerun
only evaluates; a killed distillation resumes from its last round, saved beside it). Writes
``benchmarks/results/pixel_teachers.json`` (``--out``) and, for CNNs that pass, the zoo entry ``pixel-NAME``
(``snnrl/zoo``).

Usage::

    .venv/bin/python benchmarks/pixel_teachers.py                                   # td3-invertedpendulum
    .venv/bin/python benchmarks/pixel_teachers.py td3-reacher --rounds 6 --rollout-steps 6000   # a larger budget
    .venv/bin/python benchmarks/pixel_teachers.py td3-halfcheetah --rounds 8 --rollout-steps 6000 --shift 4
    .venv/bin/python benchmarks/pixel_teachers.py td3-halfcheetah --kernels 8 4 3 --strides 4 2 1  # NatureCNN's

A CNN distilled with other settings than the cached one (``--rounds``, ``--rollout-steps``, ``--epochs``,
``--shift``, ``--kernels``, ``--strides`` or the defaults of
:class:`~snnrl.agents.pixel_teacher.PixelDistillationConfig`), or on frames of another view or rendering
(:func:`snnrl.envs.pixels.camera_kwargs`, :func:`snnrl.envs.pixels.scene_flags`), is distilled again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from snnrl.agents.actor import load_actor, save_actor
from snnrl.agents.evaluation import run_episodes
from snnrl.agents.pixel_teacher import PixelDistillationConfig, distill_pixel_actor
from snnrl.agents.policy import AnnPolicy, ConstantPolicy
from snnrl.agents.zoo import add_to_zoo, load_teacher, not_state_teacher
from snnrl.envs.pixels import camera_kwargs, pixel_env_id, scene_flags
from snnrl.io import atomic_write_json, snnrl_home
from snnrl.results import load_result, write_result
from snnrl.sweeps.statistics import fidelity_score

RESULTS = Path(__file__).resolve().parent / "results" / "pixel_teachers.json"
WORK = snnrl_home() / "pixel-teachers"
BAR = 0.8
EVAL_SEED, EVAL_EPISODES = 1000, 10


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("teachers", nargs="*", default=["td3-invertedpendulum"], help="state teachers of the zoo")
    p.add_argument("--work-dir", type=Path, default=WORK)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--no-zoo", action="store_true", help="do not add passing CNNs to the zoo")
    p.add_argument("--action-repeat", type=int, choices=(1, 2), default=1)
    defaults = PixelDistillationConfig()
    p.add_argument("--rounds", type=int, default=defaults.rounds, help="DAgger rounds (a budget)")
    p.add_argument("--rollout-steps", type=int, default=defaults.rollout_steps, help="CNN steps per DAgger round")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the frames per fit (a budget)")
    p.add_argument("--shift", type=int, default=defaults.shift,
                   help="random-shift augmentation of the fits, in pixels (DrQ: 4; default %(default)s)")
    p.add_argument("--kernels", type=int, nargs=3, default=defaults.kernels, metavar="K",
                   help="kernel sizes of the three convs (default %(default)s; NatureCNN's: 8 4 3)")
    p.add_argument("--strides", type=int, nargs=3, default=defaults.strides, metavar="S",
                   help="strides of the three convs (default %(default)s; NatureCNN's: 4 2 1)")
    args = p.parse_args(argv)
    for flag, values in (("--kernels", args.kernels), ("--strides", args.strides)):
        if min(values) < 1:
            p.error(f"{flag} {' '.join(map(str, values))}: each must be >= 1.")
    for flag, value, least in (("--rounds", args.rounds, 1), ("--rollout-steps", args.rollout_steps, 1),
                               ("--epochs", args.epochs, 1), ("--shift", args.shift, 0)):
        if value < least:
            p.error(f"{flag} {value}: must be >= {least}.")
    if (problem := not_state_teacher(args.teachers)) is not None:
        p.error(problem)
    torch.set_num_threads(1)
    config = replace(defaults, rounds=args.rounds, rollout_steps=args.rollout_steps, epochs=args.epochs,
                     shift=args.shift, kernels=tuple(args.kernels), strides=tuple(args.strides))
    for name in args.teachers:
        teacher, entry = load_teacher(name)
        env_id = pixel_env_id(entry["env_id"], args.action_repeat)
        cached = args.work_dir / f"pixel-{name}-repeat{args.action_repeat}.pt"
        start = time.perf_counter()
        cnn, meta = load_actor(cached) if cached.exists() else (None, {})
        setting = {"config": asdict(config), "camera": camera_kwargs(env_id),   # what the CNN was distilled on
                   "scene": scene_flags(env_id)}
        if cnn is not None and json.dumps({k: meta.get(k) for k in setting}) == json.dumps(setting):
            wall = meta.get("distillation_wall_s")                       # same budget and view: reuse
        else:
            budget = hashlib.sha256(json.dumps(setting).encode()).hexdigest()[:8]
            rounds = args.work_dir / f"pixel-{name}-repeat{args.action_repeat}-rounds-{budget}"   # resumable
            clock = rounds / "elapsed.json"                              # wall time of earlier, killed runs
            before = json.loads(clock.read_text())["wall_s"] if clock.exists() else 0.0

            def progress(line: str, name: str = name, clock: Path = clock, before: float = before) -> None:
                print(f"{name}: {line}", flush=True)
                atomic_write_json(clock, {"wall_s": before + time.perf_counter() - start})
            cnn = distill_pixel_actor(teacher, env_id, config, checkpoint_dir=rounds, progress=progress)
            wall = before + time.perf_counter() - start
            save_actor(cached, cnn, meta={"state_teacher": name, **setting, "distillation_wall_s": wall})
            shutil.rmtree(rounds)
        evaluate = dict(episodes=EVAL_EPISODES, seed=EVAL_SEED)
        pixel = [e.episode_return for e in run_episodes(AnnPolicy(cnn, metering=False), env_id, **evaluate)]
        state = [e.episode_return for e in run_episodes(AnnPolicy(teacher, metering=False), entry["env_id"],
                                                        **evaluate)]
        zero = [e.episode_return for e in run_episodes(ConstantPolicy(teacher.action_dim, teacher.obs_dim),
                                                       entry["env_id"], **evaluate)]
        share = fidelity_score(float(np.mean(pixel)), float(np.mean(state)), float(np.mean(zero)))
        row = {"state_teacher": name, "env_id": env_id, "action_repeat": args.action_repeat, "pixel_returns": pixel,
               "state_returns": state,
               "zero_returns": zero, "pixel_return_mean": float(np.mean(pixel)),
               "state_return_mean": float(np.mean(state)), "return_ratio": float(np.mean(pixel) / np.mean(state)),
               "share_of_margin": share, "passed": share is not None and share >= BAR,
               "distillation_wall_s": wall, "config": asdict(config), "camera": setting["camera"],
               "scene": setting["scene"]}
        key = f"pixel-{name}" if args.action_repeat == 1 else f"pixel-{name}-repeat{args.action_repeat}"
        write_row(args.out, key, row)
        print(f"{key}: CNN {row['pixel_return_mean']:.4g} vs state teacher {row['state_return_mean']:.4g}, zero action "
              f"{np.mean(zero):.4g}: keeps {'-' if share is None else format(100 * share, '.1f')}% of the margin",
              flush=True)
        if row["passed"] and not args.no_zoo:
            add_to_zoo(key, cnn, {
                "algo": "DAgger", "env_id": env_id, "state_teacher": name, "obs_shape": list(cnn.obs_shape),
                "camera": setting["camera"], "scene": setting["scene"],
                "frames": config.teacher_steps + config.rounds * config.rollout_steps, "seed": config.seed,
                "target_return": float(np.mean(zero)) + BAR * (row["state_return_mean"] - float(np.mean(zero))),
                "return_mean": row["pixel_return_mean"],
                "return_std": float(np.std(pixel)), "eval_episodes": EVAL_EPISODES, "eval_seed": EVAL_SEED,
                "state_teacher_return_mean": row["state_return_mean"]})
    return 0


def write_row(out: Path, key: str, row: dict) -> None:
    """Add one CNN's row to ``out``, read again just before the write so that runs on other teachers that finished
    in the meantime keep theirs (each row is written as soon as its CNN is evaluated)."""
    rows = dict(load_result(out, benchmark="pixel-teachers")["raw"]) if out.exists() else {}
    rows[key] = row
    write_result(out, benchmark="pixel-teachers",
                 config={"bar": BAR, "eval_seed": EVAL_SEED, "eval_episodes": EVAL_EPISODES,
                         "rule": "the CNN keeps >= 80% of the state teacher's margin over the zero action on the "
                                 "same seeds (fidelity score; right for negative rewards)"},
                 raw=rows, summary={k: {"return_ratio": r["return_ratio"], "passed": r["passed"]}
                                    for k, r in rows.items()})


if __name__ == "__main__":
    sys.exit(main())
