"""Exact mode against the ANN and rate conversion: episode returns, action ULPs, energy per decision.

Everything runs through the shared evaluation path (:func:`snnrl.agents.evaluation.run_episodes`), so the
numbers come from the same environments, seeds, energy recorder and hardware profile for every policy.

* :func:`compare_returns` — seeded episodes of the exact-mode SNN, the ANN under the same arithmetic
  (:class:`~snnrl.exact.policy.SequentialAnnPolicy`) and the ordinary ANN (:class:`~snnrl.agents.policy.AnnPolicy`).
* :func:`action_ulps` — ULP distances between exact-mode actions and the ordinary ANN's on given observations.
* :func:`compare_energy` — energy per decision of the ANN (dense MACs), rate conversion at ``T`` timesteps
  (:func:`~snnrl.agents.conversion.calibrate_thresholds` + :func:`~snnrl.agents.conversion.convert_actor`) and
  exact mode, under one :class:`~snnrl.hardware.digital.DigitalProfile`.

These are long runs (exact mode simulates every gate on the CPU); the tests run them on short episodes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, convert_actor
from snnrl.agents.evaluation import run_episodes
from snnrl.agents.policy import AnnPolicy, SpikingPolicy
from snnrl.agents.zoo import load_teacher
from snnrl.exact.policy import SequentialAnnPolicy, convert_exact
from snnrl.exact.reference import reference_actor_forward, sequential_linear, ulp_distance
from snnrl.hardware.digital import DIGITAL_45NM_FP32, DigitalProfile

__all__ = ["compare_returns", "action_ulps", "collect_observations", "energy_per_decision", "compare_energy"]


def compare_returns(teacher: str = "td3-invertedpendulum", *, episodes: int = 5, seed: int = 0,
                    max_steps: int | None = None) -> dict[str, Any]:
    """Returns and lengths of ``episodes`` seeded episodes (env ``i`` reset with ``seed + i``) for the exact SNN,
    the sequential-arithmetic ANN and the ordinary ANN, with wall time and energy per decision.

    The exact run also asks the sequential-arithmetic ANN for its action at every step of the exact SNN's own
    trajectory: ``exact_snn["max_abs_action_difference"]`` is 0.0 when every action was identical."""
    actor, entry = load_teacher(teacher)
    out: dict[str, Any] = {"teacher": teacher, "env_id": entry["env_id"], "episodes": episodes, "seed": seed,
                           "max_steps": max_steps}
    policies = {"exact_snn": convert_exact(actor), "ann_sequential": SequentialAnnPolicy(actor),
                "ann": AnnPolicy(actor)}
    for name, policy in policies.items():
        start = time.perf_counter()
        reference = SequentialAnnPolicy(actor, metering=False) if name == "exact_snn" else None
        results = run_episodes(policy, entry["env_id"], episodes=episodes, seed=seed, max_steps=max_steps,
                               teacher=reference)
        out[name] = {"returns": [r.episode_return for r in results], "lengths": [r.length for r in results],
                     "wall_s": time.perf_counter() - start,
                     "energy_per_decision_pj": float(np.mean([r.energy["energy_per_decision_pj"] for r in results]))}
        if reference is not None:
            out[name]["max_abs_action_difference"] = max(float(np.abs(r.action_errors).max()) for r in results)
    out["exact_equals_ann_sequential"] = out["exact_snn"]["returns"] == out["ann_sequential"]["returns"]
    out["exact_equals_ann"] = out["exact_snn"]["returns"] == out["ann"]["returns"]
    return out


@torch.no_grad()
def collect_observations(actor, env_id: str, *, steps: int = 1000, seed: int = 0) -> torch.Tensor:
    """``[steps, obs_dim]`` observations of deterministic ANN rollouts (resetting with ``seed + k``)."""
    import gymnasium as gym

    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    rows, episode = [], 0
    for _ in range(steps):
        rows.append(np.asarray(obs, dtype=np.float32))
        obs, _, terminated, truncated, _ = env.step(actor(torch.as_tensor(rows[-1])[None])[0].numpy())
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    env.close()
    return torch.from_numpy(np.stack(rows))


@torch.no_grad()
def action_ulps(actor, observations: torch.Tensor) -> dict[str, Any]:
    """ULP distances on ``observations``: exact-mode actions (= :func:`reference_actor_forward`) vs the ordinary
    ANN, and the output layer's pre-activation (sequential sums vs ``nn.Linear``)."""
    actions = reference_actor_forward(actor, observations)
    ann = actor(observations)
    x = observations
    for layer in [m for m in actor.hidden if isinstance(m, torch.nn.Linear)]:
        x = torch.relu(layer(x))
    pre_ann = actor.head(x)
    x = observations
    for layer in [m for m in actor.hidden if isinstance(m, torch.nn.Linear)]:
        x = torch.relu(sequential_linear(x, layer.weight, layer.bias))
    pre_seq = sequential_linear(x, actor.head.weight, actor.head.bias)
    act, pre = ulp_distance(actions, ann).flatten(), ulp_distance(pre_seq, pre_ann).flatten()
    bound = float(torch.maximum(actor.action_low.abs(), actor.action_high.abs()).max())
    abs_max = float((actions - ann).abs().max())
    return {"observations": int(observations.shape[0]),
            "action_ulp_max": int(act.max()), "action_ulp_mean": float(act.double().mean()),
            "action_identical_fraction": float((act == 0).double().mean()),
            "action_abs_max": abs_max,
            "action_abs_max_in_ulps_of_bound": abs_max / float(np.spacing(np.float32(bound))),
            "pre_action_ulp_max": int(pre.max()), "pre_action_ulp_mean": float(pre.double().mean())}


def energy_per_decision(policy: Any, env_id: str, *, episodes: int = 1, seed: int = 0, max_steps: int | None = None,
                        profile: DigitalProfile = DIGITAL_45NM_FP32) -> dict[str, Any]:
    """Mean energy and operations per decision of ``policy`` over seeded episodes (``run_episodes`` records)."""
    start = time.perf_counter()
    results = run_episodes(policy, env_id, episodes=episodes, seed=seed, max_steps=max_steps, profile=profile)
    steps = sum(r.length for r in results)
    totals = {"macs": 0, "accumulates": 0, "neuron_updates": 0, "spikes": 0}
    for r in results:
        for layer in r.energy["ops_per_layer"].values():
            for key in totals:
                totals[key] += layer[key]
    return {"decisions": steps, "energy_per_decision_pj": sum(r.energy["energy_pj"] for r in results) / steps,
            **{f"{k}_per_decision": v / steps for k, v in totals.items()},
            "returns": [r.episode_return for r in results], "wall_s": time.perf_counter() - start,
            "profile": profile.name}


def compare_energy(teacher: str = "td3-invertedpendulum", *, timesteps: tuple[int, ...] = (8, 16),
                   calibration_steps: int = 2000, episodes: int = 1, seed: int = 0, max_steps: int | None = 100,
                   profile: DigitalProfile = DIGITAL_45NM_FP32) -> list[dict[str, Any]]:
    """Energy per decision of the ANN, rate conversion at each ``T`` and exact mode, one profile, same episodes."""
    actor, entry = load_teacher(teacher)
    env_id = entry["env_id"]
    thresholds = calibrate_thresholds(actor, env_id, ConversionConfig(calibration_steps=calibration_steps, seed=seed))
    snn = convert_actor(actor, thresholds)
    rows = [{"policy": "ANN (dense MACs)", **energy_per_decision(AnnPolicy(actor), env_id, episodes=episodes, seed=seed,
                                                                  max_steps=max_steps, profile=profile)}]
    for t in timesteps:
        rows.append({"policy": f"rate conversion T={t}",
                     **energy_per_decision(SpikingPolicy(snn, timesteps=t), env_id, episodes=episodes, seed=seed,
                                           max_steps=max_steps, profile=profile)})
    rows.append({"policy": "exact (NEXUS-style gates)",
                 **energy_per_decision(convert_exact(actor), env_id, episodes=episodes, seed=seed, max_steps=max_steps,
                                       profile=profile)})
    return rows
