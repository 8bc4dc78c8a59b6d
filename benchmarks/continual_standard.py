"""The standard class-incremental protocol with ANN twins in the same table: full training set, 5 x 2 classes,
1 epoch, batch 10, buffers 200 and 500, seeds 0-2.

Rows: Avalanche's own ``Naive`` / ``Replay`` / ``DER`` on an ANN MLP (:mod:`snnrl.continual.ann_baselines`), the
project's spiking Naive / ER / DER++ / STAER (an MLP of the chosen neuron) and their ANN twins (the same backbone,
strategies, data, class orders, seeds and budget with the neurons replaced by ReLUs, ``neuron="relu"``). The
optimizer, learning rate, STAER weights and timesteps of our runs are those ``benchmarks/continual_tuning.py`` chose
on a validation split held out of the training images (``tuning.json`` beside the summary; run it first); the
twins' learning rate is their own, chosen there too (``--twin``) when the file holds one, else the spiking choice's;
a buffer size tuned on its own there (``--buffer-stage``) runs every one of our strategies with its changes.
Nothing is chosen on the test set.
Runs checkpoint in ``--work-dir`` and resume; ``--workers`` runs them in a process pool. Writes
``benchmarks/results/continual-standard/<benchmark>/summary.json`` (CSV, heatmaps).

Usage::

    .venv/bin/python benchmarks/continual_tuning.py                                # split-mnist: tuning.json
    .venv/bin/python benchmarks/continual_standard.py --workers 2                  # split-mnist
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-fashion-mnist
    .venv/bin/python benchmarks/continual_standard.py --benchmark split-fashion-mnist
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from snnrl.io import snnrl_home

RESULTS = Path(__file__).resolve().parent / "results" / "continual-standard"
WORK = snnrl_home() / "runs" / "continual-standard"


def our_tasks(base, twin, summary: dict, buffer_sizes, seeds, work_dir: Path) -> list:
    """Our spiking runs (``base``) and their ANN twins (``twin``) as ``continual_grid`` tasks, strategy by strategy.

    A buffer size tuned on its own (``summary["chosen_by_buffer"]``, ``continual_tuning.py --buffer-stage``) runs
    with its changes, except that the twins keep the rate chosen for them (``summary["twin_chosen"]``). The rate, and
    a STAER weight that differs from the choice, go into the labels: a checkpoint of other settings in ``work_dir``
    is never resumed.
    """
    from snnrl.sweeps.continual import continual_grid

    by_buffer, twin_chosen = summary.get("chosen_by_buffer", {}), summary.get("twin_chosen", {})
    tasks = []
    for config in (base, twin):
        for strategy in ("naive", "er", "derpp", "staer"):
            for buffer in (buffer_sizes if strategy != "naive" else buffer_sizes[:1]):
                change = {k: v for k, v in by_buffer.get(str(buffer), {}).items()
                          if not (config is twin and k in twin_chosen)}
                run = replace(config, **change)
                beta = f"-beta{run.staer_beta:g}" if strategy == "staer" and run.staer_beta != base.staer_beta else ""
                tasks += continual_grid(run, strategies=[strategy], buffer_sizes=[buffer], seeds=seeds,
                                        out_dir=work_dir, tag=f"-lr{run.lr:g}{beta}")
    return tasks


def main(argv: list[str] | None = None) -> int:
    from snnrl.backends import LocalBackend
    from snnrl.continual.ann_baselines import AnnBaselineConfig, run_ann_baseline
    from snnrl.continual.configs import LIF_BETA
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.results import load_result
    from snnrl.reports.continual import format_continual_summary, write_continual_reports
    from snnrl.sweeps.continual import run_continual_grid, run_continual_task_or_diverged

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="split-mnist")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--buffer-sizes", type=int, nargs="+", default=[200, 500])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--work-dir", type=Path, default=WORK)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    tuning_path = args.out / args.benchmark / "tuning.json"
    if not tuning_path.exists():
        p.error(f"no {tuning_path}: run `benchmarks/continual_tuning.py --benchmark {args.benchmark}` first (it "
                "chooses our runs' settings on a validation split)")
    tuning = load_result(tuning_path, benchmark="continual-tuning")
    chosen = tuning["summary"]["chosen"]
    twin_chosen = tuning["summary"].get("twin_chosen", {})
    base = ContinualConfig(benchmark=args.benchmark, **chosen)
    twin = replace(base, neuron="relu", lif_beta=LIF_BETA, **twin_chosen)
    print(f"settings chosen on the validation split ({tuning_path}): {chosen}; ANN twins: "
          f"{twin_chosen or 'the same'}; buffers tuned on their own: "
          f"{tuning['summary'].get('chosen_by_buffer') or 'none'}", flush=True)
    torch.set_num_threads(1)
    groups: dict[str, list[dict]] = {}
    for strategy in ("naive", "replay", "der"):
        for buffer in (args.buffer_sizes if strategy != "naive" else args.buffer_sizes[:1]):
            for seed in range(args.seeds):
                result = run_ann_baseline(AnnBaselineConfig(benchmark=args.benchmark, strategy=strategy,
                                                            buffer_size=buffer, seed=seed))
                label = AnnBaselineConfig(strategy=strategy, buffer_size=buffer).label.rsplit("-s", 1)[0]
                groups.setdefault(label, []).append(result)
                print(f"{label} seed {seed}: class-IL {100 * result['class_il_accuracy']:.2f}", flush=True)
    # spiking runs (the chosen neuron) and their ANN twins (ReLUs have no membrane: the LIF decay left at its default)
    tasks = our_tasks(base, twin, tuning["summary"], args.buffer_sizes, range(args.seeds),
                      args.work_dir / args.benchmark)
    backend = LocalBackend(workers=args.workers)
    try:
        spiking = run_continual_grid(tasks, backend=backend, run=run_continual_task_or_diverged,
                                     on_run=lambda label, task, r: print(
            f"{label} seed {task.config.seed}: " + (f"diverged ({r['error']})" if r.get("diverged") else
                                                    f"class-IL {100 * r['class_il_accuracy']:.2f}")
            + f" ({r['wall_s']:.0f} s)", flush=True))
    finally:
        backend.close()
    diverged: dict[str, list[dict]] = {}
    for label, runs in spiking.items():
        name = f"ann-twin-{label.replace('-relu', '')}" if "-relu" in label else f"snn-{label}"
        groups[name] = [r for r in runs if not r.get("diverged")]
        diverged[name] = [{k: r[k] for k in ("seed", "error", "wall_s")} for r in runs if r.get("diverged")]
    write_continual_reports(args.out / args.benchmark, groups, diverged=diverged)
    print(format_continual_summary(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
