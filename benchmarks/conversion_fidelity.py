"""Benchmark 1 (benchmarks.md): conversion fidelity of every zoo teacher.

For each teacher: ANN, SNN without CRPI and SNN+CRPI (alpha sweep) over T in {1, 2, 4, 8, 16, 32}, >= 10 seeded
episodes each; return ratio SNN/ANN, lag-1 autocorrelation of the action error, energy per decision. Writes
``benchmarks/results/conversion/<teacher>/`` (results.json with schema version, config, seed, versions, machine
info, raw per-episode numbers and the summary; CSV; return-ratio plot; per-episode energy CSV).

Usage::

    .venv/bin/python benchmarks/conversion_fidelity.py                 # every teacher in the zoo
    .venv/bin/python benchmarks/conversion_fidelity.py td3-hopper --timesteps 4 8 16
    .venv/bin/python benchmarks/conversion_fidelity.py td3-halfcheetah --timesteps 4 8 16 --threshold-scale 0.6

A ``--threshold-scale`` other than 1 writes to ``<teacher>-threshold<scale>/`` beside the reference calibration.

``--protocol`` runs the tuned fidelity protocol instead (:mod:`snnrl.sweeps.fidelity`: every knob chosen on
episodes seeded 100-129, rows reported on seeds 0-29, fidelity score against the zero action) and writes
``benchmarks/results/fidelity/<teacher>.json``; a teacher whose file exists is skipped (resume), ``--force``
re-runs it; each finished ``T`` is checkpointed in ``<teacher>.json.partial``, from which a killed run resumes
when run again with the same flags (``--force`` included; under ``--force`` a partial file of other flags is replaced);
``--extend`` adds the ``T`` a finished file lacks (the same flags otherwise) and keeps the ones it has::

    .venv/bin/python benchmarks/conversion_fidelity.py --protocol                 # every teacher, T 2 4 8 16
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from snnrl.agents.conversion import ConversionConfig
from snnrl.io import atomic_write_json
from snnrl.reports.conversion import format_summary, write_reports
from snnrl.sweeps.evaluator import run_sweep
from snnrl.sweeps.fidelity import ABLATION
from snnrl.sweeps.jobs import SweepConfig
from snnrl.sweeps.statistics import summarise
from snnrl.agents.zoo import list_teachers, load_teacher

RESULTS = Path(__file__).resolve().parent / "results" / "conversion"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teachers", nargs="*", help="zoo names (default: all)")
    parser.add_argument("--timesteps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold-scale", type=float, default=1.0,
                        help="multiply the calibrated per-neuron max thresholds (see ConversionConfig)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/results/conversion, or .../fidelity with --protocol)")
    parser.add_argument("--protocol", action="store_true", help="the tuned fidelity protocol (module docstring)")
    parser.add_argument("--tuning-seed", type=int, default=100, help="--protocol: first tuning seed")
    parser.add_argument("--tuning-episodes", type=int, default=None,
                        help="--protocol: episodes per tuning candidate (default: as many as reported)")
    parser.add_argument("--ablation", nargs="*", default=None, choices=sorted(ABLATION), metavar="ROW",
                        help="--protocol: one-ingredient rows beside crpi and recipe (default: all of ABLATION)")
    parser.add_argument("--force", action="store_true", help="--protocol: re-run teachers that have a file")
    parser.add_argument("--extend", action="store_true",
                        help="--protocol: add the --timesteps a finished file lacks (same flags), keep the rest")
    parser.add_argument("--calibration-steps", type=int, default=10_000,
                        help="--protocol: teacher steps whose states calibrate (a budget, not a tuned knob)")
    parser.add_argument("--distill-rounds", type=int, default=None,
                        help="--protocol: DAgger rounds (default DistillationConfig's; a budget for pixel teachers)")
    parser.add_argument("--distill-rollout-steps", type=int, default=None, help="--protocol: steps per DAgger round")
    args = parser.parse_args(argv)
    if args.force and args.extend:
        parser.error("--force and --extend: give one (--force measures every T afresh, --extend keeps a file's T)")
    torch.set_num_threads(1)
    names = args.teachers or sorted(list_teachers())
    if args.protocol:
        return _protocol(names, args)
    args.out = args.out or RESULTS
    for name in names:
        actor, entry = load_teacher(name)
        config = SweepConfig(timesteps=tuple(args.timesteps), alphas=tuple(args.alphas), episodes=args.episodes,
                             seed=args.seed,
                             conversion=ConversionConfig(seed=args.seed, threshold_scale=args.threshold_scale))
        results, calibration = run_sweep(actor, entry["env_id"], config)
        folder = name if args.threshold_scale == 1.0 else f"{name}-threshold{args.threshold_scale:g}"
        write_reports(args.out / folder, results, teacher=name, env_id=entry["env_id"], config=config,
                      calibration=calibration, extra={"benchmark": "conversion_fidelity", "zoo_entry": entry})
        print(f"\n{name} ({entry['env_id']}):\n{format_summary(summarise(results))}", flush=True)
    return 0


def _protocol(names: list[str], args: argparse.Namespace) -> int:
    from snnrl.reports.fidelity import format_fidelity, write_fidelity_document
    from snnrl.sweeps.fidelity import FidelityConfig, resumable, run_fidelity_protocol

    out = args.out or RESULTS.parent / "fidelity"
    episodes = 30 if args.episodes == 10 else args.episodes     # the protocol's default is the reference's 30
    timesteps = (2, 4, 8, 16) if args.timesteps == [1, 2, 4, 8, 16, 32] else tuple(args.timesteps)
    from dataclasses import replace

    from snnrl.agents.distillation import DistillationConfig

    budget = {k: v for k, v in (("rounds", args.distill_rounds), ("rollout_steps", args.distill_rollout_steps))
              if v is not None}
    config = FidelityConfig(timesteps=timesteps, episodes=episodes, seed=args.seed,
                            tuning_episodes=args.tuning_episodes or episodes, tuning_seed=args.tuning_seed,
                            calibration_steps=args.calibration_steps, distillation=replace(DistillationConfig(), **budget),
                            ablation=None if args.ablation is None else tuple(args.ablation))
    for name in names:
        path = out / f"{name}.json"
        if path.exists() and not args.force and not args.extend:
            print(f"{name}: {path} exists, skipped (--force re-runs it, --extend adds the T it lacks)")
            continue
        actor, entry = load_teacher(name)
        partial = out / f"{name}.json.partial"                  # finished T of an interrupted run (resumed)
        source = path if args.extend and path.exists() and not partial.exists() else partial   # --extend: keep its T
        resume = json.loads(source.read_text(encoding="utf-8")) if source.exists() else None
        if resume is not None and not resumable(resume, entry["env_id"], config):
            if not (args.force and source == partial):
                print(f"{source}: measured with another config; give the same flags, or --force to start afresh",
                      file=sys.stderr)
                return 2
            print(f"{name}: {partial} was measured with another config; starting afresh (--force)")
            resume = None
        if resume is not None:
            print(f"{name}: resuming {source} (T = {[b['timesteps'] for b in resume['per_timesteps']]} done)")
        doc = run_fidelity_protocol(actor, entry["env_id"], config, resume=resume,
                                    on_block=lambda d, partial=partial: atomic_write_json(partial, d),
                                    on_row=lambda t, row, r, name=name: print(
            f"{name} T={t} {row:8s} {r['recipe']:28s} return {r['return_mean']:10.4g} fidelity "
            f"{'-' if r['fidelity'] is None else format(r['fidelity'], '.3f')}", flush=True))
        write_fidelity_document(path, doc, teacher=name, extra={"benchmark": "conversion_fidelity --protocol",
                                                                "zoo_entry": entry})
        partial.unlink(missing_ok=True)
        print(format_fidelity(doc, teacher=name), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
