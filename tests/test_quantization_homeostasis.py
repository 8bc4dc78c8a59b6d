import copy

import pytest
import torch
from torch import nn

from snnrl.encoding import repeat_over_time
from snnrl.homeostasis import AHSAR, AHSARConfig
from snnrl.layers import SpikingSequential
from snnrl.neurons import IFNeuron, LIFNeuron, record_potentials
from snnrl.quantization import (LSQQuantizer, MembraneQuantizer, QuantLinear, distillation_loss, fold_batchnorm,
                                quantize_network, quantized_layers, round_ste)
from snnrl.state import capture_state, restore_state


def test_quantizer_values_on_a_hand_made_tensor():
    q = LSQQuantizer(3)  # Q = 3 levels per sign
    with torch.no_grad():
        q.step.fill_(0.5)
    x = torch.tensor([-2.0, -0.74, -0.26, 0.0, 0.24, 0.26, 0.76, 1.49, 9.0])
    # x / s = [-4, -1.48, -.52, 0, .48, .52, 1.52, 2.98, 18] -> round -> clamp to [-3, 3]
    assert q.integer(x).tolist() == [-3.0, -1.0, -1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0]
    assert q(x).tolist() == [-1.5, -0.5, -0.5, 0.0, 0.0, 0.5, 1.0, 1.5, 1.5]
    q8 = LSQQuantizer(8, init_from=torch.tensor([1.0, -3.0]))
    assert q8.levels == 127 and q8.step.item() == pytest.approx(2 * 2.0 / 127 ** 0.5)
    with pytest.raises(ValueError, match="bit width"):
        LSQQuantizer(1)


def test_straight_through_gradients():
    x = torch.tensor([0.3, 1.7], requires_grad=True)
    round_ste(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    q = LSQQuantizer(4, init_from=torch.randn(100))
    w = torch.randn(100, requires_grad=True)
    q(w).pow(2).sum().backward()
    assert w.grad.abs().sum() > 0 and q.step.grad is not None and q.step.grad != 0


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_bn_folded_layer_equals_unfolded(kind):
    torch.manual_seed(0)
    if kind == "linear":
        layer, bn, x = nn.Linear(5, 4), nn.BatchNorm1d(4), torch.randn(7, 5)
    else:
        layer, bn, x = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), torch.randn(2, 3, 6, 6)
    bn.train()
    for _ in range(5):
        bn(layer(torch.randn_like(x) * 2 + 1))  # non-trivial running statistics
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0), bn.bias.uniform_(-1, 1)
    bn.eval()
    assert torch.allclose(fold_batchnorm(layer, bn)(x), bn(layer(x)), atol=1e-5)


def test_quantize_network_swaps_layers_and_membranes():
    torch.manual_seed(1)
    net = SpikingSequential(nn.Linear(6, 8), LIFNeuron(), nn.Linear(8, 8), LIFNeuron(), nn.Linear(8, 3))
    q = quantize_network(net, bits=4, membrane_bits=8, keep_first_last=True)
    assert len(quantized_layers(q)) == 1 and isinstance(q[3], MembraneQuantizer) and isinstance(q[1], LIFNeuron)
    assert len(quantized_layers(net)) == 0  # the original is untouched
    x = repeat_over_time(torch.rand(4, 6), 5)
    out = q(x)
    step = quantized_layers(q)[0].weight_quantizer.step
    v = q[3].get_state()["v"]
    assert torch.allclose(v / step, torch.round(v / step), atol=1e-4)  # potential on the layer's grid
    assert out.shape == (5, 4, 3)
    # capture / restore round-trips the state of every neuron, the quantized membranes included
    state = capture_state(q)
    assert {"1", "3"} <= set(state.tensors) and torch.equal(state.tensors["3"]["v"], v)
    twin = copy.deepcopy(q)                                  # the network at the captured moment
    q(repeat_over_time(torch.rand(4, 6) * 3, 3))             # the state moves on ...
    assert not capture_state(q).equal(state)                 # ... so it differs before the restore
    restore_state(q, state)
    assert capture_state(q).equal(state)                     # and equals the captured state after it
    assert state.tensors["3"]["v"] is not q[3].get_state()["v"]   # a copy, not the captured tensor itself
    nxt = repeat_over_time(torch.rand(4, 6), 2)
    assert torch.equal(q(nxt), twin(nxt))                    # the run continues exactly as from the captured moment
    full = quantize_network(net, bits=8)
    assert len(quantized_layers(full)) == 3


def test_membrane_distillation_loss_and_potential_recording():
    torch.manual_seed(2)
    teacher = SpikingSequential(nn.Linear(4, 6), IFNeuron(0.5), nn.Linear(6, 2))
    student = quantize_network(teacher, bits=2)
    x = repeat_over_time(torch.rand(3, 4), 4)
    with record_potentials(teacher) as tv:
        zt = teacher(x).mean(0)
    with record_potentials(student) as sv:
        zs = student(x).mean(0)
    assert len(tv["1"]) == 4 and len(sv["1"]) == 4
    loss = distillation_loss(zs, zt, torch.tensor([0, 1, 0]), student_potentials=sv["1"], teacher_potentials=tv["1"])
    loss.backward()
    assert loss > 0 and quantized_layers(student)[0].weight.grad is not None
    same = distillation_loss(zt, zt, None, student_potentials=tv["1"], teacher_potentials=tv["1"])
    assert same.item() == pytest.approx(0.0, abs=1e-6)


def test_membrane_distillation_term_equals_a_hand_computation():
    """The λ_mem·Σ_t MSE(V_student, V_teacher) term on its own, against a hand computation, and its gradient."""
    torch.manual_seed(2)
    teacher = SpikingSequential(nn.Linear(4, 6), IFNeuron(0.5), nn.Linear(6, 2))
    student = quantize_network(teacher, bits=2)
    x = repeat_over_time(torch.rand(3, 4), 4)
    with record_potentials(teacher) as tv:
        zt = teacher(x).mean(0)
    with record_potentials(student) as sv:
        zs = student(x).mean(0)
    vs, vt = sv["1"], tv["1"]
    by_hand = sum(((a - b) ** 2).mean() for a, b in zip(vs, vt))             # one MSE per timestep, summed
    assert by_hand > 1e-4
    y = torch.tensor([0, 1, 0])
    only = distillation_loss(zs, zt, None, student_potentials=vs, teacher_potentials=vt, kd_weight=0.0,
                             membrane_weight=0.7)
    torch.testing.assert_close(only, 0.7 * by_hand)
    full = distillation_loss(zs, zt, y, student_potentials=vs, teacher_potentials=vt)       # λ_mem = 1 by default
    without = distillation_loss(zs, zt, y, student_potentials=vs, teacher_potentials=vt, membrane_weight=0.0)
    torch.testing.assert_close(full - without, by_hand)
    only.backward()                                   # the term alone moves the student (the teacher is a target)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_ahsar_raises_thresholds_of_too_active_layers_and_restores():
    torch.manual_seed(3)
    net = SpikingSequential(nn.Linear(4, 16), IFNeuron(0.1), nn.Linear(16, 16), IFNeuron(10.0), nn.Linear(16, 2))
    ahsar = AHSAR(net, AHSARConfig(momentum=1.0))
    net.train()
    net(repeat_over_time(torch.rand(8, 4) + 1, 4))
    ahsar.update()
    # layer 1 fires a lot (> r*), layer 3 hardly at all: thresholds move in opposite directions
    assert net[1].threshold.item() > 0.1 and net[3].threshold.item() < 10.0
    before = ahsar.state_dict()
    assert ahsar.end_epoch(1.0) == 1.0          # progress: gain unchanged
    # no progress: the mean rate (layer 1 fires a lot, layer 3 hardly) is above r* = 0.15: the gain rises by 2 %
    assert float(ahsar.rates.mean()) > 0.15
    gain = ahsar.end_epoch(0.5)
    assert gain == pytest.approx(1.02)
    other = AHSAR(copy.deepcopy(net))
    other.load_state_dict(ahsar.state_dict())
    assert other.global_gain == gain and torch.equal(other.rates, ahsar.rates)
    ahsar.close()
    assert net[1].threshold.item() == pytest.approx(0.1) and before["global_gain"] == 1.0
    assert not any(p.requires_grad for p in [net[1].threshold, net[3].threshold])  # no trainable parameters


@pytest.mark.parametrize("activity", ["too active", "too quiet"])
def test_ahsar_global_gain_direction(activity):
    """Without progress the gain moves towards the target activity: up (higher thresholds) for a network firing
    above r*, down for one firing below it; with progress it stays. Every threshold follows θ = θ_base·g·s."""
    torch.manual_seed(5)
    theta = 0.05 if activity == "too active" else 50.0
    net = SpikingSequential(nn.Linear(4, 16), IFNeuron(theta), nn.Linear(16, 16), IFNeuron(theta), nn.Linear(16, 2))
    ahsar = AHSAR(net, AHSARConfig(momentum=1.0))
    net.train()
    net(repeat_over_time(torch.rand(8, 4) + 1, 4))
    ahsar.update()
    rates = ahsar.rates
    assert bool((rates > 0.3).all()) if activity == "too active" else bool((rates == 0).all())   # r* = 0.15
    scaled = [net[1].threshold.clone(), net[3].threshold.clone()]
    assert ahsar.end_epoch(0.8) == 1.0 and ahsar.end_epoch(0.9) == 1.0            # progress: no move
    expected = 1.0
    for _ in range(3):                                                              # three epochs without progress
        expected *= 1.02 if activity == "too active" else 0.98
        assert ahsar.end_epoch(0.9) == pytest.approx(expected)
    for neuron, before in zip((net[1], net[3]), scaled):
        torch.testing.assert_close(neuron.threshold, before * expected)
        assert (neuron.threshold > before).all() if activity == "too active" else (neuron.threshold < before).all()
    ahsar.close()


def test_spiking_actor_distillation_loss_includes_the_membrane_term():
    """distill_spiking_actor's loss is the pre-action MSE plus membrane_weight × the normalised membrane MSE: with
    the optimiser frozen (lr 0, one batch) the epoch loss grows linearly in membrane_weight from the output MSE."""
    import numpy as np

    from snnrl.agents.actor import ActorInfo, TeacherActor
    from snnrl.agents.conversion import convert_actor, thresholds_from_activations
    from snnrl.agents.quantized import distill_spiking_actor, quantize_spiking_actor

    torch.manual_seed(6)
    actor = TeacherActor(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU()), nn.Linear(16, 2),
                         action_low=-np.ones(2), action_high=np.ones(2), info=ActorInfo(algo="TD3", env_id="none"))
    obs = torch.rand(64, 3) * 2 - 1
    fp = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs)))
    student = quantize_spiking_actor(fp, bits=2, membrane_bits=16)

    def epoch_loss(weight: float) -> float:
        return distill_spiking_actor(copy.deepcopy(student), fp, obs, timesteps=4, epochs=1, batch_size=64, lr=0.0,
                                     membrane_weight=weight, generator=torch.Generator().manual_seed(0))[0]

    base, one, two = epoch_loss(0.0), epoch_loss(1.0), epoch_loss(2.0)
    assert one - base > 1e-3 * base                       # the membrane term is there and positive
    assert two - base == pytest.approx(2 * (one - base), rel=1e-4)


def test_quantized_spiking_actor_distillation_reduces_the_mismatch():
    import numpy as np

    from snnrl.agents.actor import ActorInfo, TeacherActor
    from snnrl.agents.conversion import convert_actor, thresholds_from_activations
    from snnrl.agents.quantized import distill_spiking_actor, quantize_spiking_actor

    torch.manual_seed(4)
    actor = TeacherActor(nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU()), nn.Linear(32, 2),
                         action_low=-np.ones(2), action_high=np.ones(2), info=ActorInfo(algo="TD3", env_id="none"))
    obs = torch.rand(512, 3) * 2 - 1
    fp = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs)))
    student = quantize_spiking_actor(fp, bits=2, membrane_bits=16)
    assert isinstance(student.neurons[1], MembraneQuantizer) and isinstance(student.hidden_layers[0].layer, QuantLinear)

    def mismatch() -> float:
        with torch.no_grad():
            return float((student(obs, timesteps=8) - fp(obs, timesteps=8)).abs().mean())

    before = mismatch()
    losses = distill_spiking_actor(student, fp, obs, timesteps=8, epochs=15, lr=3e-3,
                                   generator=torch.Generator().manual_seed(0))
    assert losses[-1] < losses[0] and mismatch() < before
