"""Self-prediction LIF against plain LIF on the standard Split-MNIST protocol (full training set, 5 x 2 classes,
1 epoch, batch 10, STAER at its reference settings, buffer 200), same seeds, whatever the outcome.

Nothing is tuned here: both neurons run the library defaults (``ContinualConfig``), so the comparison isolates the
neuron; with ``--tuned`` both run the settings ``benchmarks/continual_tuning.py`` chose on the validation split
(``continual-standard/split-mnist/tuning.json``), the neuron excepted. Each run checkpoints after every experience in
``--work-dir`` and resumes when restarted. Writes ``benchmarks/results/continual-neurons/split-mnist/summary.json``
(``split-mnist-tuned/`` with ``--tuned``; and CSV, heatmaps).

Usage::

    .venv/bin/python benchmarks/continual_neurons.py                 # seeds 0-2, lif and selfpred-lif
    .venv/bin/python benchmarks/continual_neurons.py --tuned         # the same at the validation-chosen settings
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from snnrl.io import snnrl_home

RESULTS = Path(__file__).resolve().parent / "results" / "continual-neurons"
TUNING = Path(__file__).resolve().parent / "results" / "continual-standard" / "split-mnist" / "tuning.json"
WORK = snnrl_home() / "runs" / "continual-neurons"


def main(argv: list[str] | None = None) -> int:
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.results import load_result
    from snnrl.reports.continual import format_continual_summary, write_continual_reports
    from snnrl.sweeps.continual import continual_grid, run_continual_grid

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--neurons", nargs="+", default=["lif", "selfpred-lif"])
    p.add_argument("--strategy", default="staer")
    p.add_argument("--buffer-size", type=int, default=200)
    p.add_argument("--work-dir", type=Path, default=WORK)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--tuned", action="store_true",
                   help=f"run the settings chosen on the validation split ({TUNING.name}), the neuron excepted")
    args = p.parse_args(argv)
    settings: dict = {}
    if args.tuned:
        if not TUNING.exists():
            p.error(f"--tuned: no {TUNING}; run `benchmarks/continual_tuning.py` first")
        settings = dict(load_result(TUNING, benchmark="continual-tuning")["summary"]["chosen"])
        settings.pop("neuron", None)
    folder = "split-mnist-tuned" if args.tuned else "split-mnist"
    torch.set_num_threads(1)
    groups: dict[str, list[dict]] = {}
    for neuron in args.neurons:
        base = ContinualConfig(benchmark="split-mnist", strategy=args.strategy, buffer_size=args.buffer_size,
                               **settings, neuron=neuron)
        tasks = continual_grid(base, strategies=[args.strategy], buffer_sizes=[args.buffer_size],
                               seeds=range(args.seeds), out_dir=args.work_dir / folder)
        groups.update(run_continual_grid(tasks, on_run=lambda label, task, r: print(
            f"{label} seed {task.config.seed}: class-IL {100 * r['class_il_accuracy']:.2f} ({r['wall_s']:.0f} s)",
            flush=True)))
        write_continual_reports(args.out / folder, groups)
    print(format_continual_summary(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
