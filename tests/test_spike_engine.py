"""The spike-driven engine (snnrl.agents.spike_engine) against the torch reference path."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from conftest import random_actor
from snnrl import jit
from snnrl.agents import spike_engine
from snnrl.agents.conversion import convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.spike_engine import SpikeEngine, engine_record_names, engine_setting
from snnrl.opcount import is_spike_tensor

pytest.importorskip("numba")

CRPIS = [None, CRPIConfig(alpha=1.0), CRPIConfig(alpha=0.6), CRPIConfig(floor_spikes=1.0),
         CRPIConfig(reset_on_episode_start=False)]


def _converted(seed: int, widths: tuple[int, ...], *, normalised: bool = False):
    actor = random_actor(seed, widths)
    if normalised:  # an observation normaliser folds into the first layer and adds a clamp
        dim = widths[0]
        actor.obs_mean, actor.obs_var = torch.randn(dim), torch.rand(dim) + 0.5
        actor.obs_eps, actor.obs_clip = 1e-8, 1.5
    acts = actor.hidden_activations(torch.randn(400, widths[0]))
    return convert_actor(actor, thresholds_from_activations(acts, method="max", scale=0.7))


def _pair(snn, timesteps: int, crpi: CRPIConfig | None, metering: bool = True):
    return (SpikingPolicy(snn, timesteps=timesteps, crpi=crpi, metering=metering, engine="torch"),
            SpikingPolicy(snn, timesteps=timesteps, crpi=crpi, metering=metering, engine="kernel"))


@pytest.mark.parametrize("widths,normalised", [((3, 16, 2), False), ((5, 32, 24, 3), True),
                                               ((4, 20, 12, 9, 2), False)])
@pytest.mark.parametrize("timesteps", [1, 4, 7])
def test_kernel_equals_torch_path_on_random_nets(widths, normalised, timesteps):
    snn = _converted(1, widths, normalised=normalised)
    obs = torch.randn(64, widths[0]) * 2
    for crpi in CRPIS:
        ref, fast = _pair(snn, timesteps, crpi)
        state_r = state_k = None
        for step in range(6):                                       # a sequence: the carry goes round the loop
            start = np.random.default_rng(step).random(64) < 0.2
            d_r, state_r = ref.decide(obs + 0.1 * step, state_r, start)
            d_k, state_k = fast.decide(obs + 0.1 * step, state_k, start)
            assert all(torch.equal(a, b) for a, b in zip(d_r.spike_counts, d_k.spike_counts))
            torch.testing.assert_close(d_k.pre_action, d_r.pre_action, rtol=0, atol=1e-5)
            for a, b in zip(d_r.v_end, d_k.v_end):
                torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
            for c_k, c_r in zip(state_k, state_r, strict=True):
                np.testing.assert_allclose(c_k, c_r, rtol=0, atol=1e-5)
            ops_r, ops_k = ref.last_decision_ops, fast.last_decision_ops
            assert list(ops_k) == list(ops_r) == engine_record_names(len(widths) - 2)
            assert all(np.array_equal(ops_k[k], ops_r[k]) for k in ops_r)       # the counter's counts, exactly


def test_predict_actions_equal_and_state_round_trips_between_paths():
    snn = _converted(2, (6, 40, 30, 3), normalised=True)
    ref, fast = _pair(snn, 8, CRPIConfig(alpha=1.0))
    obs = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    state = None
    for step in range(10):
        a_r, s_r = ref.predict(obs * (1 + 0.05 * step), state, episode_start=np.zeros(5, bool))
        a_k, s_k = fast.predict(obs * (1 + 0.05 * step), state, episode_start=np.zeros(5, bool))
        np.testing.assert_allclose(a_k, a_r, rtol=0, atol=1e-6)
        state = s_k if step % 2 else s_r                      # each path continues from the other's state
    single, _ = fast.predict(obs[0])
    assert single.shape == (3,)


def test_crpi_carry_changes_kernel_decisions():
    """CRPI in the kernel is not a no-op: with the carry, the second decision differs from plain conversion."""
    snn = _converted(3, (4, 32, 2))
    obs = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    plain = SpikingPolicy(snn, timesteps=2, engine="kernel")
    crpi = SpikingPolicy(snn, timesteps=2, crpi=CRPIConfig(alpha=1.0), engine="kernel")
    _, sp = plain.predict(obs)
    _, sc = crpi.predict(obs)
    assert all(not c.any() for c in sp)
    assert any(np.abs(c).sum() > 0 for c in sc)
    assert not np.array_equal(plain.predict(obs, sp)[0], crpi.predict(obs, sc)[0])


def test_episode_start_resets_only_its_rows():
    snn = _converted(4, (3, 24, 2))
    fast = SpikingPolicy(snn, timesteps=3, crpi=CRPIConfig(alpha=1.0), engine="kernel")
    obs = np.random.default_rng(2).normal(size=(2, 3)).astype(np.float32)
    _, state = fast.predict(obs)
    fresh = SpikingPolicy(snn, timesteps=3, crpi=CRPIConfig(alpha=1.0), engine="kernel")
    a_reset, _ = fast.predict(obs, state, episode_start=np.array([True, False]))
    a_fresh, _ = fresh.predict(obs)
    a_kept, _ = fast.predict(obs, state, episode_start=np.array([False, False]))
    np.testing.assert_array_equal(a_reset[0], a_fresh[0])
    np.testing.assert_array_equal(a_reset[1], a_kept[1])


def test_engine_follows_in_place_weight_changes():
    snn = _converted(5, (3, 16, 2))
    fast = SpikingPolicy(snn, timesteps=4, engine="kernel")
    obs = np.ones((1, 3), np.float32)
    before, _ = fast.predict(obs)
    with torch.no_grad():
        snn.output_layer.layer.bias.add_(0.5)
    after, _ = fast.predict(obs)
    ref, _ = SpikingPolicy(snn, timesteps=4, engine="torch").predict(obs)
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, ref, rtol=0, atol=1e-6)


def test_metering_off_reports_nothing_and_on_reports_the_counts():
    snn = _converted(6, (3, 16, 2))
    off = SpikingPolicy(snn, timesteps=4, metering=False, engine="kernel")
    on = SpikingPolicy(snn, timesteps=4, metering=True, engine="kernel")
    obs = np.random.default_rng(3).normal(size=(3, 3)).astype(np.float32)
    off.predict(obs)
    on.predict(obs)
    assert off.last_decision_ops == {}
    ops = on.last_decision_ops
    assert ops["input_layer"][:, 0].tolist() == [16 * 3] * 3                  # dense first layer, once
    assert ops["neurons.0"][:, 2].tolist() == [16 * 4] * 3                    # T x width neuron updates
    assert np.array_equal(ops["output_layer"][:, 1], ops["neurons.0"][:, 3] * 2)  # spikes x fan-out accumulates


def test_fallback_without_numba_uses_torch_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(spike_engine, "_KERNEL", None)
    monkeypatch.setattr(spike_engine, "_KERNEL_MISSING", False)
    monkeypatch.setattr(jit, "_NOTICES", set())
    import builtins
    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba":
            raise ImportError("no numba here")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    snn = _converted(7, (3, 16, 2))
    with caplog.at_level(logging.WARNING, logger="snnrl"):
        policy = SpikingPolicy(snn, timesteps=4, engine="auto")
        assert policy.engine_path == "torch"
        action, _ = policy.predict(np.zeros(3, np.float32))
        SpikingPolicy(snn, timesteps=4).predict(np.zeros(3, np.float32))
    notices = [r for r in caplog.records if "numba is not installed" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0].getMessage()
    with pytest.raises(ValueError, match="engine=kernel needs numba"):
        SpikingPolicy(snn, timesteps=4, engine="kernel")
    monkeypatch.setattr(builtins, "__import__", real_import)
    monkeypatch.setattr(spike_engine, "_KERNEL_MISSING", False)
    np.testing.assert_allclose(action, SpikingPolicy(snn, timesteps=4, engine="kernel").predict(
        np.zeros(3, np.float32))[0], rtol=0, atol=1e-6)


def test_bad_engine_settings_fail_before_any_decision(monkeypatch):
    snn = _converted(8, (3, 8, 2))
    with pytest.raises(ValueError, match=r"engine= must be one of auto, kernel, torch, got 'gpu'"):
        SpikingPolicy(snn, timesteps=4, engine="gpu")
    monkeypatch.setenv("SNNRL_ENGINE", "fast")
    with pytest.raises(ValueError, match="SNNRL_ENGINE must be one of"):
        engine_setting()
    monkeypatch.setenv("SNNRL_ENGINE", "torch")
    assert SpikingPolicy(snn, timesteps=4).engine_path == "torch"


def test_zoo_actors_agree_on_closed_loop_decisions():
    """Every zoo actor, the pixel teachers' CNNs included: 40 closed-loop decisions (CRPI; 15 on frames), the
    kernel's spikes and counts equal the torch path's."""
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel environments)
    from snnrl.agents.conversion import collect_activations
    from snnrl.agents.zoo import list_teachers, load_teacher

    for name in sorted(list_teachers()):
        actor, entry = load_teacher(name)
        pixels = len(actor.obs_shape) > 1
        snn = convert_actor(actor, thresholds_from_activations(collect_activations(actor, entry["env_id"],
                                                                                   steps=100, seed=0)))
        ref, fast = _pair(snn, 4, CRPIConfig(alpha=1.0))
        env = gym.make(entry["env_id"])
        obs, _ = env.reset(seed=0)
        state = None
        assert fast.engine_path == "kernel", name
        for step in range(15 if pixels else 40):
            x = torch.as_tensor(np.asarray(obs, np.float32)).reshape(1, -1)
            d_r, s_r = ref.decide(x, state, np.array([step == 0]))
            d_k, _ = fast.decide(x, state, np.array([step == 0]))
            assert all(torch.equal(a, b) for a, b in zip(d_r.spike_counts, d_k.spike_counts)), name
            # an all-zero frame (a frame stack's padding) looks like spikes to the op counter, which then counts no
            # MACs for the first layer; the engine counts that layer as the analog layer it is
            skip = {"input_layer"} if is_spike_tensor(x) else set()
            assert all(np.array_equal(fast.last_decision_ops[k], ref.last_decision_ops[k])
                       for k in ref.last_decision_ops if k not in skip), name
            a_r = ref.actor.squash_action(d_r.pre_action)
            assert float((a_r - fast.actor.squash_action(d_k.pre_action)).abs().max()) < 1e-5, name
            state = s_r
            obs, _, terminated, truncated, _ = env.step(a_r[0].numpy())
            if terminated or truncated:
                break
        env.close()


def test_engine_packs_every_layer():
    snn = _converted(9, (3, 10, 7, 5, 2))
    engine = SpikeEngine(snn)
    assert engine.widths == [10, 7, 5] and engine.n_neurons == 22
    assert engine.weights.size == 10 * 7 + 7 * 5 + 5 * 2
    assert engine.record_names == ["input_layer", "neurons.0", "hidden_layers.0", "neurons.1", "hidden_layers.1",
                                   "neurons.2", "output_layer"]


@pytest.mark.parametrize("pool,batch_norm", [(False, False), (True, True)])
def test_kernel_equals_torch_path_on_conv_actors(pool, batch_norm):
    from test_conv_conversion import conv_actor, observations

    actor = conv_actor(3, pool=pool, batch_norm=batch_norm)
    obs = observations(48, seed=2)
    snn = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs), method="max", scale=0.6))
    engine = SpikeEngine(snn)
    assert engine.precomputed and engine.sparse.tolist()[:1] == [True]      # conv → conv is event-driven
    frames = obs.flatten(1)
    for crpi in CRPIS[:4]:
        ref, fast = _pair(snn, 6, crpi)
        assert fast.engine_path == "kernel"
        state_r = state_k = None
        for step in range(4):
            start = np.random.default_rng(step).random(48) < 0.25
            d_r, state_r = ref.decide(frames * (1 + 0.05 * step), state_r, start)
            d_k, state_k = fast.decide(frames * (1 + 0.05 * step), state_k, start)
            mismatched = sum(int((a != b).sum()) for a, b in zip(d_r.spike_counts, d_k.spike_counts))
            assert mismatched <= 2                      # summation order: a potential within ulps of θ (docstring)
            if mismatched == 0:
                torch.testing.assert_close(d_k.pre_action, d_r.pre_action, rtol=0, atol=1e-5)
                for c_k, c_r in zip(state_k, state_r, strict=True):
                    np.testing.assert_allclose(c_k, c_r, rtol=0, atol=1e-4)
                ops_r, ops_k = ref.last_decision_ops, fast.last_decision_ops
                assert list(ops_k) == list(ops_r)
                assert all(np.array_equal(ops_k[k], ops_r[k]) for k in ops_r), crpi   # conv fan-out counted alike
            state_k = state_r


def test_conv_rows_hold_every_connection_of_the_convolution():
    from torch import nn

    from snnrl.agents.spike_engine import _channel_last, _conv_rows

    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1)
    ptr, dst, w_at, val = _conv_rows(conv, (2, 5, 5), (3, 3, 3))
    into, out = _channel_last((2, 5, 5)), _channel_last((3, 3, 3))
    dense = np.zeros((50, 27), np.float32)               # engine order: channel-last on both sides
    for j in range(50):
        for e in range(ptr[j], ptr[j + 1]):
            dense[j, dst[e]:dst[e] + 3] += val[w_at[e]:w_at[e] + 3]
    eye = torch.eye(50).reshape(50, 2, 5, 5)
    expected = (conv(eye) - conv.bias.view(1, 3, 1, 1)).detach().reshape(50, -1).numpy()   # actor order
    np.testing.assert_allclose(dense, expected[into][:, out], atol=1e-6)
    assert ptr[1] - ptr[0] == 1                  # the corner input reaches one output position (its 3 channels)
    assert sorted(into.tolist()) == list(range(50)) and into[1] == 25   # position 0, channel 1


def _native_or_skip():
    if spike_engine.native_kernel() is None:
        pytest.skip("no C compiler: the C kernel is not built here (its fallback is tested below)")


def _assert_same_decisions(native: SpikeEngine, numba: SpikeEngine, batch: int, obs_dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    obs = rng.normal(0, 2, (batch, obs_dim)).astype(np.float32)
    carry = ((rng.random((batch, native.n_neurons)) - 0.5) * 0.2).astype(np.float32)
    reset = rng.random(batch) < 0.3
    for timesteps in (1, 3, 4, 9, 70):                          # 70: blocks of 7 samples, 18 groups of 4 steps
        for crpi in CRPIS[:4]:
            a = native.run(obs, carry, reset, timesteps, crpi)
            b = numba.run(obs, carry, reset, timesteps, crpi)
            for field in ("pre_action", "action", "v_end", "spike_counts", "carry", "counts"):
                assert np.array_equal(getattr(a, field), getattr(b, field)), (field, timesteps, crpi)
            lean = native.run(obs, carry, reset, timesteps, crpi, detail=False)
            assert lean.v_end is None and lean.spike_counts is None
            assert np.array_equal(lean.action, a.action) and np.array_equal(lean.carry, a.carry)
            assert np.array_equal(lean.counts, a.counts)


@pytest.mark.parametrize("widths", [(3, 16, 2), (5, 37, 20, 3), (4, 20, 12, 9, 2), (6, 70, 33, 1)])
def test_c_kernel_equals_numba_kernel_bit_for_bit(widths):
    """Spikes, potentials, pre-actions, actions, carries and counts: identical, for widths that do and do not fill the
    16-neuron chunks, one to three IF layers, T not a multiple of the 4-timestep groups, CRPI and resets, and a batch
    of 70 rows at T = 9 that spans two blocks of the kernel (512 rows each)."""
    _native_or_skip()
    snn = _converted(11, widths, normalised=True)
    native, numba = SpikeEngine(snn, native=True), SpikeEngine(snn, native=False)
    assert native._native is not None and numba._native is None
    for batch in (8, 70):
        _assert_same_decisions(native, numba, batch, widths[0], seed=batch)


def test_portable_c_build_without_avx512_gives_the_same_decisions(monkeypatch, tmp_path):
    """The lane-by-lane build (no AVX-512) of the same source: the same decisions as the numba kernel."""
    import platform

    _native_or_skip()
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the portable build is forced off AVX-512 with x86 flags")
    flags = tuple(f for f in jit.C_FLAGS if not f.startswith("-march")) + ("-march=x86-64",)
    lib = jit.compile_c(spike_engine._NATIVE_SOURCE, "a portable build", flags=flags, cache=tmp_path)
    assert lib is not None
    monkeypatch.setattr(spike_engine, "_NATIVE", spike_engine.declare_native(lib))
    snn = _converted(12, (5, 37, 20, 3))
    _assert_same_decisions(SpikeEngine(snn, native=True), SpikeEngine(snn, native=False), 9, 5, seed=3)


def test_c_kernel_falls_back_to_numba_without_a_compiler(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(spike_engine, "_NATIVE", None)
    monkeypatch.setattr(spike_engine, "_NATIVE_TRIED", False)
    monkeypatch.setattr(jit, "_NOTICES", set())
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("SNNRL_HOME", str(tmp_path / "home"))
    snn = _converted(13, (3, 16, 2))
    with caplog.at_level(logging.WARNING, logger="snnrl"):
        engine = SpikeEngine(snn)
        SpikeEngine(snn)
    notices = [r.getMessage() for r in caplog.records if "register-blocked spike kernel not built" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0] and "apt-get install gcc" in notices[0]
    assert engine._native is None
    out = engine.run(np.zeros((8, 3), np.float32), np.zeros((8, engine.n_neurons), np.float32), np.zeros(8, bool), 4,
                     None)
    assert out.v_end is not None and out.action.shape == (8, 2)
    with pytest.raises(ValueError, match="native=True needs an MLP actor and a working C compiler"):
        SpikeEngine(snn, native=True)


def test_c_kernel_can_be_turned_off_by_environment(monkeypatch):
    _native_or_skip()
    snn = _converted(14, (3, 16, 2))
    assert SpikeEngine(snn)._native is not None
    monkeypatch.setenv("SNNRL_NATIVE", "0")
    assert SpikeEngine(snn)._native is None
    assert SpikeEngine(snn, native=True)._native is not None          # the argument wins over the environment
    monkeypatch.setenv("SNNRL_NATIVE", "off")
    with pytest.raises(ValueError, match="SNNRL_NATIVE must be 0 or 1, got 'off'"):
        SpikingPolicy(snn, timesteps=4)                               # checked when the policy is made


def test_engine_pickles_as_its_actor_and_decides_the_same_after():
    import pickle

    snn = _converted(15, (3, 16, 2))
    engine = SpikeEngine(snn)
    copy = pickle.loads(pickle.dumps(engine))
    obs, carry = np.ones((8, 3), np.float32), np.zeros((8, engine.n_neurons), np.float32)
    a = engine.run(obs, carry, np.zeros(8, bool), 4, None)
    b = copy.run(obs, carry, np.zeros(8, bool), 4, None)
    assert np.array_equal(a.action, b.action) and np.array_equal(a.counts, b.counts)


def test_c_kernel_decisions_from_several_threads_at_once_are_each_right():
    """Each thread has its own scratch buffer: eight threads deciding on one engine get the single-thread answers."""
    from concurrent.futures import ThreadPoolExecutor

    _native_or_skip()
    snn = _converted(16, (5, 37, 20, 3))
    engine = SpikeEngine(snn, native=True)
    rng = np.random.default_rng(0)
    inputs = [rng.normal(0, 2, (16, 5)).astype(np.float32) for _ in range(8)]
    carry, reset = np.zeros((16, engine.n_neurons), np.float32), np.zeros(16, bool)
    alone = [engine.run(x, carry, reset, 6, None).action for x in inputs]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda x: engine.run(x, carry, reset, 6, None).action, inputs * 4))
    assert all(np.array_equal(a, b) for a, b in zip(alone * 4, together))
