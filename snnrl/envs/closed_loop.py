"""A gymnasium wrapper that hosts a (spiking) policy in the loop and records energy per episode.

:class:`ClosedLoop` closes the control loop inside the environment: every :meth:`~ClosedLoop.step` asks the
hosted policy for the action on the last observation (SB3 ``predict`` contract, the policy's recurrent state —
e.g. the CRPI carry — kept by the wrapper), meters the decision's operations, and steps the inner env with
that action. The agent-facing action space is empty (``Box`` of shape ``(0,)``): the policy decides, the caller
only drives time, e.g. with ``env.action_space.sample()``. ``reset()`` starts a fresh policy state.

At episode end (terminated or truncated) the wrapper adds ``info["energy"]`` — steps, synaptic operations,
spikes per layer and energy in pJ under a hardware profile — the way ``RecordEpisodeStatistics`` adds
``info["episode"]``. Every step adds ``info["policy_action"]``, the action the policy took.

The policy object is shared, not copied: each wrapper keeps only its own state, so many wrappers (e.g. the
sub-envs of a ``gymnasium.vector.SyncVectorEnv``) can host one policy; ``AsyncVectorEnv`` pickles one copy per
worker. The wrapper does not record its constructor arguments, so ``env.spec`` never deep-copies the policy.

Example
-------
>>> import gymnasium as gym
>>> from snnrl.agents.zoo import load_teacher
>>> from snnrl.agents.policy import AnnPolicy
>>> actor, entry = load_teacher("td3-invertedpendulum")
>>> env = ClosedLoop(gym.make(entry["env_id"]), AnnPolicy(actor))
>>> obs, info = env.reset(seed=0)
>>> for _ in range(1000):
...     obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
...     if terminated or truncated:
...         break
>>> info["energy"]["steps"]
1000
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.hardware.episode import EnergyModel, EpisodeEnergyRecorder

__all__ = ["ClosedLoop"]


class ClosedLoop(gym.Wrapper):
    """Host ``policy`` in the loop of ``env``; add ``info["energy"]`` at episode end.

    Parameters
    ----------
    env
        The environment the policy acts in.
    policy
        Any object with SB3's ``predict(observation, state, episode_start, deterministic)``; if it has
        ``last_decision_ops`` (as :class:`~snnrl.agents.policy.SpikingPolicy` does) its operations are metered.
    profile
        Hardware profile turning operations into energy.
    """

    def __init__(self, env: gym.Env, policy: Any, *, profile: EnergyModel = DIGITAL_45NM_FP32) -> None:
        super().__init__(env)
        if not callable(getattr(policy, "predict", None)):
            raise TypeError(f"policy must have an SB3-style predict(...) method, got {type(policy).__name__}.")
        self.policy = policy
        self.recorder = EpisodeEnergyRecorder(profile)
        self.action_space = spaces.Box(low=0.0, high=0.0, shape=(0,), dtype=np.float32)
        self._obs: Any = None
        self._state: Any = None
        self._episode_start = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs, self._state, self._episode_start = obs, None, True
        self.recorder.reset()
        return obs, info

    def step(self, action: Any = None) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("ClosedLoop.step() called before reset(); call env.reset() first.")
        if action is not None and np.size(action) != 0:
            raise ValueError(f"ClosedLoop takes no action from the caller (the hosted policy acts); pass None or an "
                             f"empty action such as env.action_space.sample(), got an action of shape {np.shape(action)}.")
        policy_action, self._state = self.policy.predict(self._obs, state=self._state,
                                                         episode_start=np.array([self._episode_start]),
                                                         deterministic=True)
        self._episode_start = False
        ops = getattr(self.policy, "last_decision_ops", None)
        if ops:
            self.recorder.add_decision({layer: counts[0] for layer, counts in ops.items()})
        obs, reward, terminated, truncated, info = self.env.step(policy_action)
        self._obs = obs
        info = dict(info)
        info["policy_action"] = policy_action
        if terminated or truncated:
            info["energy"] = self.recorder.record()
        return obs, reward, terminated, truncated, info
