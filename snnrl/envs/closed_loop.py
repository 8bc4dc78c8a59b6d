"""A gymnasium wrapper that hosts a (spiking) policy in the loop and records energy per episode.

:class:`ClosedLoop` closes the control loop inside the environment: every :meth:`~ClosedLoop.step` asks the
hosted policy for the action on the last observation (SB3 ``predict`` contract, the policy's recurrent state —
e.g. the CRPI carry — kept by the wrapper), meters the decision's operations, and steps the inner env with
that action. The agent-facing action space is empty (``Box`` of shape ``(0,)``): the policy decides, the caller
only drives time, e.g. with ``env.action_space.sample()``. ``reset()`` starts a fresh policy state.

At episode end (terminated or truncated) the wrapper adds ``info["energy"]`` — steps, synaptic operations,
spikes per layer and energy in pJ under a hardware profile — the way ``RecordEpisodeStatistics`` adds
``info["episode"]``. Every step adds ``info["policy_action"]``, the action the policy took.

The policy object is shared, never copied: each wrapper keeps only its own state (the recurrent state and the
energy recorder), so many wrappers — e.g. the sub-envs of a ``gymnasium.vector.SyncVectorEnv`` — can host one
policy. The wrapper records its constructor arguments (``gymnasium.utils.RecordConstructorArgs``), so ``env.spec``
can re-create it (``env.spec.make()``, as ``gymnasium.utils.env_checker.check_env`` does), but the recorded
arguments are shared, not deep-copied, when the spec is copied: a re-created wrapper hosts the same policy object.

In a ``gymnasium.vector.AsyncVectorEnv`` every worker process builds its own wrapper around its own copy of the
policy (inherited under the ``fork`` context, unpickled under ``spawn``); policy state and energy come back
through ``info``. A wrapper built in a child process sets torch to ``worker_threads`` threads (default 1) before
it runs the policy: a forked child that used the parent's OpenMP thread pool would otherwise deadlock on its
first multi-threaded operation, and one thread per worker also avoids oversubscribing the cores. A forked
worker calls the policy only after that, so fork and spawn both work whatever the parent's thread count.

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

import multiprocessing
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.hardware.episode import EnergyModel, EpisodeEnergyRecorder

if TYPE_CHECKING:
    from stable_baselines3.common.type_aliases import PolicyPredictor

__all__ = ["ClosedLoop"]


class _SharedArguments(dict):
    """Constructor arguments kept by reference: a deep copy (``env.spec`` copies specs) copies only the mapping."""

    def __deepcopy__(self, memo: dict[int, Any]) -> "_SharedArguments":
        return _SharedArguments(self)


class ClosedLoop(gym.Wrapper, RecordConstructorArgs):
    """Host ``policy`` in the loop of ``env``; add ``info["energy"]`` at episode end.

    Parameters
    ----------
    env
        The environment the policy acts in.
    policy
        Any object with SB3's ``predict(observation, state, episode_start, deterministic)`` (its
        ``PolicyPredictor`` protocol); if it has
        ``last_decision_ops`` (as :class:`~snnrl.agents.policy.SpikingPolicy` does) its operations are metered.
    profile
        Hardware profile turning operations into energy.
    worker_threads
        Torch threads to use when the wrapper is built in a child process (a vector env's worker); ``None``
        leaves torch's setting alone. The parent process is never changed.
    """

    def __init__(self, env: gym.Env, policy: PolicyPredictor, *, profile: EnergyModel = DIGITAL_45NM_FP32,
                 worker_threads: int | None = 1) -> None:
        if not callable(getattr(policy, "predict", None)):
            raise TypeError(f"policy must have an SB3-style predict(...) method, got {type(policy).__name__}.")
        if worker_threads is not None and (isinstance(worker_threads, bool) or not isinstance(worker_threads, int)
                                           or worker_threads < 1):
            raise ValueError(f"worker_threads must be an integer >= 1 or None, got {worker_threads!r}.")
        RecordConstructorArgs.__init__(self, _disable_deepcopy=True)
        self._saved_kwargs = _SharedArguments(policy=policy, profile=profile, worker_threads=worker_threads)
        super().__init__(env)
        if worker_threads is not None and multiprocessing.parent_process() is not None:
            torch.set_num_threads(worker_threads)   # before the policy runs in this process (see module docstring)
        self.policy = policy
        self.recorder = EpisodeEnergyRecorder(profile)
        self.action_space = spaces.Box(low=0.0, high=0.0, shape=(0,), dtype=np.float32)
        self._obs: Any = None
        self._state: tuple[np.ndarray, ...] | None = None
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
