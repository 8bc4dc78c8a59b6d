"""Determinism: the same seed gives bit-identical results on CPU.

A continual run, the closed-loop evaluation of a converted policy (actions, returns, energy records) and a short
teacher training (the actor's weights) are each run twice with the same seed and compared with exact equality.
(Resuming a killed run is compared with an uninterrupted one in ``tests/test_crash_resume.py``.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

import snnrl.continual  # noqa: F401  (torchvision shim before avalanche)
from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, convert_actor
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.evaluation import run_episodes
from snnrl.agents.policy import AnnPolicy, SpikingPolicy
from snnrl.agents.zoo import load_teacher
from snnrl.continual.experiment import ContinualConfig, run_continual


def _without_wall_time(results: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in results.items() if not k.startswith("wall_s")}


def test_continual_run_is_bit_identical_for_the_same_seed():
    """Two runs of the same configuration: identical accuracy matrices (and everything else but wall time)."""
    config = ContinualConfig(benchmark="split-digits", strategy="er", buffer_size=30, n_experiences=5, seed=7,
                             train_per_class=20, test_per_class=10, epochs=1)
    first, second = (run_continual(config, progress=False) for _ in range(2))
    assert _without_wall_time(first) == _without_wall_time(second)
    other = run_continual(replace(config, seed=8), progress=False)
    assert other["class_il_matrix"] != first["class_il_matrix"]  # the seed matters (the comparison is not vacuous)


class _Recording:
    """A policy wrapper that keeps every batch of actions it returns."""

    def __init__(self, policy: Any) -> None:
        self.policy, self.actions = policy, []

    def predict(self, *args: Any, **kwargs: Any):
        actions, state = self.policy.predict(*args, **kwargs)
        self.actions.append(np.array(actions, copy=True))
        return actions, state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)


def test_closed_loop_evaluation_is_bit_identical():
    """Calibration, conversion and a CRPI policy in InvertedPendulum-v5, twice: identical actions, returns, energy."""
    actor, _ = load_teacher("td3-invertedpendulum")
    runs = []
    for _ in range(2):
        thresholds = calibrate_thresholds(actor, config=ConversionConfig(calibration_steps=300, seed=3))
        policy = _Recording(SpikingPolicy(convert_actor(actor, thresholds), timesteps=8, crpi=CRPIConfig(alpha=1.0)))
        results = run_episodes(policy, "InvertedPendulum-v5", episodes=3, seed=11, max_steps=60,
                               teacher=AnnPolicy(actor, metering=False))
        runs.append((thresholds, policy.actions, results))
    (th_a, actions_a, res_a), (th_b, actions_b, res_b) = runs
    assert all(torch.equal(a, b) for a, b in zip(th_a, th_b))
    assert len(actions_a) == len(actions_b) and all(np.array_equal(a, b) for a, b in zip(actions_a, actions_b))
    for a, b in zip(res_a, res_b):
        assert (a.episode_return, a.length, a.energy) == (b.episode_return, b.length, b.energy)
        assert np.array_equal(a.action_errors, b.action_errors)


def test_teacher_training_is_bit_identical(tmp_path):
    """A few hundred TD3 steps (with updates and an evaluation), twice: identical actor weights and progress."""
    import gymnasium as gym
    from stable_baselines3 import TD3

    from snnrl.agents.teachers import TeacherSpec, _make_model, train_teacher

    spec = TeacherSpec(name="td3-pendulum", algo="TD3", env_id="Pendulum-v1", total_steps=300, target_return=0.0,
                       net_arch=(16, 16), learning_starts=100, eval_every=300, extra={"buffer_size": 1000})
    weights, records = [], []
    for run in ("a", "b"):
        progress = train_teacher(spec, workdir=tmp_path / run, checkpoint_every=150, eval_episodes=1)
        records.append((progress.steps, progress.best_return, progress.history[0]["return_mean"]))
        weights.append(TD3.load(tmp_path / run / "model.zip", device="cpu").policy.state_dict())
    assert records[0] == records[1]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    initial = _make_model(spec, gym.make(spec.env_id)).policy.state_dict()
    # Training moved the actor: the comparison is not between two untrained networks.
    assert not torch.equal(initial["actor.mu.0.weight"], weights[0]["actor.mu.0.weight"])
