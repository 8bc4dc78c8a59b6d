"""Continual-learning metrics: task-IL accuracy for Avalanche, and accuracy-matrix summaries.

* :class:`TaskILAccuracy` — an Avalanche ``PluginMetric``: accuracy with the logits masked to the classes of the
  evaluated experience (task-incremental evaluation of a class-incremental model). Reported per experience
  (``TaskIL_Acc_Exp/eval_phase/<stream>/ExpNNN``) and as the stream mean (``TaskIL_Acc_Stream/...``).
* Accuracy matrix ``A[i, j]`` = accuracy on experience ``j`` after training experience ``i``:
  :func:`final_average_accuracy` (mean of the last row), :func:`forgetting` (Chaudhry et al. 2018: mean over
  ``j < N−1`` of ``max_{i<N−1} A[i, j] − A[N−1, j]``) and :func:`backward_transfer`
  (Lopez-Paz & Ranzato 2017: mean over ``j < N−1`` of ``A[N−1, j] − A[j, j]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from avalanche.evaluation.metric_utils import stream_type

__all__ = ["TaskILAccuracy", "final_average_accuracy", "forgetting", "backward_transfer", "accuracy_row"]


class TaskILAccuracy(PluginMetric[float]):
    """Accuracy with logits restricted to the evaluated experience's classes."""

    def __init__(self) -> None:
        super().__init__()
        self._correct = 0
        self._total = 0
        self._per_experience: dict[int, float] = {}

    def reset(self) -> None:
        self._correct, self._total = 0, 0

    def result(self) -> float:
        return self._correct / self._total if self._total else 0.0

    def before_eval(self, strategy: Any) -> None:
        self._per_experience = {}

    def before_eval_exp(self, strategy: Any) -> None:
        self.reset()

    def after_eval_iteration(self, strategy: Any) -> None:
        classes = torch.as_tensor(list(strategy.experience.classes_in_this_experience), dtype=torch.long)
        logits = strategy.mb_output.detach()
        masked = torch.full_like(logits, float("-inf"))
        masked[:, classes] = logits[:, classes]
        self._correct += int((masked.argmax(1) == strategy.mb_y).sum())
        self._total += int(strategy.mb_y.numel())

    def after_eval_exp(self, strategy: Any) -> list[MetricValue]:
        value = self.result()
        exp = strategy.experience.current_experience
        self._per_experience[exp] = value
        stream = f"{stream_type(strategy.experience)}_stream"
        return [MetricValue(self, f"TaskIL_Acc_Exp/eval_phase/{stream}/Exp{exp:03d}", value,
                            strategy.clock.train_iterations)]

    def after_eval(self, strategy: Any) -> list[MetricValue]:
        if not self._per_experience:
            return []
        stream = f"{stream_type(strategy.experience)}_stream"
        mean = float(np.mean(list(self._per_experience.values())))
        return [MetricValue(self, f"TaskIL_Acc_Stream/eval_phase/{stream}", mean, strategy.clock.train_iterations)]

    def __str__(self) -> str:
        return "TaskIL_Acc"


def accuracy_row(metrics: dict[str, Any], n_experiences: int, *, task_il: bool = False,
                 stream: str = "test_stream") -> list[float]:
    """Per-experience accuracies from an Avalanche ``eval`` result dict (class-IL, or task-IL)."""
    row = []
    for j in range(n_experiences):
        key = (f"TaskIL_Acc_Exp/eval_phase/{stream}/Exp{j:03d}" if task_il
               else f"Top1_Acc_Exp/eval_phase/{stream}/Task000/Exp{j:03d}")
        if key not in metrics:
            raise KeyError(f"metric '{key}' missing from the evaluation results; is the evaluator configured "
                           "with accuracy_metrics(experience=True) and TaskILAccuracy()?")
        row.append(float(metrics[key]))
    return row


def final_average_accuracy(matrix: np.ndarray) -> float:
    """Mean accuracy over all experiences after the last one."""
    return float(np.asarray(matrix)[-1].mean())


def forgetting(matrix: np.ndarray) -> float:
    """Average forgetting of the experiences before the last (0 for a single experience)."""
    a = np.asarray(matrix, dtype=float)
    n = a.shape[0]
    if n < 2:
        return 0.0
    return float(np.mean([a[: n - 1, j].max() - a[n - 1, j] for j in range(n - 1)]))


def backward_transfer(matrix: np.ndarray) -> float:
    """Backward transfer: how training later experiences changed accuracy on earlier ones (negative = forgot)."""
    a = np.asarray(matrix, dtype=float)
    n = a.shape[0]
    if n < 2:
        return 0.0
    return float(np.mean([a[n - 1, j] - a[j, j] for j in range(n - 1)]))
