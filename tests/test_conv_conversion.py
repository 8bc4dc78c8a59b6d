"""Convolutional actors: conversion to IF layers with per-channel thresholds, BatchNorm / pooling folding, op counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snnrl.agents.actor import ActorInfo, TeacherActor, actor_from_sb3, load_actor, save_actor
from snnrl.agents.calibration import _layer_rates, calibrate_biases, mse_thresholds, rate_quantise
from snnrl.agents.conversion import (ConversionError, conversion_plan, convert_actor, fold_batch_norm, per_channel,
                                     thresholds_from_activations)
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.distillation import QCFSActor
from snnrl.agents.policy import ObservationError, SpikingPolicy

OBS = (3, 12, 12)


def conv_actor(seed: int = 0, *, batch_norm: bool = False, pool: bool = False) -> TeacherActor:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(3, 4, 3, stride=1, padding=1)]
    if batch_norm:
        norm = nn.BatchNorm2d(4)
        with torch.no_grad():
            norm.running_mean.uniform_(-0.2, 0.2)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.1, 0.3)
        layers.append(norm)
    layers.append(nn.ReLU())
    if pool:
        layers.append(nn.AvgPool2d(2))
    side = 6 if pool else 12
    layers += [nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.ReLU()]
    side = (side + 1) // 2
    layers += [nn.Flatten(), nn.Linear(5 * side * side, 16), nn.ReLU()]
    actor = TeacherActor(nn.Sequential(*layers), nn.Linear(16, 2), action_low=-np.ones(2), action_high=np.ones(2),
                         info=ActorInfo("TD3", "pixels"), obs_shape=OBS)
    return actor.eval()


def observations(n: int = 256, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, *OBS, generator=torch.Generator().manual_seed(seed))


def pre_actions(actor: TeacherActor, obs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return actor.head(actor.hidden(actor.normalise(obs)))


def test_conv_conversion_error_shrinks_with_timesteps_on_random_inputs():
    actor = conv_actor()
    obs = observations()
    thresholds = thresholds_from_activations(actor.hidden_activations(obs))
    snn = convert_actor(actor, thresholds)
    assert snn.convolutional and snn.obs_shape == OBS
    target = pre_actions(actor, obs)
    errors = []
    for t in (2, 8, 32, 128):
        with torch.no_grad():
            v0 = [n.v_init.expand(obs.shape[0], -1) for n in snn.neurons]
            pre = snn.decide(obs.flatten(1), v0, t).pre_action
        errors.append(float((pre - target).abs().mean()))
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.1 * errors[0]


def test_conv_layers_get_one_threshold_per_channel_shared_by_its_neurons():
    actor = conv_actor()
    acts = actor.hidden_activations(observations())
    assert acts[0].shape == (256, 4, 12, 12) and acts[2].shape == (256, 16)
    thresholds = thresholds_from_activations(acts)
    assert [tuple(t.shape) for t in thresholds] == [(4,), (5,), (16,)]
    assert torch.equal(thresholds[0], acts[0].amax(dim=(0, 2, 3)))
    snn = convert_actor(actor, thresholds)
    flat = snn.thresholds[0].view(4, 12 * 12)
    assert torch.equal(flat, thresholds[0].unsqueeze(1).expand(4, 144))     # channel-major, one θ per channel
    mse = mse_thresholds(acts, timesteps=4)
    assert mse[0].shape == (4,)
    # the per-channel MSE choice never does worse than the channel's max threshold on the pooled neurons
    view = per_channel(acts[0])
    err = lambda theta: ((view - rate_quantise(view, theta, 4)) ** 2).mean(0)   # noqa: E731
    assert (err(mse[0]) <= err(thresholds[0]) + 1e-7).all()
    with pytest.raises(ConversionError, match="channel count is 4"):
        convert_actor(actor, [torch.ones(4 * 144), thresholds[1], thresholds[2]])


def test_batch_norm_and_average_pooling_fold_into_layers_equal_to_the_ann():
    conv, norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    with torch.no_grad():
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    norm.eval()
    x = torch.randn(5, 3, 8, 8)
    torch.testing.assert_close(fold_batch_norm(conv, norm)(x), norm(conv(x)), atol=1e-5, rtol=1e-5)
    actor = conv_actor(batch_norm=True, pool=True)
    plan = conversion_plan(actor)
    assert [type(s) for s in plan.synapses] == [nn.Conv2d, nn.Conv2d, nn.Linear]
    assert plan.synapses[1].kernel_size == (6, 6) and plan.synapses[1].stride == (4, 4)  # pool 2 folded in
    obs = observations(32)
    x = obs
    for synapse in plan.synapses:                               # the folded layers, run as an ANN
        x = torch.relu(synapse(x.flatten(1) if isinstance(synapse, nn.Linear) else x))
    torch.testing.assert_close(plan.head(x), pre_actions(actor, obs), atol=1e-5, rtol=1e-5)
    assert [s for s in plan.shapes] == [(4, 12, 12), (5, 3, 3), (16,)]


def test_unconvertible_conv_stacks_are_refused_with_the_reason():
    bad_pool = TeacherActor(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AvgPool2d(3, stride=2), nn.Flatten(),
                                          nn.Linear(4 * 4 * 4, 8), nn.ReLU()), nn.Linear(8, 1),
                            action_low=-np.ones(1), action_high=np.ones(1), info=ActorInfo("TD3", "x"), obs_shape=OBS)
    with pytest.raises(ConversionError, match="AvgPool2d.*stride k"):
        conversion_plan(bad_pool)
    no_flatten = TeacherActor(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 1), action_low=-np.ones(1),
                              action_high=np.ones(1), info=ActorInfo("TD3", "x"), obs_shape=OBS)
    with pytest.raises(ConversionError, match="put a Flatten before it"):
        conversion_plan(no_flatten)
    with pytest.raises(ValueError, match="needs obs_shape"):
        TeacherActor(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 1), action_low=-np.ones(1),
                     action_high=np.ones(1), info=ActorInfo("TD3", "x"))


def test_conv_layer_operation_counts_by_hand():
    from snnrl.layers import SpikingSequential
    from snnrl.neurons import IFNeuron
    from snnrl.opcount import OperationCounter

    conv = nn.Conv2d(1, 2, 3)                               # 5x5 input -> 3x3 output, 2 channels
    net = SpikingSequential(conv, IFNeuron(1.0))
    x = torch.zeros(1, 1, 1, 5, 5)
    x[0, 0, 0, 2, 2] = 1.0                                  # the centre reaches all 9 outputs of both channels
    x[0, 0, 0, 0, 0] = 1.0                                  # a corner reaches one output per channel
    with OperationCounter(net) as counter:
        net(x)
    counts = counter.by_sample()
    conv_row = next(v for k, v in counts.items() if k.startswith("0"))[0]
    assert conv_row.tolist()[:2] == [0, 9 * 2 + 1 * 2]      # accumulates, no MACs on spike input
    with OperationCounter(net, dense=True) as dense:
        net(x)
    assert next(v for k, v in dense.by_sample().items() if k.startswith("0"))[0][0] == 2 * 3 * 3 * 9  # MACs


def test_spiking_policy_acts_on_image_observations_with_crpi():
    actor = conv_actor()
    obs = observations(64)
    snn = convert_actor(actor, mse_thresholds(actor.hidden_activations(obs), timesteps=8))
    policy = SpikingPolicy(snn, timesteps=8, crpi=CRPIConfig(alpha=0.5), engine="torch")
    frames = obs[:3].numpy()
    actions, state = policy.predict(frames, None, np.ones(3, bool))
    assert actions.shape == (3, 2) and [s.shape for s in state] == [(3, 4 * 144), (3, 5 * 36), (3, 16)]
    again, state2 = policy.predict(frames, state, np.zeros(3, bool))
    assert any(np.abs(s).sum() > 0 for s in state2)        # CRPI carries residual potential into the next decision
    single, _ = policy.predict(frames[0], None, True)
    np.testing.assert_allclose(single, actions[0], atol=1e-6)
    assert policy.last_decision_ops["hidden_layers.0"][:, 1].sum() > 0    # conv accumulates counted per env row
    with pytest.raises(ObservationError, match=r"\(3, 12, 12\)"):
        policy.predict(np.zeros((3, 10, 10), np.float32))
    same = conv_actor()
    same.hidden[2].padding_mode = "reflect"                 # not zero padding: the kernel cannot run it
    snn_same = convert_actor(same, mse_thresholds(same.hidden_activations(obs), timesteps=8))
    assert SpikingPolicy(snn_same, timesteps=8, engine="auto").engine_path == "torch"
    with pytest.raises(ValueError, match="numeric zero padding"):
        SpikingPolicy(snn_same, timesteps=8, engine="kernel")


def test_bias_calibration_and_qcfs_work_per_channel_on_conv_actors():
    actor = conv_actor()
    obs = observations(128)
    thresholds = mse_thresholds(actor.hidden_activations(obs), timesteps=4)
    snn = convert_actor(actor, thresholds)
    calibrated = calibrate_biases(snn, actor, obs.flatten(1), 4, iterations=6)
    assert calibrated.input_layer.bias.shape == (4,)

    def mean_error(net) -> float:
        with torch.no_grad():
            v0 = [n.v_init.expand(obs.shape[0], -1) for n in net.neurons]
            return float((net.decide(obs.flatten(1), v0, 4).pre_action - pre_actions(actor, obs)).mean(0).abs().sum())

    assert mean_error(calibrated) < mean_error(snn)
    starts = torch.zeros(obs.shape[0], dtype=torch.bool)
    starts[::32] = True
    under_crpi = calibrate_biases(snn, actor, obs, 4, crpi=CRPIConfig(alpha=0.5), episode_starts=starts,
                                  chunks=5, iterations=6)       # frame-shaped states, cut into 5 runs (padded)
    assert under_crpi.input_layer.bias.shape == (4,)

    def mean_error_under_crpi(net) -> float:
        _, pre = _layer_rates(net, obs, 4, CRPIConfig(alpha=0.5), starts, 5)
        return float((pre - pre_actions(actor, obs)).mean(0).abs().sum())

    assert mean_error_under_crpi(under_crpi) < 0.5 * mean_error_under_crpi(snn)
    student = QCFSActor(actor, thresholds, timesteps=4)
    assert student.activations[0].theta.shape == (4, 1, 1)
    exported, thetas = student.export()
    assert [tuple(t.shape) for t in thetas] == [(4,), (5,), (16,)]
    assert convert_actor(exported, thetas).convolutional


def test_conv_actor_file_round_trip_and_sb3_cnn_policy_extraction(tmp_path):
    actor = conv_actor(batch_norm=True, pool=True)
    save_actor(tmp_path / "actor.pt", actor)
    loaded, _ = load_actor(tmp_path / "actor.pt")
    obs = observations(8)
    torch.testing.assert_close(loaded(obs), actor(obs))
    assert loaded.obs_shape == OBS

    import gymnasium as gym
    from gymnasium import spaces
    from stable_baselines3 import TD3

    class Frames(gym.Env):
        observation_space = spaces.Box(0, 255, (3, 36, 36), np.uint8)
        action_space = spaces.Box(-1, 1, (2,), np.float32)

        def reset(self, *, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    model = TD3("CnnPolicy", Frames(), buffer_size=10, learning_starts=0, seed=0,
                policy_kwargs=dict(activation_fn=nn.ReLU, net_arch=[32]))
    teacher = actor_from_sb3(model, env_id="frames")
    frames = np.random.default_rng(0).integers(0, 256, (4, 3, 36, 36), dtype=np.uint8)
    expected, _ = model.predict(frames, deterministic=True)
    ours = teacher(torch.as_tensor(frames, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert type(conversion_plan(teacher).synapses[0]) is nn.Conv2d


def test_converted_conv_actor_has_digital_and_imc_energy_per_decision():
    from snnrl.hardware import DIGITAL_45NM_FP32, estimate, layer_geometries, workload_from_counter
    from snnrl.hardware.imc import SPIKESIM_RRAM_65NM
    from snnrl.opcount import OperationCounter

    actor = conv_actor()
    obs = observations(4)
    snn = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(observations())))
    flat = obs.flatten(1)
    with OperationCounter(snn) as counter, torch.no_grad():
        snn(flat, timesteps=4)
    geometry = layer_geometries(snn, flat)
    assert [(g.kind, g.out_channels, g.output_positions) for g in geometry] == [
        ("conv", 4, 144), ("conv", 5, 36), ("linear", 16, 1), ("linear", 2, 1)]
    workload = workload_from_counter(counter, geometry=geometry).with_static_analog_input()
    digital = estimate(workload, profile=DIGITAL_45NM_FP32)
    # the analog first convolution: 4 channels x 144 positions x 27 MACs, once per decision, at 4.6 pJ each
    assert digital.layers[0].energy_pj == pytest.approx(4 * 144 * 27 * 4.6)
    imc = estimate(workload, profile=SPIKESIM_RRAM_65NM, weight_bits=8, membrane_bits=8)
    assert imc.energy_pj > 0 and imc.area_mm2 > 0


def test_conv_spiking_policy_file_round_trip_gives_the_same_actions(tmp_path):
    from snnrl.io import ArtifactError

    actor = conv_actor(pool=True)
    obs = observations(16)
    policy = SpikingPolicy(convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs))),
                           timesteps=4, crpi=CRPIConfig(alpha=1.0))
    path = policy.save(tmp_path / "pixel-policy.pt")
    loaded = SpikingPolicy.load(path)
    frames = obs.numpy()
    a, s = policy.predict(frames, None, np.ones(16, bool))
    b, t = loaded.predict(frames, None, np.ones(16, bool))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(policy.predict(frames, s)[0], loaded.predict(frames, t)[0])
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArtifactError):
        SpikingPolicy.load(path)


def test_distilling_a_pixel_actor_fits_in_frame_units_and_keeps_its_first_layer(monkeypatch):
    """A pixel actor takes raw 8-bit frames with 1/255 folded into its first layer; fine-tuned in those units, Adam
    (steps of about ``lr`` per weight) wipes that layer out. The distillation fits in pixels / 255 instead."""
    import snnrl.agents.distillation as distillation
    from snnrl.agents.conversion import thresholds_from_activations

    actor = conv_actor(3)
    with torch.no_grad():
        actor.hidden[0].weight.div_(255.0)                         # as pixel_teacher exports its CNN
    frames = (255 * observations(128, seed=4)).to(torch.uint8)
    data = frames.float()
    with torch.no_grad():
        labels = actor(data)
    thresholds = thresholds_from_activations(actor.hidden_activations(data))
    snn = convert_actor(actor, thresholds)
    config = distillation.DistillationConfig(epochs=3, batch_size=32, lr=3e-4, lr_schedule="constant")

    def error_after(fit) -> float:
        student = distillation._SpikingStudent(snn, 8)
        fit(student, torch.Generator().manual_seed(0))
        with torch.no_grad():
            return float(((student(data) - labels) ** 2).mean())

    before = error_after(lambda student, gen: None)
    in_frame_units = error_after(lambda student, gen: distillation._fit_in_frame_units(
        student, data, labels, config, gen, actor))
    raw_units = error_after(lambda student, gen: distillation.fit_actions(
        student, data, labels, config, gen, actor.action_low, actor.action_high))
    print(f"action MSE: before {before:.3g}, fitted in frame units {in_frame_units:.3g}, in raw units {raw_units:.3g}")
    assert in_frame_units < before                                  # the fit improves the spiking actor
    assert raw_units > 3 * before                                   # the failure it prevents
    student = distillation._SpikingStudent(snn, 8)
    distillation._fit_in_frame_units(student, data, labels, config, torch.Generator().manual_seed(0), actor)
    with torch.no_grad():
        scale = student.snn.input_layer.weight.abs().mean() / snn.input_layer.weight.abs().mean()
    assert 0.5 < float(scale) < 2                                   # folded back: raw frames in, as before
    fits = []
    real = distillation._fit_in_frame_units

    def spy(*args, **kwargs):
        fits.append(args[1].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(distillation, "_fit_in_frame_units", spy)
    monkeypatch.setattr(distillation, "visited_states", lambda *a, **k: frames[:16])   # no env: the same frames
    distillation.distill_actor(actor, "unused", thresholds, 8, frames,
                               config=distillation.DistillationConfig(rounds=1, epochs=1))
    assert len(fits) == 2                                           # distill_actor takes that path on frames
