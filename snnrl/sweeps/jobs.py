"""What a conversion sweep evaluates: its configuration, its jobs (ANN, SNN at ``T``, SNN+CRPI at ``alpha``, the
exact conversion) and the episodes each job produced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from snnrl.agents.conversion import ConversionConfig
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.evaluation import EpisodeResult
from snnrl.encoding import check_timesteps

__all__ = ["SweepConfig", "EvalJob", "JobResult", "JOB_RESULT_KIND"]

JOB_RESULT_KIND, JOB_RESULT_VERSION = "snnrl-job-result", 1


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
        """ANN and the zero-action reference first, then per ``T``: no CRPI and each ``alpha``."""
        out = [EvalJob("ann"), EvalJob("zero")]
        for t in self.timesteps:
            out.append(EvalJob("snn", t))
            out += [EvalJob("snn+crpi", t, a) for a in self.alphas]
        if self.exact:
            out.append(EvalJob("exact"))
        return out


@dataclass(frozen=True)
class EvalJob:
    """One policy configuration: ``kind`` in {"ann", "zero", "snn", "snn+crpi", "exact", "recipe"} (``zero``: the
    zero action, the reference of the fidelity score; ``recipe``: a tuned conversion recipe,
    :func:`snnrl.sweeps.fidelity.convert_tuned`, evaluated beside the sweep's jobs)."""

    kind: str
    timesteps: int | None = None
    alpha: float | None = None

    @property
    def label(self) -> str:
        if self.kind in ("ann", "exact", "zero"):
            return {"ann": "ANN", "exact": "exact SNN", "zero": "zero action"}[self.kind]
        if self.kind == "recipe":
            return f"SNN T={self.timesteps} recipe"
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

    def to_json(self) -> dict[str, Any]:
        """A JSON-able document of this result (floats round-trip exactly; :meth:`from_json` reads it back)."""
        return {"kind": JOB_RESULT_KIND, "schema_version": JOB_RESULT_VERSION, "job": asdict(self.job),
                "wall_s": self.wall_s,
                "episodes": [{**asdict(e), "action_errors": None if e.action_errors is None else e.action_errors.tolist()}
                             for e in self.episodes]}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "JobResult":
        """The result :meth:`to_json` wrote; ``ValueError`` naming what is wrong for another document."""
        if not isinstance(document, dict) or document.get("kind") != JOB_RESULT_KIND \
                or document.get("schema_version") != JOB_RESULT_VERSION:
            raise ValueError(f"not a {JOB_RESULT_KIND} document of version {JOB_RESULT_VERSION}")
        episodes = [EpisodeResult(**{**e, "action_errors": None if e["action_errors"] is None
                                     else np.asarray(e["action_errors"], dtype=np.float64)})
                    for e in document["episodes"]]
        return cls(EvalJob(**document["job"]), episodes, float(document["wall_s"]))

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
