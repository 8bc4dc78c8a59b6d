"""Speed: wall time of a whole evaluation sweep on the spike-driven engine vs the torch reference path.

Runs ``snnrl evaluate TEACHER --timesteps 4 8 16 --episodes 10`` (the CLI, in a fresh process each time) with
``SNNRL_ENGINE=torch`` (every decision on the torch path, as before the engine) and ``SNNRL_ENGINE=auto`` (the
engine), alternating, ``--repeats`` times each; records each run's wall time and the returns it reports, and compares
the two engines' returns job by job (both paths act the same up to float32 rounding; closed-loop physics can amplify
a last-bit difference, so returns are compared, not asserted).

Writes ``benchmarks/results/speed/sweep_cost.json``.

Usage::

    .venv/bin/python benchmarks/sweep_cost.py
    .venv/bin/python benchmarks/sweep_cost.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.results import write_result

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "sweep_cost.json"


def run_sweep(command: list[str], engine: str, out: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``command`` under ``SNNRL_ENGINE=engine`` and the mean return of each job it reports."""
    env = dict(os.environ, SNNRL_ENGINE=engine, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run([*command, "--out", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    jobs = json.loads((out / "results.json").read_text())["jobs"]
    return seconds, {f"{j['policy']} T={j['timesteps']} alpha={j['alpha']}": float(j["return_mean"]) for j in jobs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="td3-hopper")
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2, help="runs per engine (alternating)")
    p.add_argument("--quick", action="store_true", help="T = 8, 2 episodes, 1 repeat (smoke run)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.timesteps, args.episodes, args.repeats = [8], 2, 1
    command = [sys.executable, "-m", "snnrl.cli", "evaluate", args.teacher, "--timesteps",
               *map(str, args.timesteps), "--episodes", str(args.episodes), "--no-progress"]
    times: dict[str, list[float]] = {"torch": [], "auto": []}
    returns: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for engine in ("torch", "auto"):
                seconds, rets = run_sweep(command, engine, Path(tmp) / f"{engine}-{repeat}")
                times[engine].append(seconds)
                returns[engine] = rets
                print(f"{engine:5s} run {repeat + 1}: {seconds:.1f} s", flush=True)
    shared = sorted(set(returns["torch"]) & set(returns["auto"]))
    diffs = {k: returns["auto"][k] - returns["torch"][k] for k in shared}
    summary: dict[str, Any] = {
        "wall_s": {k: float(np.median(v)) for k, v in times.items()},
        "engine_over_torch_path": float(np.median(times["auto"]) / np.median(times["torch"])),
        "jobs": len(shared),
        "max_abs_return_difference": max((abs(v) for v in diffs.values()), default=0.0),
        "jobs_with_equal_returns": sum(abs(v) < 1e-9 for v in diffs.values()),
    }
    print(f"sweep wall time: engine {summary['wall_s']['auto']:.1f} s vs torch path {summary['wall_s']['torch']:.1f} s "
          f"({summary['engine_over_torch_path']:.2f}x); returns equal on {summary['jobs_with_equal_returns']}/"
          f"{len(shared)} jobs, max difference {summary['max_abs_return_difference']:.3g}")
    config = {"command": " ".join(["snnrl", *command[3:]]), "teacher": args.teacher, "timesteps": args.timesteps,
              "episodes": args.episodes, "repeats": args.repeats, "quick": args.quick,
              "engines": {"torch": "SNNRL_ENGINE=torch", "auto": "SNNRL_ENGINE=auto (the spike-driven engine)"}}
    write_result(args.out, "sweep_cost", config=config, raw={"wall_s": times, "returns": returns, "diffs": diffs},
                 summary=summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
