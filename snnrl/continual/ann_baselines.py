"""Avalanche's own ANN strategies (``Naive``, ``Replay``, ``DER``) on an ANN MLP, measured exactly like a spiking
run (:func:`~snnrl.continual.experiment.run_continual`: same data, class order, seeds, accuracy matrices and
summary numbers), so each spiking row can stand beside its ANN twin in one table.

The ANN: ``Flatten → [Linear → ReLU] × len(hidden) → Linear`` with the spiking MLP's widths, SGD at ``lr`` (the
DER paper's optimiser; 0.1 by default), batch 10, one epoch per experience. ``DER`` uses Avalanche's defaults
(``alpha = 0.1``, ``beta = 0.5``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ANN_STRATEGIES", "AnnBaselineConfig", "run_ann_baseline"]

ANN_STRATEGIES = ("naive", "replay", "der")


@dataclass(frozen=True)
class AnnBaselineConfig:
    """One Avalanche ANN run (fields as in :class:`~snnrl.continual.experiment.ContinualConfig`)."""

    benchmark: str = "split-mnist"
    strategy: str = "der"
    buffer_size: int = 200
    hidden: tuple[int, ...] = (256, 256)
    lr: float = 0.1
    batch_size: int = 10
    epochs: int = 1
    n_experiences: int = 5
    seed: int = 0
    train_per_class: int | None = None
    test_per_class: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in ANN_STRATEGIES:
            raise ValueError(f"Unknown ANN strategy {self.strategy!r}; choose one of {ANN_STRATEGIES}.")

    @property
    def label(self) -> str:
        buffer = "" if self.strategy == "naive" else f"-b{self.buffer_size}"
        return f"ann-avalanche-{self.strategy}{buffer}-s{self.seed}"


def _mlp(in_features: int, hidden: Sequence[int], classes: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers, nn.Linear(in_features, classes))


def run_ann_baseline(config: AnnBaselineConfig) -> dict[str, Any]:
    """Train and evaluate one Avalanche ANN strategy; returns a results dict like ``run_continual``'s."""
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training import DER, Naive, Replay
    from avalanche.training.plugins import EvaluationPlugin

    from snnrl.continual.benchmarks import class_incremental
    from snnrl.continual.datasets import load_dataset
    from snnrl.continual.metrics import (TaskILAccuracy, accuracy_row, backward_transfer, final_average_accuracy,
                                         forgetting)

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    dataset = load_dataset(config.benchmark)
    bench = class_incremental(dataset, n_experiences=config.n_experiences, seed=config.seed,
                              train_per_class=config.train_per_class, test_per_class=config.test_per_class)
    model = _mlp(int(np.prod(dataset.shape)), config.hidden, dataset.num_classes)
    common = dict(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=config.lr),
                  criterion=nn.CrossEntropyLoss(), train_mb_size=config.batch_size, train_epochs=config.epochs,
                  eval_mb_size=256, evaluator=EvaluationPlugin(accuracy_metrics(experience=True, stream=True),
                                                               TaskILAccuracy(), loggers=[]))
    if config.strategy == "naive":
        strategy = Naive(**common)
    elif config.strategy == "replay":
        strategy = Replay(mem_size=config.buffer_size, **common)
    else:
        strategy = DER(mem_size=config.buffer_size, **common)
    class_il, task_il, wall = [], [], []
    for experience in bench.train_stream:
        start = time.perf_counter()
        strategy.train(experience)
        metrics = strategy.eval(bench.test_stream)
        class_il.append(accuracy_row(metrics, config.n_experiences))
        task_il.append(accuracy_row(metrics, config.n_experiences, task_il=True))
        wall.append(time.perf_counter() - start)
    c, t = np.array(class_il), np.array(task_il)
    cfg = {**asdict(config), "backbone": "ann-mlp", "hidden": list(config.hidden)}
    return {"schema_version": 1, "kind": "snnrl-continual-run", "config": cfg,
            "class_il_matrix": c.tolist(), "task_il_matrix": t.tolist(),
            "class_il_accuracy": final_average_accuracy(c), "task_il_accuracy": final_average_accuracy(t),
            "class_il_forgetting": forgetting(c), "class_il_bwt": backward_transfer(c),
            "task_il_forgetting": forgetting(t), "task_il_bwt": backward_transfer(t),
            "wall_s_per_experience": wall, "wall_s": float(sum(wall)),
            "parameters": int(sum(p.numel() for p in model.parameters()))}
