"""gymnasium and SB3 contracts of :class:`snnrl.envs.closed_loop.ClosedLoop`: the env checkers, specs that share
(never deep-copy) the hosted policy, and vector envs (sync, async under fork and spawn) that step and close."""

from __future__ import annotations

import copy
import multiprocessing

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.agents.conversion import convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.zoo import load_teacher
from snnrl.envs.closed_loop import ClosedLoop

ENV_ID = "InvertedPendulum-v5"


@pytest.fixture(scope="module")
def policy() -> SpikingPolicy:
    """A converted zoo teacher (thresholds from random observations: no calibration rollouts)."""
    actor, _ = load_teacher("td3-invertedpendulum")
    obs = torch.from_numpy(np.random.default_rng(0).uniform(-0.2, 0.2, size=(256, 4)).astype(np.float32))
    return SpikingPolicy(convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs))),
                         timesteps=4, crpi=CRPIConfig(alpha=1.0))


def test_closed_loop_passes_the_gymnasium_and_sb3_env_checkers(policy):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = ClosedLoop(gym.make(ENV_ID, max_episode_steps=20), policy)
    # The render check opens MuJoCo's "human" window (needs a display); every other check runs.
    check_env(env, skip_render_check=True)
    sb3_check_env(ClosedLoop(gym.make(ENV_ID, max_episode_steps=20), policy), warn=True)
    env.close()


def test_specs_share_the_policy_instead_of_copying_it(policy):
    env = gym.wrappers.RecordEpisodeStatistics(ClosedLoop(gym.make(ENV_ID, max_episode_steps=20), policy))
    spec = copy.deepcopy(env.spec)                  # an outer wrapper's spec deep-copies ours
    ours = next(w for w in spec.additional_wrappers if w.name == "ClosedLoop")
    assert ours.kwargs["policy"] is policy
    remade = spec.make()
    assert remade.get_wrapper_attr("policy") is policy
    remade.reset(seed=0)
    assert remade.step(None)[4]["policy_action"].shape == (1,)
    remade.close()
    env.close()


def test_worker_threads_is_checked(policy):
    with pytest.raises(ValueError, match="worker_threads must be an integer >= 1 or None, got 0"):
        ClosedLoop(gym.make(ENV_ID), policy, worker_threads=0)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_async_vector_env_steps_and_closes_with_a_multithreaded_parent(policy, context):
    """A forked worker of a parent that used torch's thread pool deadlocks on its first parallel op unless the
    wrapper sets one thread in the worker; every wait below has a timeout, so a hang fails instead of blocking."""
    if context not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {context} start method on this platform")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.randn(512, 512) @ torch.randn(512, 512)      # start the parent's intra-op thread pool
        policy.predict(np.zeros((64, 4), np.float32))
        envs = gym.vector.AsyncVectorEnv(
            [lambda n=n: ClosedLoop(gym.make(ENV_ID, max_episode_steps=4 + n), policy) for n in range(2)],
            context=context)
        finished = False
        try:
            envs.reset_async(seed=0)
            envs.reset_wait(timeout=60)
            ends = {}
            for t in range(1, 6):
                envs.step_async(envs.action_space.sample())
                _, _, terminated, truncated, info = envs.step_wait(timeout=30)
                assert info["policy_action"].shape == (2, 1)
                for i in np.flatnonzero(info.get("_energy", np.zeros(2, bool))):
                    ends.setdefault(int(i), (t, int(info["energy"]["steps"][i])))
            assert ends == {0: (4, 4), 1: (5, 5)}
            finished = True
        finally:
            envs.close(timeout=30, terminate=not finished)  # a hung worker is killed, not joined forever
        assert envs.closed
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", ["spiking", "ann"])
def test_our_evaluation_loop_gives_evaluate_policys_returns_on_the_same_seeds(kind):
    """The loop behind the README numbers (``run_episodes``: episodes batched, finished rows dropped from the state)
    and SB3's ``evaluate_policy`` (a DummyVecEnv of Monitor envs seeded the same way) give the same returns."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy

    actor, _ = load_teacher("td3-hopper")
    obs = torch.from_numpy(np.random.default_rng(0).normal(size=(512, 11)).astype(np.float32))
    if kind == "spiking":   # loose thresholds: episodes end at different steps, so rows drop out at different times
        policy = SpikingPolicy(convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs))),
                               timesteps=4, crpi=CRPIConfig(alpha=1.0))
        _, state = policy.predict(obs[:3].numpy())
        assert isinstance(state, tuple) and all(isinstance(s, np.ndarray) and s.shape[0] == 3 for s in state)
    else:
        policy = AnnPolicy(actor)
    episodes, seed, steps = 4, 11, 150
    ours = run_episodes(policy, "Hopper-v5", episodes=episodes, seed=seed, max_steps=steps)
    venv = make_vec_env("Hopper-v5", n_envs=episodes, seed=seed, env_kwargs={"max_episode_steps": steps})
    returns, lengths = evaluate_policy(policy, venv, n_eval_episodes=episodes, return_episode_rewards=True)
    venv.close()
    ours = sorted(ours, key=lambda r: r.length)   # evaluate_policy lists episodes as they finish (ties: env order)
    assert [r.length for r in ours] == lengths
    assert kind == "ann" or len(set(lengths)) > 1                 # the spiking case drops rows at different steps
    # Monitor rounds each return to 6 decimals.
    np.testing.assert_allclose([r.episode_return for r in ours], returns, rtol=0, atol=2e-6)
