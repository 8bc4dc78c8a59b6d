"""Conversion sweeps: ANN vs SNN vs SNN+CRPI over timesteps and CRPI strengths, with reports.

A sweep calibrates thresholds once, then evaluates independent jobs (:class:`EvalJob`: ANN, or SNN at ``T`` with
CRPI ``alpha`` or without) on the same seeded episodes, in this process or as tasks of a :mod:`snnrl.backends`
backend (a process pool, a Ray cluster); :func:`run_sweeps` sweeps several teachers at once. :func:`summarise`
turns the per-job results into the table of the issue (per ``T``: ANN return, SNN without CRPI, SNN+CRPI at the
best ``alpha`` and at ``alpha=1``, lag-1 autocorrelation of the action error with and without CRPI);
:func:`write_reports` writes JSON, CSV, a PNG plot of the return ratio vs ``T`` and the per-episode energy report.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, convert_actor
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.evaluation import EpisodeResult, run_episodes
from snnrl.agents.policy import AnnPolicy, SpikingPolicy
from snnrl.backends import Backend
from snnrl.encoding import check_timesteps
from snnrl.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["SweepConfig", "EvalJob", "JobResult", "SweepTarget", "EvalTask", "evaluate_task", "run_sweep",
           "run_sweeps", "summarise", "format_summary", "write_reports", "SWEEP_SCHEMA_VERSION"]

SWEEP_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SweepConfig:
    """What to evaluate.

    Attributes
    ----------
    timesteps
        IF timesteps per decision to try.
    alphas
        CRPI strengths to try (each ``T`` is also run without CRPI).
    episodes
        Seeded episodes per job (episode ``i`` uses ``seed + i``).
    seed
        First episode seed.
    conversion
        Threshold calibration settings.
    reset_on_episode_start
        CRPI carry reset at episode start (``False`` reproduces the reference's carry-over).
    exact
        Also evaluate the bit-exact gate-level conversion (:mod:`snnrl.exact`; about 2 decisions/s on a CPU).
    max_steps
        Cap on steps per episode (``None``: the environment's own time limit).
    """

    timesteps: tuple[int, ...] = (4, 8, 16)
    alphas: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    episodes: int = 10
    seed: int = 0
    conversion: ConversionConfig = field(default_factory=ConversionConfig)
    reset_on_episode_start: bool = True
    exact: bool = False
    max_steps: int | None = None

    def __post_init__(self) -> None:
        for t in self.timesteps:
            check_timesteps(t)
        for a in self.alphas:
            CRPIConfig(alpha=a)
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}.")

    def jobs(self) -> list["EvalJob"]:
        """ANN first, then per ``T``: no CRPI and each ``alpha``."""
        out = [EvalJob("ann")]
        for t in self.timesteps:
            out.append(EvalJob("snn", t))
            out += [EvalJob("snn+crpi", t, a) for a in self.alphas]
        if self.exact:
            out.append(EvalJob("exact"))
        return out


@dataclass(frozen=True)
class EvalJob:
    """One policy configuration: ``kind`` in {"ann", "snn", "snn+crpi", "exact"}."""

    kind: str
    timesteps: int | None = None
    alpha: float | None = None

    @property
    def label(self) -> str:
        if self.kind in ("ann", "exact"):
            return {"ann": "ANN", "exact": "exact SNN"}[self.kind]
        return f"SNN T={self.timesteps}" + (f" CRPI a={self.alpha:g}" if self.alpha is not None else "")


@dataclass
class JobResult:
    """The episodes of one job, with summary statistics."""

    job: EvalJob
    episodes: list[EpisodeResult]
    wall_s: float

    @property
    def returns(self) -> np.ndarray:
        return np.array([e.episode_return for e in self.episodes])

    @property
    def lag1(self) -> float | None:
        values = [e.action_error_lag1 for e in self.episodes if e.action_error_lag1 is not None]
        return float(np.mean(values)) if values else None

    @property
    def energy_per_decision_pj(self) -> float:
        total = sum(e.energy["energy_pj"] for e in self.episodes)
        steps = sum(e.energy["steps"] for e in self.episodes)
        return total / steps if steps else 0.0

    def row(self, ann_mean: float) -> dict[str, Any]:
        r = self.returns
        return {"policy": self.job.kind, "timesteps": self.job.timesteps, "alpha": self.job.alpha,
                "return_mean": float(r.mean()), "return_std": float(r.std()),
                "return_ratio": float(r.mean() / ann_mean) if ann_mean else None,
                "action_error_lag1": self.lag1,
                "action_error_rms": _mean_or_none([e.action_error_rms for e in self.episodes]),
                "energy_per_decision_pj": self.energy_per_decision_pj,
                "episode_length_mean": float(np.mean([e.length for e in self.episodes])), "wall_s": self.wall_s}


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


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
        elif job.kind == "exact":
            from snnrl.exact import convert_exact

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


def summarise(results: Sequence[JobResult]) -> list[dict[str, Any]]:
    """Per ``T``: ANN, SNN, SNN+CRPI (best alpha and alpha=1), lag-1 autocorrelations and energy."""
    ann = next(r for r in results if r.job.kind == "ann")
    ann_mean = float(ann.returns.mean())
    rows = []
    for t in sorted({r.job.timesteps for r in results if r.job.timesteps is not None}):
        plain = next((r for r in results if r.job.kind == "snn" and r.job.timesteps == t), None)
        crpi = [r for r in results if r.job.kind == "snn+crpi" and r.job.timesteps == t]
        best = max(crpi, key=lambda r: r.returns.mean()) if crpi else None
        full = next((r for r in crpi if r.job.alpha == 1.0), None)
        rows.append({
            "timesteps": t, "ann_return": ann_mean, "ann_return_std": float(ann.returns.std()),
            "snn_return": None if plain is None else float(plain.returns.mean()),
            "snn_return_std": None if plain is None else float(plain.returns.std()),
            "crpi_best_alpha": None if best is None else best.job.alpha,
            "crpi_best_return": None if best is None else float(best.returns.mean()),
            "crpi_best_return_std": None if best is None else float(best.returns.std()),
            "crpi_alpha1_return": None if full is None else float(full.returns.mean()),
            "crpi_alpha1_return_std": None if full is None else float(full.returns.std()),
            "lag1_snn": None if plain is None else plain.lag1,
            "lag1_crpi_best": None if best is None else best.lag1,
            "lag1_crpi_alpha1": None if full is None else full.lag1,
            "ratio_snn": None if plain is None else float(plain.returns.mean()) / ann_mean,
            "ratio_crpi_best": None if best is None else float(best.returns.mean()) / ann_mean,
            "energy_ann_pj": ann.energy_per_decision_pj,
            "energy_snn_pj": None if plain is None else plain.energy_per_decision_pj,
            "energy_crpi_best_pj": None if best is None else best.energy_per_decision_pj,
        })
    return rows


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_summary(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a text table."""
    from snnrl.tables import format_table

    rows = [[s["timesteps"], f"{_fmt(s['ann_return'])} ± {_fmt(s['ann_return_std'])}",
             f"{_fmt(s['snn_return'])} ± {_fmt(s['snn_return_std'])}",
             f"{_fmt(s['crpi_best_return'])} ± {_fmt(s['crpi_best_return_std'])} (a={s['crpi_best_alpha']})",
             f"{_fmt(s['crpi_alpha1_return'])} ± {_fmt(s['crpi_alpha1_return_std'])}",
             _fmt(s["ratio_crpi_best"], 3), _fmt(s["lag1_snn"], 2), _fmt(s["lag1_crpi_best"], 2),
             _fmt(s["energy_snn_pj"] and s["energy_snn_pj"] / 1000, 1), _fmt(s["energy_ann_pj"] / 1000, 1)]
            for s in summary]
    return format_table(rows, ["T", "ANN", "SNN", "SNN+CRPI best", "SNN+CRPI a=1", "best/ANN", "lag1 SNN",
                               "lag1 CRPI", "SNN nJ/dec", "ANN nJ/dec"])


def _plot(summary: Sequence[dict[str, Any]], results: Sequence[JobResult], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ann_mean = float(next(r for r in results if r.job.kind == "ann").returns.mean())
    ts = [s["timesteps"] for s in summary]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(ts, [s["ratio_snn"] for s in summary], "o-", label="SNN (no CRPI)")
    ax.plot(ts, [s["ratio_crpi_best"] for s in summary], "s-", label="SNN + CRPI (best alpha)")
    a1 = [s["crpi_alpha1_return"] / ann_mean if s["crpi_alpha1_return"] is not None and ann_mean else None
          for s in summary]
    if any(v is not None for v in a1):
        ax.plot(ts, a1, "^--", label="SNN + CRPI (alpha = 1)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(0.95, color="grey", lw=0.8, ls=":", label="95% of ANN")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.set_xlabel("timesteps T per decision")
    ax.set_ylabel("return / ANN return")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_reports(out_dir: str | Path, results: Sequence[JobResult], *, teacher: str, env_id: str,
                  config: SweepConfig, calibration: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, ``summary.csv``, ``return_ratio.png`` and the energy report.

    The energy report (:func:`snnrl.hardware.report.write_energy_report`) adds ``energy_report.json``,
    ``energy_episodes.csv`` and its plots; ``results.json`` keeps every episode and, per job, the energy of each
    decision of its first episode (``energy_traces``), so ``snnrl energy-report`` can redraw them.
    """
    from snnrl.hardware.report import episode_row, write_energy_report
    from snnrl.results import machine_info, package_versions

    out = Path(out_dir)
    ann_mean = float(next(r for r in results if r.job.kind == "ann").returns.mean())
    rows = [r.row(ann_mean) for r in results]
    summary = summarise(results)
    episodes = [{"policy": r.job.kind, "label": r.job.label, "timesteps": r.job.timesteps, "alpha": r.job.alpha,
                 "seed": e.seed, "return": e.episode_return, "length": e.length, "energy_pj": e.energy["energy_pj"],
                 "energy_per_decision_pj": e.energy["energy_per_decision_pj"], "spikes": e.energy["spikes"],
                 "accumulates": e.energy["synaptic_ops"]["accumulates"], "macs": e.energy["synaptic_ops"]["macs"],
                 "action_error_rms": e.action_error_rms, "action_error_lag1": e.action_error_lag1,
                 "spikes_per_layer": e.energy["spikes_per_layer"]}
                for r in results for e in r.episodes]
    traces = {r.job.label: [round(v, 1) for v in r.episodes[0].energy["energy_per_step_pj"]] for r in results}
    document = {
        "schema_version": SWEEP_SCHEMA_VERSION, "kind": "snnrl-conversion-sweep", "teacher": teacher, "env_id": env_id,
        "config": asdict(config), "calibration": calibration, "versions": package_versions(),
        "machine": machine_info(), "profile": results[0].episodes[0].energy["profile"], "summary": summary,
        "jobs": rows, "episodes": episodes, "energy_traces": traces, **(extra or {}),
    }
    paths = {"json": out / "results.json", "csv": out / "results.csv", "summary": out / "summary.csv",
             "plot": out / "return_ratio.png"}
    atomic_write_json(paths["json"], document)
    atomic_write_text(paths["csv"], _csv(rows))
    atomic_write_text(paths["summary"], _csv(summary))
    atomic_write_bytes(paths["plot"], _plot(summary, results, f"{teacher} ({env_id})"))
    energy_rows = [episode_row(r.job.label, e.energy, seed=e.seed) for r in results for e in r.episodes]
    paths.update(write_energy_report(out, energy_rows, title=f"{teacher} ({env_id})"))
    return paths
