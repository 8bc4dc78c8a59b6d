"""Benchmark: the same sweeps on the local backend (in-process, 2 processes) and on Ray — same numbers, wall times.

Evaluation sweep: td3-invertedpendulum and td3-inverteddoublependulum from the committed zoo, ANN and SNN at
T in {4, 8} without CRPI and with CRPI alpha in {0.5, 1.0} (7 jobs per teacher, 14 tasks), 3 seeded episodes of
full length (the environments' 1000-step limit), thresholds from 2000 calibration steps. Continual sweep:
split-digits, ER and DER++ with a 50-sample buffer, seeds 0 and 1 (4 runs, 5 experiences, the whole data set).

Backends: ``local`` with 1 worker (in this process), ``local`` with 2 workers (a process pool) and ``ray`` (a local
Ray instance on the loopback interface, 2 CPUs). Every backend runs with one torch thread per task (this process
too), so the numbers must be identical; ``summary.identical`` says whether they are. Wall times include the
thresholds' calibration (in this process) but not the start-up of the pool's workers or of the Ray instance
(reported apart); a worker's first task of a kind also pays its imports (torch, gymnasium, Avalanche). On a shared
machine they depend on its load (the 1-minute load average at each backend's start is recorded).

Usage::

    .venv/bin/python benchmarks/sweep_backends.py              # writes benchmarks/results/sweep_backends.json
    .venv/bin/python benchmarks/sweep_backends.py --episodes 1 --max-steps 200 --skip-ray   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

RESULT = Path(__file__).resolve().parent / "results" / "sweep_backends.json"
TEACHERS = ("td3-invertedpendulum", "td3-inverteddoublependulum")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def evaluation_numbers(sweeps: list, targets: list) -> list[dict[str, Any]]:
    """Per (teacher, job): everything measured except wall time (action errors as a digest)."""
    rows = []
    for target, (results, calibration) in zip(targets, sweeps):
        for r in results:
            rows.append({
                "teacher": target.name, "job": r.job.label, "threshold_mean": calibration["threshold_mean"],
                "returns": [e.episode_return for e in r.episodes], "lengths": [e.length for e in r.episodes],
                "energy_pj": [e.energy["energy_pj"] for e in r.episodes],
                "spikes": [e.energy["spikes"] for e in r.episodes],
                "action_error_rms": [e.action_error_rms for e in r.episodes],
                "action_error_lag1": [e.action_error_lag1 for e in r.episodes],
                "action_errors_sha256": [None if e.action_errors is None else
                                         hashlib.sha256(e.action_errors.tobytes()).hexdigest()[:16]
                                         for e in r.episodes],
            })
    return rows


def continual_numbers(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run: the accuracy matrices and final metrics (no wall times)."""
    keys = ("class_order", "class_il_matrix", "task_il_matrix", "class_il_accuracy", "task_il_accuracy",
            "class_il_forgetting", "class_il_bwt")
    return [{"run": f"{r['config']['strategy']}-b{r['config']['buffer_size']}-s{r['config']['seed']}",
             **{k: r[k] for k in keys}} for r in runs]


def run_backend(name: str, backend: Any, targets: list, eval_config: Any, continual_configs: list) -> dict[str, Any]:
    from snnrl.sweeps.continual import ContinualTask, run_continual_task
    from snnrl.sweeps.evaluator import run_sweeps

    load = os.getloadavg()[0]
    start = time.perf_counter()
    backend.map(abs, [0, -1], progress=False)  # start-up: the Ray instance, the pool's worker processes
    startup = time.perf_counter() - start
    start = time.perf_counter()
    sweeps = run_sweeps(targets, eval_config, backend=backend, progress=False)
    eval_wall = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="snnrl-sweep-backends-") as work:
        tasks = [ContinualTask(c, run_dir=str(Path(work) / c.label), resume=False) for c in continual_configs]
        start = time.perf_counter()
        runs = backend.map(run_continual_task, tasks, desc="continual", progress=False)
        continual_wall = time.perf_counter() - start
    evaluation, continual = evaluation_numbers(sweeps, targets), continual_numbers(runs)
    print(f"{name}: evaluation {eval_wall:.1f} s, continual {continual_wall:.1f} s (start-up {startup:.1f} s)",
          flush=True)
    return {"evaluation": evaluation, "continual": continual,
            "wall_s": {"startup": startup, "evaluation": eval_wall, "continual": continual_wall,
                       "evaluation_jobs": [r.wall_s for results, _ in sweeps for r in results],
                       "continual_runs": [r["wall_s"] for r in runs]},
            "digest": {"evaluation": _digest(evaluation), "continual": _digest(continual)},
            "load_average_1min_at_start": load}


def main(argv: list[str] | None = None) -> int:
    from snnrl.agents.conversion import ConversionConfig
    from snnrl.sweeps.evaluator import SweepTarget
    from snnrl.sweeps.jobs import SweepConfig
    from snnrl.agents.zoo import load_teacher
    from snnrl.backends import LocalBackend, RayBackend
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.results import write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=None, help="cap on episode length (default: the env's limit)")
    p.add_argument("--calibration-steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=2, help="continual seeds")
    p.add_argument("--skip-ray", action="store_true")
    p.add_argument("--out", type=Path, default=RESULT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as in every worker: the same arithmetic everywhere

    targets = []
    for name in TEACHERS:
        actor, entry = load_teacher(name)
        targets.append(SweepTarget(name, actor, entry["env_id"]))
    eval_config = SweepConfig(timesteps=(4, 8), alphas=(0.5, 1.0), episodes=args.episodes, seed=0,
                              max_steps=args.max_steps,
                              conversion=ConversionConfig(calibration_steps=args.calibration_steps))
    continual_configs = [ContinualConfig(benchmark="split-digits", strategy=strategy, buffer_size=50, seed=seed)
                         for strategy in ("er", "derpp") for seed in range(args.seeds)]
    backends: list[tuple[str, Any]] = [("local-1", LocalBackend(workers=1)), ("local-2", LocalBackend(workers=2))]
    if not args.skip_ray:
        backends.append(("ray", RayBackend(num_cpus=2)))
    raw = {}
    for name, backend in backends:
        try:
            raw[name] = run_backend(name, backend, targets, eval_config, continual_configs)
        finally:
            backend.close()

    reference = raw["local-1"]
    same = {name: {part: r[part] == reference[part] for part in ("evaluation", "continual")}
            for name, r in raw.items()}
    identical = all(all(v.values()) for v in same.values())
    summary: dict[str, Any] = {
        "identical": identical, "evaluation_jobs": len(reference["evaluation"]),
        "continual_runs": len(reference["continual"]),
        **{name: {"same_numbers_as_local_1": all(same[name].values()),
                  "evaluation_s": round(r["wall_s"]["evaluation"], 1),
                  "continual_s": round(r["wall_s"]["continual"], 1), "startup_s": round(r["wall_s"]["startup"], 1),
                  "load_average": round(r["load_average_1min_at_start"], 1)} for name, r in raw.items()},
        "evaluation_digest": reference["digest"]["evaluation"], "continual_digest": reference["digest"]["continual"],
        "mean_return": {teacher: {row["job"]: sum(row["returns"]) / len(row["returns"])
                                  for row in reference["evaluation"] if row["teacher"] == teacher}
                        for teacher in TEACHERS},
        "class_il_accuracy": {row["run"]: row["class_il_accuracy"] for row in reference["continual"]},
    }
    config = {"teachers": list(TEACHERS), "evaluation": asdict(eval_config),
              "continual": [asdict(c) for c in continual_configs], "backends": [name for name, _ in backends],
              "torch_threads_per_task": 1, "ray": "local instance, loopback only, 2 CPUs"}
    path = write_result(args.out, "sweep_backends", config=config, raw=raw, summary=summary, seed=0)
    for name in raw:
        row = summary[name]
        print(f"{name:8s} evaluation {row['evaluation_s']:7.1f} s  continual {row['continual_s']:7.1f} s  "
              f"(start-up {row['startup_s']:.1f} s, load {row['load_average']})  identical to local-1: {same[name]}")
    print(f"identical: {identical}; wrote {path}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
