"""Closed-loop evaluation of policies in MuJoCo: returns, action error vs the teacher, energy per episode.

:func:`run_episodes` plays ``episodes`` seeded episodes at once (one gymnasium env per episode, the policy
batched over them through its SB3-style ``predict``), and records per episode the return, the length, the
energy record (:class:`snnrl.hardware.episode.EpisodeEnergyRecorder`) and, when a teacher is given, the action
error ``a_policy − a_teacher`` on the policy's own trajectory and its lag-1 autocorrelation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.hardware.episode import EnergyModel, EpisodeEnergyRecorder

if TYPE_CHECKING:
    from stable_baselines3.common.type_aliases import PolicyPredictor

__all__ = ["EpisodeResult", "run_episodes", "lag1_autocorrelation"]


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    episode_return: float
    length: int
    energy: dict[str, Any]
    action_error_rms: float | None = None
    action_error_lag1: float | None = None
    action_errors: np.ndarray | None = field(default=None, repr=False)


def lag1_autocorrelation(errors: np.ndarray) -> float | None:
    """Mean over action dimensions of the lag-1 Pearson autocorrelation of ``errors [steps, act_dim]``.

    Dimensions with (near) constant error are skipped; ``None`` if no dimension qualifies.
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim == 1:
        e = e[:, None]
    if e.shape[0] < 3:
        return None
    values = []
    for d in range(e.shape[1]):
        a, b = e[:-1, d] - e[:-1, d].mean(), e[1:, d] - e[1:, d].mean()
        denom = np.sqrt((a * a).sum() * (b * b).sum())
        if denom > 1e-12:
            values.append(float((a * b).sum() / denom))
    return float(np.mean(values)) if values else None


def run_episodes(policy: PolicyPredictor, env_id: str, *, episodes: int = 10, seed: int = 0, teacher: Any | None = None,
                 profile: EnergyModel = DIGITAL_45NM_FP32, max_steps: int | None = None,
                 progress: Any | None = None) -> list[EpisodeResult]:
    """Play ``episodes`` episodes (env ``i`` reset with ``seed + i``) with ``policy`` in parallel.

    Parameters
    ----------
    policy
        Anything with SB3's ``predict(obs, state, episode_start, deterministic)`` (``PolicyPredictor``) whose state,
        if any, is a tuple of arrays with the env row first (as :class:`~snnrl.agents.policy.SpikingPolicy`'s); its
        ``last_decision_ops`` (per-row counts) feed the energy records when present. The returns equal
        ``stable_baselines3.common.evaluation.evaluate_policy``'s on a ``DummyVecEnv`` of ``Monitor`` envs seeded
        ``seed`` (tested).
    teacher
        Optional reference policy: its action on the same observations gives the action error.
    max_steps
        Cap on steps per episode (default: the env's own time limit).
    progress
        Optional tqdm-like object; ``update(1)`` is called per finished episode.
    """
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids snnrl/<Task>Pixels-v5)

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}.")
    envs = [gym.make(env_id) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
    active = np.ones(episodes, dtype=bool)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=int)
    recorders = [EpisodeEnergyRecorder(profile) for _ in range(episodes)]
    errors: list[list[np.ndarray]] = [[] for _ in range(episodes)]
    state, state_rows = None, np.arange(episodes)
    starts = np.ones(episodes, dtype=bool)
    while active.any():
        rows = np.flatnonzero(active)
        if state is not None and not np.array_equal(rows, state_rows):   # keep the running episodes' state rows
            keep = np.searchsorted(state_rows, rows)
            state = tuple(np.asarray(s)[keep] for s in state)
        actions, state = policy.predict(obs[rows], state=state, episode_start=starts[rows], deterministic=True)
        state_rows = rows
        ops = getattr(policy, "last_decision_ops", {})
        if teacher is not None:
            teacher_actions, _ = teacher.predict(obs[rows], deterministic=True)
        for j, i in enumerate(rows):
            if ops:
                recorders[i].add_decision({layer: counts[j] for layer, counts in ops.items()})
            if teacher is not None:
                errors[i].append(np.asarray(actions[j] - teacher_actions[j], dtype=np.float64))
            next_obs, reward, terminated, truncated, _ = envs[i].step(actions[j])
            returns[i] += float(reward)
            lengths[i] += 1
            obs[i] = next_obs
            if terminated or truncated or (max_steps is not None and lengths[i] >= max_steps):
                active[i] = False
                if progress is not None:
                    progress.update(1)
        starts[:] = False
    for env in envs:
        env.close()
    results = []
    for i in range(episodes):
        err = np.stack(errors[i]) if errors[i] else None
        results.append(EpisodeResult(
            seed=seed + i, episode_return=float(returns[i]), length=int(lengths[i]), energy=recorders[i].record(),
            action_error_rms=None if err is None else float(np.sqrt((err ** 2).mean())),
            action_error_lag1=None if err is None else lag1_autocorrelation(err), action_errors=err))
    return results
