"""Control side: conversion, CRPI, SpikingPolicy contract, ClosedLoop wrapper, zoo and teacher files."""

import math
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from snnrl.agents.actor import ActorInfo, TeacherActor, actor_from_sb3, load_actor, save_actor
from snnrl.agents.conversion import (ConversionConfig, ConversionError, calibrate_thresholds, convert_actor,
                                     thresholds_from_activations)
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import AnnPolicy, ObservationError, SpikingPolicy
from snnrl.agents.zoo import ZOO_DIR, load_teacher
from snnrl.envs.closed_loop import ClosedLoop
from snnrl.io import ArtifactError

from conftest import random_actor


def _one_neuron_actor() -> TeacherActor:
    """obs -> Linear(1,1)=identity -> ReLU -> Linear(1,1)=identity -> tanh; actions in [-1, 1]."""
    l1, head = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        l1.weight.fill_(1.0), l1.bias.zero_(), head.weight.fill_(1.0), head.bias.zero_()
    return TeacherActor(nn.Sequential(l1, nn.ReLU()), head, action_low=np.array([-1.0]), action_high=np.array([1.0]),
                        info=ActorInfo(algo="TD3", env_id="none"))


def _carry(state) -> float:
    return float(state[0].item())


def test_crpi_single_neuron_hand_computed():
    snn = convert_actor(_one_neuron_actor(), [torch.tensor([1.0])])
    policy = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=1.0))
    obs = np.array([0.375], dtype=np.float32)
    # Decision 1: V_start = θ/2 = .5; V: .875, 1.25->spike .25, .625, 1.0->spike 0.0  => 2 spikes, V_end = 0
    #   Δ = 0 - .5 = -.5; floor -2θ; c = clip(1 * -.5, -.5, .5) = -.5
    action, state = policy.predict(obs, episode_start=np.array([True]))
    assert action[0] == pytest.approx(math.tanh(2 / 4))
    assert _carry(state) == -0.5
    # Decision 2: V_start = .5 - .5 = 0; V: .375, .75, 1.125->spike .125, .5  => 1 spike, V_end = .5
    #   Δ = .5 - 0 = .5; c = .5
    action, state = policy.predict(obs, state, np.array([False]))
    assert action[0] == pytest.approx(math.tanh(1 / 4))
    assert _carry(state) == 0.5
    # Decision 3: V_start = 1.0; V: 1.375->spike .375, .75, 1.125->spike .125, .5 => 2 spikes, Δ = -.5
    action, state = policy.predict(obs, state, np.array([False]))
    assert action[0] == pytest.approx(math.tanh(2 / 4))
    assert _carry(state) == -0.5
    # Over decisions 1-2 the mean rate is (2 + 1) / 8 = .375: CRPI feeds the quantisation error back.
    # Without CRPI every decision gives 2 spikes (rate .5): the same error, same sign, every time.
    plain = SpikingPolicy(snn, timesteps=4, crpi=None)
    s = None
    for _ in range(3):
        action, s = plain.predict(obs, s, np.array([False]))
        assert action[0] == pytest.approx(math.tanh(0.5)) and _carry(s) == 0.0


def test_crpi_alpha_floor_and_episode_reset():
    snn = convert_actor(_one_neuron_actor(), [torch.tensor([1.0])])
    obs = np.array([0.375], dtype=np.float32)
    half = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=0.5))
    _, state = half.predict(obs)
    assert _carry(state) == -0.25                     # 0.5 * -0.5
    # Decision 2 from V_start .25: .625, 1.0->spike 0, .375, .75 => Δ = .5 => c = .25
    _, state = half.predict(obs, state, np.array([False]))
    assert _carry(state) == 0.25
    floor0 = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=1.0, floor_spikes=0.0))
    _, state = floor0.predict(obs)
    assert _carry(state) == 0.0                        # max(-.5, -0 * θ) = 0
    full = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=1.0))
    _, state = full.predict(obs)
    first, _ = full.predict(obs, state, np.array([True]))   # new episode: carry zeroed
    assert first[0] == pytest.approx(math.tanh(0.5))
    keep = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=1.0, reset_on_episode_start=False))
    _, state = keep.predict(obs)
    carried, _ = keep.predict(obs, state, np.array([True]))  # reference behaviour: carry kept
    assert carried[0] == pytest.approx(math.tanh(0.25))
    with pytest.raises(ValueError, match="alpha"):
        CRPIConfig(alpha=1.5)


def test_converted_mlp_converges_to_the_ann_as_t_grows():
    actor = random_actor()
    gen = torch.Generator().manual_seed(1)
    calib = torch.rand(2000, 3, generator=gen) * 2 - 1
    thresholds = thresholds_from_activations(actor.hidden_activations(calib), method="max")
    snn = convert_actor(actor, thresholds)
    obs = torch.rand(64, 3, generator=gen) * 2 - 1
    with torch.no_grad():
        target = actor(obs)
        errors = [float((snn(obs, timesteps=t) - target).abs().mean()) for t in (2, 8, 32, 128, 512)]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.01 and errors[0] > 5 * errors[-1]


def test_percentile_thresholds_are_one_per_layer():
    acts = [torch.tensor([[0.0, 1.0], [2.0, 3.0], [0.0, 4.0]])]
    (theta,) = thresholds_from_activations(acts, method="percentile", percentile=50)
    assert theta.tolist() == [2.5, 2.5]  # median of the non-zero activations 1, 2, 3, 4
    (theta,) = thresholds_from_activations([torch.tensor([[0.0, 1.0], [0.0, 3.0]])], method="max")
    assert theta.tolist() == [3.0, 3.0]  # the dead neuron gets the layer's largest threshold


def test_threshold_scale_multiplies_the_calibrated_thresholds():
    acts = [torch.tensor([[0.0, 1.0], [2.0, 4.0]])]
    (theta,) = thresholds_from_activations(acts, method="max", scale=0.5)
    assert theta.tolist() == [1.0, 2.0]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="threshold_scale must be a finite number > 0"):
            ConversionConfig(threshold_scale=bad)


def test_cli_rejects_a_bad_threshold_scale_before_loading_anything(capsys):
    from snnrl.cli import main

    assert main(["evaluate", "td3-invertedpendulum", "--threshold-scale", "0"]) == 2
    assert "argument --threshold-scale: expected a finite number > 0, got '0'" in capsys.readouterr().err


def test_unsupported_layers_get_clear_errors():
    from stable_baselines3 import PPO

    ppo = PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")  # SB3's default hidden activation is Tanh
    actor = actor_from_sb3(ppo, env_id="Pendulum-v1")
    with pytest.raises(ConversionError, match=r"hidden layer 1 is Tanh.*activation_fn=torch.nn.ReLU"):
        convert_actor(actor, [torch.ones(64), torch.ones(64)])
    bad = random_actor()
    bad.hidden[0] = nn.Conv1d(3, 16, 1)
    with pytest.raises(ConversionError, match="hidden layer 0 is Conv1d"):
        convert_actor(bad, [torch.ones(16), torch.ones(16)])


@pytest.mark.parametrize("algo", ["SAC", "PPO", "TD3"])
def test_sb3_actor_extraction_matches_predict(algo):
    import stable_baselines3 as sb3

    kwargs = {"policy_kwargs": {"activation_fn": nn.ReLU, "net_arch": [32, 32]}, "seed": 0, "device": "cpu"}
    model = getattr(sb3, algo)("MlpPolicy", "Pendulum-v1", **kwargs)
    actor = actor_from_sb3(model, env_id="Pendulum-v1")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(8, 3)).astype(np.float32)
    expected, _ = model.predict(obs, deterministic=True)
    with torch.no_grad():
        ours = actor(torch.from_numpy(obs)).numpy()
    assert np.allclose(ours, expected, atol=1e-5)
    snn = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(torch.from_numpy(obs))))
    assert SpikingPolicy(snn, timesteps=4).predict(obs)[0].shape == (8, 1)


def test_normalisation_is_folded_exactly():
    actor = random_actor()
    actor.obs_mean = torch.tensor([0.5, -1.0, 2.0])
    actor.obs_var = torch.tensor([4.0, 0.25, 1.0])
    snn = convert_actor(actor, [torch.ones(16), torch.ones(16)])
    obs = torch.tensor([[1.0, 0.0, 40.0], [-3.0, -1.5, 2.5]])  # the first row hits the clip (obs_clip=10)
    with torch.no_grad():
        folded = snn.input_layer(torch.maximum(torch.minimum(obs, snn.obs_high), snn.obs_low))
        reference = actor.hidden[0](actor.normalise(obs))
    assert torch.allclose(folded, reference, atol=1e-5)


@pytest.fixture(scope="module")
def pendulum_policy() -> SpikingPolicy:
    actor, _ = load_teacher("td3-invertedpendulum")
    thresholds = calibrate_thresholds(actor, config=ConversionConfig(calibration_steps=1000, seed=0))
    return SpikingPolicy(convert_actor(actor, thresholds), timesteps=8, crpi=CRPIConfig(alpha=1.0))


def test_evaluate_policy_works_on_a_dummy_vec_env(pendulum_policy):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    venv = make_vec_env("InvertedPendulum-v5", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 200})
    mean, std = evaluate_policy(pendulum_policy, venv, n_eval_episodes=4)
    assert mean == pytest.approx(200.0) and std == 0.0  # the converted policy balances every episode
    single = make_vec_env("InvertedPendulum-v5", n_envs=1, seed=1, env_kwargs={"max_episode_steps": 100})
    assert evaluate_policy(pendulum_policy, single, n_eval_episodes=2)[0] == pytest.approx(100.0)


def test_resetting_one_env_leaves_the_other_untouched(pendulum_policy):
    rng = np.random.default_rng(0)
    obs = [rng.uniform(-0.2, 0.2, size=(2, 4)).astype(np.float32) for _ in range(3)]
    _, state = pendulum_policy.predict(obs[0])
    _, state = pendulum_policy.predict(obs[1], state, np.array([False, False]))
    actions, after = pendulum_policy.predict(obs[2], state, np.array([True, False]))
    # Same batch shape (bit-exact comparison): env 1 as if nothing happened, env 0 from a fresh state.
    same, same_state = pendulum_policy.predict(obs[2], state, np.array([False, False]))
    assert np.array_equal(actions[1], same[1]) and all(np.array_equal(a[1], b[1]) for a, b in zip(after, same_state))
    fresh = tuple(np.concatenate([z, c[1:]]) for z, c in zip(pendulum_policy.initial_state(1), state))
    fresh_actions, fresh_state = pendulum_policy.predict(obs[2], fresh, np.array([False, False]))
    assert np.array_equal(actions[0], fresh_actions[0])
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(after, fresh_state))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(after, same_state))  # the reset did change env 0


def test_energy_record_appears_exactly_at_episode_end(pendulum_policy):
    env = ClosedLoop(gym.make("InvertedPendulum-v5", max_episode_steps=30), pendulum_policy)
    env.reset(seed=0)
    for step in range(1, 31):
        _, _, terminated, truncated, info = env.step(None)
        assert ("energy" in info) == (terminated or truncated)
        assert info["policy_action"].shape == (1,)
    assert step == 30 and truncated
    record = info["energy"]
    assert record["steps"] == 30
    assert record["energy_pj"] == pytest.approx(sum(record["energy_per_step_pj"]))
    assert set(record["spikes_per_layer"]) == {"neurons.0", "neurons.1"}
    assert record["synaptic_ops"]["macs"] == 30 * 4 * 400  # first layer once per decision: 4 inputs x 400
    env.reset(seed=1)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert "energy" not in info
    with pytest.raises(ValueError, match="takes no action"):
        env.step(np.zeros(1))


def test_closed_loop_in_a_gymnasium_vector_env(pendulum_policy):
    envs = gym.vector.SyncVectorEnv(
        [lambda n=n: ClosedLoop(gym.make("InvertedPendulum-v5", max_episode_steps=20 + 5 * n), pendulum_policy)
         for n in range(2)])
    envs.reset(seed=0)
    ends = {}
    for t in range(1, 26):
        _, _, _, _, info = envs.step(envs.action_space.sample())
        if "energy" in info:
            for i in np.flatnonzero(info["_energy"]):
                ends.setdefault(int(i), (t, int(info["energy"]["steps"][i])))
    assert ends == {0: (20, 20), 1: (25, 25)}


def test_bad_observations_get_clear_errors(pendulum_policy):
    with pytest.raises(ObservationError, match=r"Expected observation of shape \(4,\) or \(n_envs, 4\), got \(3, 17\)"):
        pendulum_policy.predict(np.zeros((3, 17)))
    with pytest.raises(ObservationError, match="NaN"):
        pendulum_policy.predict(np.array([0.0, np.nan, 0.0, 0.0]))


def test_policy_file_round_trip_and_bad_files(pendulum_policy, tmp_path):
    path = pendulum_policy.save(tmp_path / "policy.pt")
    loaded = SpikingPolicy.load(path)
    obs = np.random.default_rng(1).uniform(-0.1, 0.1, size=(3, 4)).astype(np.float32)
    a, s = pendulum_policy.predict(obs)
    b, t = loaded.predict(obs)
    assert np.array_equal(a, b) and all(np.array_equal(x, y) for x, y in zip(s, t, strict=True))
    assert loaded.crpi == pendulum_policy.crpi
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="corrupt"):
        SpikingPolicy.load(path)
    from snnrl.io import save_versioned

    save_versioned(tmp_path / "old.pt", kind="snnrl-spiking-policy", version=0, payload={})
    with pytest.raises(ArtifactError, match="format version 0"):
        SpikingPolicy.load(tmp_path / "old.pt")


def test_ann_policy_meters_macs():
    actor, entry = load_teacher("td3-invertedpendulum")
    policy = AnnPolicy(actor)
    policy.predict(np.zeros(4, dtype=np.float32))
    macs = sum(int(c[0][0]) for c in policy.last_decision_ops.values())
    assert macs == 4 * 400 + 400 * 300 + 300 * 1


def test_zoo_checks_file_hashes(tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(ZOO_DIR, zoo)
    actor, entry = load_teacher("td3-invertedpendulum", zoo)
    assert entry["return_mean"] >= entry["target_return"] and actor.info.env_id == "InvertedPendulum-v5"
    data = bytearray((zoo / entry["file"]).read_bytes())
    data[-10] ^= 0xFF
    (zoo / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its manifest hash"):
        load_teacher("td3-invertedpendulum", zoo)
    with pytest.raises(KeyError, match="Known teachers"):
        load_teacher("td3-nothing", zoo)


def test_actor_file_round_trip(tmp_path):
    actor = random_actor()
    save_actor(tmp_path / "a.pt", actor, meta={"x": 1})
    loaded, meta = load_actor(tmp_path / "a.pt")
    obs = torch.rand(5, 3)
    assert torch.equal(actor(obs), loaded(obs)) and meta == {"x": 1}


def test_teacher_training_resumes_from_its_checkpoint(tmp_path):
    from snnrl.agents.teachers import TeacherSpec, TrainingProgress, train_teacher

    spec = TeacherSpec(name="td3-pendulum", algo="TD3", env_id="Pendulum-v1", total_steps=300, target_return=0.0,
                       net_arch=(16, 16), learning_starts=100, eval_every=150)
    first = train_teacher(spec, workdir=tmp_path, max_steps=200, checkpoint_every=100, eval_episodes=1)
    assert first.steps == 200 and (tmp_path / "model.zip").is_file() and (tmp_path / "replay_buffer.pkl").is_file()
    second = train_teacher(spec, workdir=tmp_path, max_steps=300, checkpoint_every=100, eval_episodes=1)
    assert second.steps == 300 and second.finished
    assert [h["steps"] for h in second.history] == [150, 300]
    assert TrainingProgress.load(tmp_path / "progress.json", "x").steps == 300


def test_a_state_that_is_not_this_policys_is_refused(pendulum_policy):
    obs = np.zeros((2, 4), dtype=np.float32)
    _, state = pendulum_policy.predict(obs)
    with pytest.raises(ValueError, match=f"tuple of {len(state)} carry arrays"):
        pendulum_policy.predict(obs, {"carry": state[0]})
    with pytest.raises(ValueError, match="shapes"):
        pendulum_policy.predict(obs, tuple(np.zeros((2, 3), np.float32) for _ in state))
    fresh, _ = pendulum_policy.predict(obs[:1])
    other_batch, _ = pendulum_policy.predict(obs[:1], state)    # another batch size: a fresh carry, as SB3 does
    assert np.array_equal(fresh, other_batch)
