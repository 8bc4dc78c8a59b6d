"""Population coding: K staggered copies of every hidden neuron quantise like one neuron in T·K steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import random_actor
from snnrl.agents.actor import ActorInfo, TeacherActor
from snnrl.agents.calibration import mse_thresholds, rate_quantise
from snnrl.agents.conversion import ConversionError, convert_actor
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.population import convert_population, population_starts, widen_actor
from snnrl.agents.recipe import Recipe


def _inputs(seed: int, n: int = 512, dim: int = 3) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32))


def _action_mse(snn, actor, obs, timesteps):
    with torch.no_grad():
        return float(((snn(obs, timesteps) - actor(obs)) ** 2).mean())


def test_widened_ann_computes_the_same_function():
    actor = random_actor(1, widths=(3, 16, 12, 2))
    obs = _inputs(0)
    for k in (1, 2, 3):
        wide = widen_actor(actor, k)
        assert [m.out_features for m in wide.hidden if isinstance(m, nn.Linear)] == [16 * k, 12 * k]
        assert torch.allclose(wide(obs), actor(obs), atol=1e-5)


def test_staggered_copies_quantise_like_one_neuron_in_t_times_k_steps():
    """Hermite's identity on the first IF layer (constant input current): the K copies' mean rate is the T·K-level
    quantisation of the ANN activation, exactly; one neuron alone gives only the T-level one."""
    actor = random_actor(2, widths=(3, 16, 2))
    obs = _inputs(1)
    acts = actor.hidden_activations(obs)[0].detach()
    theta = torch.full((16,), float(acts.max()))
    t, k = 4, 3
    snn = convert_population(actor, [theta], k)
    offsets = torch.tensor([1 / 6, 3 / 6, 5 / 6]).repeat_interleave(16)
    assert torch.allclose(snn.start_potentials[0], theta.repeat(k) * offsets)
    decision = snn.decide(obs, [v.expand(len(obs), -1) for v in snn.start_potentials], t)
    rate = (decision.spike_counts[0].view(len(obs), k, 16).sum(1) * theta / (t * k))
    assert torch.allclose(rate, rate_quantise(acts, theta, t * k), atol=1e-5)
    assert not torch.allclose(rate, rate_quantise(acts, theta, t), atol=1e-3)


def test_population_lowers_the_action_error_of_a_deep_actor():
    actor = random_actor(3, widths=(3, 64, 64, 2))
    obs, calib = _inputs(4), _inputs(5, 2048)
    acts = actor.hidden_activations(calib)
    plain = _action_mse(convert_actor(actor, mse_thresholds(acts, 4)), actor, obs, 4)
    pop2 = _action_mse(convert_population(actor, mse_thresholds(acts, 8), 2), actor, obs, 4)
    pop3 = _action_mse(convert_population(actor, mse_thresholds(acts, 12), 3), actor, obs, 4)
    assert pop3 < pop2 < 0.5 * plain


def test_population_policy_file_round_trip(tmp_path):
    actor = random_actor(4, widths=(3, 16, 16, 2))
    snn = convert_population(actor, mse_thresholds(actor.hidden_activations(_inputs(6)), 8), 2)
    policy = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=0.5))
    loaded = SpikingPolicy.load(policy.save(tmp_path / "pop.snnpol"))
    assert all(torch.equal(a, b) for a, b in zip(loaded.actor.start_potentials, snn.start_potentials))
    state_a = state_b = None
    for step in range(3):                                # the CRPI carry rides on the staggered starts
        obs = _inputs(7 + step, 8).numpy()
        a, state_a = policy.predict(obs, state_a)
        b, state_b = loaded.predict(obs, state_b)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("native", [False, True])
def test_kernels_start_from_the_staggered_potentials_as_the_torch_path(native):
    from snnrl.agents.spike_engine import SpikeEngine, kernel_available, native_kernel

    if not kernel_available() or (native and native_kernel() is None):
        pytest.skip("no numba / no C compiler")
    actor = random_actor(7, widths=(3, 24, 24, 2))
    snn = convert_population(actor, mse_thresholds(actor.hidden_activations(_inputs(11)), 8), 2)
    engine = SpikeEngine(snn, native=native)
    torch_policy = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=1.0), engine="torch")
    state, carry = None, np.zeros((16, engine.n_neurons), np.float32)
    for step in range(3):
        obs = _inputs(12 + step, 16).numpy()
        expected, state = torch_policy.decide(torch.from_numpy(obs), state, np.full(16, step == 0))
        out = engine.run(obs, carry, np.full(16, step == 0), 4, CRPIConfig(alpha=1.0))
        carry = out.carry
        assert all(np.array_equal(a, b.numpy()) for a, b in zip(engine.split(out.spike_counts), expected.spike_counts))
        assert np.allclose(out.pre_action, expected.pre_action.numpy(), atol=1e-6)   # BLAS sums in another order
        assert np.allclose(np.concatenate(state, axis=1), out.carry, atol=1e-6)


def test_crpi_starts_from_the_staggered_potentials():
    actor = random_actor(5, widths=(3, 8, 2))
    snn = convert_population(actor, [torch.ones(8)], 2)
    policy = SpikingPolicy(snn, timesteps=2, crpi=CRPIConfig(alpha=1.0), engine="torch")
    obs = _inputs(8, 4)
    first, state = policy.decide(obs)
    second, _ = policy.decide(obs, state)
    expected = snn.decide(obs, [v + torch.as_tensor(c) for v, c in zip(snn.start_potentials, state)], 2)
    assert torch.equal(second.pre_action, expected.pre_action)


def test_population_errors_are_clear():
    with pytest.raises(ValueError, match="copies must be an integer >= 1"):
        widen_actor(random_actor(), 0)
    with pytest.raises(ValueError, match="not 2 copies"):
        population_starts([torch.ones(5)], 2)
    conv = TeacherActor(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten()), nn.Linear(4 * 6 * 6, 1),
                        action_low=-np.ones(1), action_high=np.ones(1), info=ActorInfo(algo="TD3", env_id="none"),
                        obs_shape=(3, 8, 8))
    with pytest.raises(ConversionError, match="MLP actors only"):
        widen_actor(conv, 2)
    with pytest.raises(ValueError, match="does not compose with distillation"):
        Recipe("mse", "spiking", copies=2)
    with pytest.raises(ValueError, match="Recipe.copies"):
        Recipe(copies=1.5)
    assert Recipe("mse", copies=3, alpha=1.0).label == "mse+pop3+crpi1"


def test_population_round_trips_through_nir(tmp_path):
    from snnrl.reports.nir_graph import policy_from_nir, policy_to_nir, read_nir, write_nir

    actor = random_actor(6, widths=(3, 8, 8, 2))
    snn = convert_population(actor, mse_thresholds(actor.hidden_activations(_inputs(9)), 8), 2)
    policy = SpikingPolicy(snn, timesteps=4)
    loaded = policy_from_nir(read_nir(write_nir(policy_to_nir(policy), tmp_path / "pop.nir")))
    obs = _inputs(10, 16).numpy()
    assert np.array_equal(policy.predict(obs)[0], loaded.predict(obs)[0])


def test_a_population_student_distils_and_keeps_its_staggered_starts():
    from snnrl.agents.distillation import DistillationConfig, distill_actor
    from snnrl.agents.zoo import load_teacher

    actor, _ = load_teacher("td3-invertedpendulum")
    start = torch.randn(64, 4, generator=torch.Generator().manual_seed(0)) * 0.05
    thresholds = mse_thresholds(actor.hidden_activations(start), 8)
    config = DistillationConfig(rounds=1, rollout_steps=16, envs=2, epochs=1)
    snn = distill_actor(actor, "InvertedPendulum-v5", thresholds, 4, start, student="spiking", copies=2,
                        config=config)
    reference = convert_population(actor, thresholds, 2)
    assert [t.numel() for t in snn.thresholds] == [t.numel() for t in reference.thresholds]
    assert all(torch.equal(a, b) for a, b in zip(snn.start_potentials, reference.start_potentials))
    with pytest.raises(ValueError, match="only the 'spiking' student"):
        distill_actor(actor, "InvertedPendulum-v5", thresholds, 4, start, student="qcfs", copies=2, config=config)
