"""Running a conversion sweep: calibrate each teacher once, then evaluate its jobs on the same seeded episodes, in
this process or as tasks of a :mod:`snnrl.backends` backend (a process pool, a Ray cluster)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import calibrate_thresholds, convert_actor
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.evaluation import run_episodes
from snnrl.agents.policy import AnnPolicy, ConstantPolicy, SpikingPolicy
from snnrl.backends import Backend
from snnrl.exact import convert_exact
from snnrl.sweeps.jobs import EvalJob, JobResult, SweepConfig

__all__ = ["SweepTarget", "EvalTask", "evaluate_task", "run_sweeps", "run_sweep"]


def _calibrate(actor: TeacherActor, env_id: str, config: SweepConfig,
               progress: bool) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Thresholds for ``actor`` and the calibration info of the reports."""
    start = time.perf_counter()
    thresholds = calibrate_thresholds(actor, env_id, config.conversion, progress=progress)
    calibration = {"wall_s": time.perf_counter() - start, **asdict(config.conversion),
                   "threshold_mean": [float(t.mean()) for t in thresholds]}
    return thresholds, calibration


class _Evaluator:
    """The policies of one teacher, built once from its calibrated thresholds."""

    def __init__(self, actor: TeacherActor, thresholds: Sequence[torch.Tensor]) -> None:
        self.actor = actor
        self.snn = convert_actor(actor, list(thresholds))
        self.ann = AnnPolicy(actor)

    def run(self, job: EvalJob, env_id: str, config: SweepConfig, progress: Any | None = None) -> JobResult:
        """Evaluate one job on the sweep's seeded episodes."""
        t0 = time.perf_counter()
        if job.kind == "ann":
            policy, teacher = self.ann, None
        elif job.kind == "zero":
            a = self.actor
            policy, teacher = ConstantPolicy(a.action_dim, a.obs_dim, obs_shape=a.obs_shape), None
        elif job.kind == "exact":
            policy, teacher = convert_exact(self.actor), AnnPolicy(self.actor, metering=False)
        else:
            crpi = None if job.alpha is None else CRPIConfig(alpha=job.alpha,
                                                             reset_on_episode_start=config.reset_on_episode_start)
            policy = SpikingPolicy(self.snn, timesteps=job.timesteps, crpi=crpi)
            teacher = AnnPolicy(self.actor, metering=False)
        episodes = run_episodes(policy, env_id, episodes=config.episodes, seed=config.seed, teacher=teacher,
                                max_steps=config.max_steps, progress=progress)
        return JobResult(job, episodes, time.perf_counter() - t0)


@dataclass(frozen=True)
class SweepTarget:
    """One teacher of a sweep: a name for reports and task labels, its actor and its environment."""

    name: str
    actor: TeacherActor
    env_id: str


@dataclass(frozen=True)
class EvalTask:
    """Jobs of one teacher as a backend task (:mod:`snnrl.backends`).

    The thresholds calibrated in the parent travel with the task, so every backend evaluates the identical SNN.
    """

    teacher: str
    actor: TeacherActor
    env_id: str
    jobs: tuple[EvalJob, ...]
    config: SweepConfig
    thresholds: tuple[torch.Tensor, ...]

    @property
    def label(self) -> str:
        return f"{self.teacher}: {', '.join(job.label for job in self.jobs)}"


def evaluate_task(task: EvalTask) -> list[JobResult]:
    """Run the jobs of one :class:`EvalTask` (the function a backend maps over the tasks)."""
    evaluator = _Evaluator(task.actor, task.thresholds)
    return [evaluator.run(job, task.env_id, task.config) for job in task.jobs]


def run_sweeps(targets: Sequence[SweepTarget], config: SweepConfig = SweepConfig(), *,
               jobs: Sequence[EvalJob] | None = None, backend: Backend | None = None, progress: bool = True,
               on_job: Callable[[JobResult], None] | None = None) -> list[tuple[list[JobResult], dict[str, Any]]]:
    """Sweep several teachers: calibrate each once here, then run every (teacher, job) pair.

    Parameters
    ----------
    targets
        The teachers (tasks × T × alpha × seeds: every target runs the same jobs on the same episode seeds).
    backend
        ``None``: in this process, job after job, with a per-episode progress bar. A :mod:`snnrl.backends`
        backend runs one task per (teacher, job); the numbers are the same.
    on_job
        Called with each finished job (with a backend: in order of completion).

    Returns
    -------
    list
        Per target, ``(results in job order, calibration info)``.
    """
    from tqdm import tqdm

    jobs = list(jobs if jobs is not None else config.jobs())
    calibrated = [_calibrate(t.actor, t.env_id, config, progress) for t in targets]
    if backend is None:
        out = []
        for target, (thresholds, calibration) in zip(targets, calibrated):
            evaluator = _Evaluator(target.actor, thresholds)
            bar = tqdm(total=len(jobs) * config.episodes, desc=f"evaluating {target.env_id}", unit="episode",
                       disable=None if progress else True)  # None: off when not on a terminal
            results = []
            for job in jobs:
                bar.set_postfix_str(job.label)
                results.append(evaluator.run(job, target.env_id, config, progress=bar))
                if on_job is not None:
                    on_job(results[-1])
            bar.close()
            out.append((results, calibration))
        return out
    tasks = [EvalTask(t.name, t.actor, t.env_id, (job,), config, tuple(thresholds))
             for t, (thresholds, _) in zip(targets, calibrated) for job in jobs]

    def report(_: int, finished: list[JobResult]) -> None:
        for result in finished:
            on_job(result)

    groups = backend.map(evaluate_task, tasks, desc="evaluating", progress=progress,
                         on_result=None if on_job is None else report)
    per_target = len(jobs)
    return [([r for group in groups[i * per_target:(i + 1) * per_target] for r in group], calibration)
            for i, (_, calibration) in enumerate(calibrated)]


def run_sweep(actor: TeacherActor, env_id: str, config: SweepConfig = SweepConfig(), *,
              jobs: Sequence[EvalJob] | None = None, progress: bool = True,
              on_job: Callable[[JobResult], None] | None = None,
              backend: Backend | None = None) -> tuple[list[JobResult], dict[str, Any]]:
    """Calibrate once, run every job; returns ``(results, calibration info)``.

    ``backend`` (:mod:`snnrl.backends`) runs the jobs as tasks elsewhere; ``None`` runs them here (see
    :func:`run_sweeps`).
    """
    return run_sweeps([SweepTarget(env_id, actor, env_id)], config, jobs=jobs, backend=backend, progress=progress,
                      on_job=on_job)[0]
