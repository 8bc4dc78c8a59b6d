"""Continual-learning grids: strategies x buffer sizes x seeds of :func:`~snnrl.continual.experiment.run_continual`,
run as tasks of a :mod:`snnrl.backends` backend, and their aggregation over seeds.

Example
-------
>>> from snnrl.continual.experiment import ContinualConfig
>>> tasks = continual_grid(ContinualConfig(strategy="er"), strategies=("naive", "er"), buffer_sizes=(200, 500),
...                        seeds=(0, 1))
>>> [(label, task.config.seed) for label, task in tasks]   # naive has no buffer: one group
[('naive', 0), ('naive', 1), ('er-b200', 0), ('er-b200', 1), ('er-b500', 0), ('er-b500', 1)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.backends import Backend, LocalBackend
from snnrl.continual.experiment import ContinualConfig, run_continual
from snnrl.continual.strategies import TrainingDiverged

__all__ = ["ContinualTask", "run_continual_task", "run_continual_task_or_diverged", "continual_grid", "run_continual_grid", "aggregate_runs",
           "SUMMARY_KEYS"]

SUMMARY_KEYS = ("class_il_accuracy", "task_il_accuracy", "class_il_forgetting", "class_il_bwt", "task_il_forgetting",
                "wall_s")


@dataclass(frozen=True)
class ContinualTask:
    """One continual-learning run (:func:`~snnrl.continual.experiment.run_continual`) as a backend task.

    Attributes
    ----------
    config
        The run's :class:`~snnrl.continual.experiment.ContinualConfig`.
    run_dir
        Its checkpoint / results folder (``None``: no checkpoints); must be reachable from the worker.
    resume
        Continue from the run's checkpoint when there is one.
    progress
        Avalanche's interactive logger (only sensible in-process).
    tensorboard_dir
        Also log the run's Avalanche metrics there with Avalanche's ``TensorboardLogger`` (``None``: off).
    """

    config: ContinualConfig
    run_dir: str | None = None
    resume: bool = True
    progress: bool = False
    tensorboard_dir: str | None = None

    @property
    def label(self) -> str:
        return f"{self.config.benchmark} {self.config.label}"


def run_continual_task(task: ContinualTask) -> dict[str, Any]:
    """Run one :class:`ContinualTask`; returns :func:`~snnrl.continual.experiment.run_continual`'s results."""
    loggers = None
    if task.tensorboard_dir is not None:
        from avalanche.logging import InteractiveLogger, TensorboardLogger

        loggers = [TensorboardLogger(tb_log_dir=task.tensorboard_dir), *([InteractiveLogger()] if task.progress else [])]
    try:
        return run_continual(task.config, run_dir=task.run_dir, resume=task.resume, progress=task.progress,
                             loggers=loggers)
    finally:
        for logger in loggers or ():
            if hasattr(logger, "writer"):
                logger.writer.close()   # the event files are complete when the run returns


def run_continual_task_or_diverged(task: ContinualTask) -> dict[str, Any]:
    """:func:`run_continual_task` for a tuning rule: a run that diverges
    (:class:`~snnrl.continual.strategies.TrainingDiverged`) returns ``{"diverged": True, "class_il_accuracy": 0.0,
    "wall_s": seconds until it stopped, "seed": the run's seed, "error": the message}`` instead of raising, so that
    the candidate loses rather than stopping the search (or a table reports the run as diverged)."""
    start = time.perf_counter()
    try:
        return run_continual_task(task)
    except TrainingDiverged as exc:
        return {"diverged": True, "class_il_accuracy": 0.0, "wall_s": time.perf_counter() - start,
                "seed": task.config.seed, "error": str(exc)}


def continual_grid(base: ContinualConfig, *, strategies: Sequence[str], buffer_sizes: Sequence[int],
                   seeds: Sequence[int], out_dir: str | Path | None = None, tag: str = "", resume: bool = True,
                   progress: bool = False, tensorboard_dir: str | Path | None = None) -> list[tuple[str, ContinualTask]]:
    """The runs of a grid as ``(group label, task)``: groups in order (``naive`` once, with the first buffer size),
    seeds within a group. With ``out_dir`` each run checkpoints in ``out_dir/LABEL-sSEED``; with ``tensorboard_dir``
    each run logs TensorBoard events in ``tensorboard_dir/LABEL-sSEED``."""
    if not strategies or not buffer_sizes or not seeds:
        raise ValueError("a continual grid needs at least one strategy, one buffer size and one seed.")
    tasks = []
    for strategy in strategies:
        for buffer_size in (buffer_sizes if strategy != "naive" else buffer_sizes[:1]):
            group = replace(base, strategy=strategy, buffer_size=buffer_size)
            label = group.label.rsplit("-s", 1)[0] + tag
            for seed in seeds:
                run_dir = None if out_dir is None else str(Path(out_dir) / f"{label}-s{seed}")
                board = None if tensorboard_dir is None else str(Path(tensorboard_dir) / f"{label}-s{seed}")
                tasks.append((label, ContinualTask(replace(group, seed=seed), run_dir=run_dir, resume=resume,
                                                   progress=progress, tensorboard_dir=board)))
    return tasks


def run_continual_grid(tasks: Sequence[tuple[str, ContinualTask]], *, backend: Backend | None = None,
                       progress: bool = False,
                       on_run: Callable[[str, ContinualTask, dict[str, Any]], None] | None = None,
                       run: Callable[[ContinualTask], dict[str, Any]] = run_continual_task,
                       ) -> dict[str, list[dict[str, Any]]]:
    """Run the tasks of :func:`continual_grid` (``backend`` ``None``: in this process) and group their results.

    Parameters
    ----------
    run
        What runs one task (a module-level function, for a process pool): :func:`run_continual_task`, or
        :func:`run_continual_task_or_diverged` where a diverged run should score instead of raising.
    progress
        A progress bar over the runs (for a backend; in-process runs show Avalanche's own logger instead).
    on_run
        Called with ``(group label, task, results)`` as each run finishes.

    Returns
    -------
    dict
        Group label -> the results of its runs, in seed order.
    """
    def report(index: int, result: dict[str, Any]) -> None:
        if on_run is not None:
            on_run(tasks[index][0], tasks[index][1], result)

    results = (backend or LocalBackend()).map(run, [t for _, t in tasks], desc="continual runs",
                                              progress=progress, on_result=report)
    groups: dict[str, list[dict[str, Any]]] = {}
    for (label, _), result in zip(tasks, results):
        groups.setdefault(label, []).append(result)
    return groups


def aggregate_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std (over seeds) of every summary number and of the accuracy matrices."""
    if not runs:
        raise ValueError("no runs to aggregate")
    out: dict[str, Any] = {"seeds": [r["config"]["seed"] for r in runs], "n_runs": len(runs)}
    for key in SUMMARY_KEYS:
        values = np.array([r[key] for r in runs], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std()), "values": values.tolist()}
    for key in ("class_il_matrix", "task_il_matrix"):
        stack = np.array([r[key] for r in runs], dtype=float)
        out[key] = {"mean": stack.mean(0).tolist(), "std": stack.std(0).tolist()}
    return out
