"""Benchmark 4 (benchmarks.md): class-incremental learning with a spiking backbone.

Split-MNIST (buffers 200 and 500) and Split-FashionMNIST (buffer 200), 5 experiences x 2 classes: Naive, ER,
DER++ and STAER on the same backbone and seeds; STAER ablations (no alignment term; no temporal
expansion/contraction). Runs go seed by seed, so a partial run already holds complete seeds; every run checkpoints
after each experience in ``--work-dir`` (outside the repository, so it survives a new checkout) and is resumed
when the script is started again. Summaries (JSON, CSV, heatmaps) go to ``benchmarks/results/continual/<name>/``.

Usage::

    .venv/bin/python benchmarks/continual_learning.py                  # everything, 3 seeds
    .venv/bin/python benchmarks/continual_learning.py --only split-mnist --seeds 1
    .venv/bin/python benchmarks/continual_learning.py --train-per-class 0  # the full training sets

By default each class keeps its first 1000 training images (10k of MNIST's 60k), which makes a run ~6x cheaper
on a 2-core machine; the test sets are complete.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from snnrl.io import snnrl_home

RESULTS = Path(__file__).resolve().parent / "results" / "continual"
WORK = snnrl_home() / "runs" / "continual"


def protocol(staer_beta: float) -> dict[str, list[tuple[str, dict]]]:
    """``{benchmark: [(group label, config overrides), ...]}``."""
    def methods(buffer: int) -> list[tuple[str, dict]]:
        return [(f"er-b{buffer}", dict(strategy="er", buffer_size=buffer)),
                (f"derpp-b{buffer}", dict(strategy="derpp", buffer_size=buffer)),
                (f"staer-b{buffer}", dict(strategy="staer", buffer_size=buffer)),
                (f"staer-b{buffer}-beta{staer_beta:g}", dict(strategy="staer", buffer_size=buffer,
                                                             staer_beta=staer_beta))]

    ablations = [("staer-b200-beta{:g}-no-alignment".format(staer_beta),
                  dict(strategy="staer", buffer_size=200, staer_beta=staer_beta, staer_alignment=False)),
                 ("staer-b200-beta{:g}-no-expansion".format(staer_beta),
                  dict(strategy="staer", buffer_size=200, staer_beta=staer_beta, staer_expansion_contraction=False))]
    return {
        "split-mnist": [("naive", dict(strategy="naive")), *methods(200), *methods(500), *ablations],
        "split-fashion-mnist": [("naive", dict(strategy="naive")), *methods(200)],
    }


def main(argv: list[str] | None = None) -> int:
    from snnrl.continual.experiment import ContinualConfig, run_continual
    from snnrl.reports.continual import write_continual_reports

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--only", nargs="*", default=None, help="benchmarks to run (default: all)")
    p.add_argument("--backbone", default="mlp")
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--staer-beta", type=float, default=0.1, help="the tuned beta run beside the reference 1e-4")
    p.add_argument("--train-per-class", type=int, default=1000,
                   help="training images per class (0: all; the full sets cost ~6x more CPU time)")
    p.add_argument("--test-per-class", type=int, default=0, help="test images per class (0: all)")
    p.add_argument("--work-dir", type=Path, default=WORK)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    plan = {k: v for k, v in protocol(args.staer_beta).items() if args.only is None or k in args.only}
    done: dict[str, dict[str, list[dict]]] = {bench: {} for bench in plan}
    subset = f"train{args.train_per_class or 'all'}-test{args.test_per_class or 'all'}"
    for seed in range(args.seeds):
        for bench, groups in plan.items():
            for label, overrides in groups:
                config = replace(ContinualConfig(benchmark=bench, backbone=args.backbone, timesteps=args.timesteps,
                                                 seed=seed, train_per_class=args.train_per_class or None,
                                                 test_per_class=args.test_per_class or None), **overrides)
                result = run_continual(config, run_dir=args.work_dir / bench / subset / f"{label}-s{seed}", progress=False)
                done[bench].setdefault(label, []).append(result)
                print(f"{bench} {label} seed {seed}: class-IL {100 * result['class_il_accuracy']:.2f} task-IL "
                      f"{100 * result['task_il_accuracy']:.2f} ({result['wall_s']:.0f} s)", flush=True)
            write_continual_reports(args.out / bench, done[bench])
    return 0


if __name__ == "__main__":
    sys.exit(main())
