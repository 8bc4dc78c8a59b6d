"""Spiking ResNet19 on Split-CIFAR10 in the STAER paper's setting: the time of one training iteration on this
machine, and the epoch and run times it implies.

The STAER paper's run (user-provided CIFAR-10 in ``DATA``: the python-pickle ``cifar-10-batches-py/``; GPU-sized,
12.6 M parameters)::

    .venv/bin/snnrl continual --benchmark split-cifar10 --backbone resnet19 --strategy staer --buffer-size 5120 \\
        --timesteps 2 --epochs 50 --batch-size 32 --optimizer adamw --lr 3e-3 --data-root DATA

This script runs the same configuration (STAER, LIF, AdamW lr 3e-3 with cosine restarts per experience, batch 32
plus 32 replayed, buffer 5120) for the first two experiences on ``--iterations`` mini-batches each, and times
them: the first experience trains without a buffer, the second with replay and the Soft-DTW alignment at ``T``,
``T/2`` and ``2T``. An iteration's time is the second experience's wall time (its evaluation on the test images
included, so an upper bound) over its iterations; an epoch of Split-CIFAR10 is 10,000 images per experience
(313 iterations), the paper's run 50 epochs x 5 experiences. Without ``--data-root`` it writes a CIFAR-format
fixture of random pixels (balanced classes) to a temporary folder: the time does not depend on the pixel values,
the accuracies do and are not reported. Writes ``benchmarks/results/continual_resnet19.json``.

Usage::

    .venv/bin/python benchmarks/continual_resnet19.py                    # T 2 and 4, one iteration each
    .venv/bin/python benchmarks/continual_resnet19.py --data-root DATA --timesteps 2 --iterations 5
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "continual_resnet19.json"
BATCH = 32
IMAGES_PER_EXPERIENCE = 10_000          # Split-CIFAR10: 5 experiences of 2 classes x 5,000 training images
PAPER_EPOCHS, EXPERIENCES = 50, 5


def write_cifar10_fixture(root: Path, *, train_per_class: int, test_per_class: int, seed: int = 0) -> Path:
    """CIFAR-10's python-pickle files (five training batches and ``test_batch``) of random uint8 images with
    ``train_per_class`` / ``test_per_class`` images of every class, under ``root/cifar-10-batches-py``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def batch(labels: np.ndarray, name: str) -> None:
        entry = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels],
                 b"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8),
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(len(labels))]}
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle, protocol=2)

    train = rng.permutation(np.repeat(np.arange(10), train_per_class))
    for i, part in enumerate(np.array_split(train, 5), start=1):
        batch(part, f"data_batch_{i}")
    batch(np.repeat(np.arange(10), test_per_class), "test_batch")
    return root


def time_iterations(data_root: Path, timesteps: int, iterations: int, *, test_per_class: int) -> dict:
    """Train STAER on ResNet19 for two experiences of ``iterations`` mini-batches; the timings."""
    from snnrl.continual.experiment import ContinualConfig, run_continual

    config = ContinualConfig(benchmark="split-cifar10", strategy="staer", backbone="resnet19", buffer_size=5120,
                             timesteps=timesteps, epochs=1, batch_size=BATCH, optimizer="adamw", lr=3e-3,
                             train_per_class=BATCH * iterations // 2, test_per_class=test_per_class,
                             data_root=str(data_root))
    start = time.perf_counter()
    result = run_continual(config, progress=False, max_experiences=2)
    first, replay = result["wall_s_per_experience"]
    per_iteration = replay / iterations
    per_epoch = per_iteration * -(-IMAGES_PER_EXPERIENCE // BATCH)
    return {"timesteps": timesteps, "iterations": iterations, "parameters": result["parameters"],
            "wall_s": time.perf_counter() - start, "experience_wall_s": [first, replay],
            "s_per_iteration": per_iteration, "h_per_epoch_per_experience": per_epoch / 3600,
            "days_paper_run": per_epoch * PAPER_EPOCHS * EXPERIENCES / 86400}


def main(argv: list[str] | None = None) -> int:
    from snnrl.results import write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder with cifar-10-batches-py/ (default: a generated fixture of random pixels)")
    p.add_argument("--timesteps", type=int, nargs="+", default=[2, 4])
    p.add_argument("--iterations", type=int, default=1, help="timed mini-batches per experience (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.data_root is not None and not args.data_root.is_dir():
        p.error(f"--data-root {args.data_root}: no such folder; give the folder holding cifar-10-batches-py/")
    if min(args.timesteps) < 2:
        p.error(f"--timesteps {min(args.timesteps)}: STAER's contraction view needs T >= 2; give 2 or more")
    if args.iterations < 1:
        p.error(f"--iterations {args.iterations}: give 1 or more")
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_root or write_cifar10_fixture(Path(scratch), train_per_class=BATCH * args.iterations // 2,
                                                        test_per_class=1)
        for t in args.timesteps:
            rows.append(time_iterations(root, t, args.iterations, test_per_class=1))
            r = rows[-1]
            print(f"T={t}: {r['s_per_iteration']:.1f} s per iteration (batch {BATCH} + {BATCH} replayed) -> "
                  f"{r['h_per_epoch_per_experience']:.1f} h per epoch of an experience, "
                  f"{r['days_paper_run']:.0f} days for the paper's {PAPER_EPOCHS} epochs x {EXPERIENCES}", flush=True)
    write_result(args.out, benchmark="continual-resnet19", seed=0, raw=rows,
                 config={"strategy": "staer", "backbone": "resnet19", "batch_size": BATCH, "buffer_size": 5120,
                         "optimizer": "adamw", "lr": 3e-3, "threads": args.threads,
                         "data": "user CIFAR-10" if args.data_root else "generated fixture (random pixels)"},
                 summary={r["timesteps"]: {k: r[k] for k in ("s_per_iteration", "h_per_epoch_per_experience",
                                                            "days_paper_run")} for r in rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
