import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnrl.encoding import repeat_over_time
from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.layers import SpikingSequential
from snnrl.neurons import IFNeuron
from snnrl.opcount import OperationCounter, OpsSummary


def _hand_net() -> SpikingSequential:
    l1, l2, l3 = nn.Linear(2, 3, bias=False), nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.5], [0.25, 0.25]]))
        l2.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5]]))
        l3.weight.copy_(torch.tensor([[1.0, 1.0]]))
    return SpikingSequential(l1, IFNeuron(1.0), l2, IFNeuron(1.0), l3)


def test_three_layer_count_equals_hand_count():
    net = _hand_net()
    x = repeat_over_time(torch.tensor([[1.0, 2.0]]), 2)  # analog input (not all in {-1, 0, 1})
    with OperationCounter(net) as counter:
        net(x)
    # Hand count, theta = 1, soft reset, V0 = 0:
    # layer 0 (analog input): 2 timesteps x 3 outputs x 2 inputs = 12 MACs; current [1, 1, .75]
    # IF 1: t0 V [1, 1, .75] -> spikes [1, 1, 0], V [0, 0, .75]; t1 V [1, 1, 1.5] -> [1, 1, 1]: 5 spikes
    # layer 2 (spikes, fan-out 2): t0 2 x 2 = 4; t1 3 x 2 = 6 -> currents t0 [1, 1], t1 [1, 1.5]
    # IF 3: t0 V [1, 1] -> 2 spikes, V [0, 0]; t1 V [1, 1.5] -> 2 spikes: 4 spikes
    # layer 4 (fan-out 1): t0 2, t1 2
    layers = counter.by_layer()
    assert layers["0"] == OpsSummary(macs=12)
    assert layers["1"] == OpsSummary(neuron_updates=6, spikes=5)
    assert layers["2"] == OpsSummary(accumulates=10)
    assert layers["3"] == OpsSummary(neuron_updates=4, spikes=4)
    assert layers["4"] == OpsSummary(accumulates=4)
    per_t = counter.by_timestep()
    assert per_t[0] == OpsSummary(macs=6, accumulates=6, neuron_updates=5, spikes=4)
    assert per_t[1] == OpsSummary(macs=6, accumulates=8, neuron_updates=5, spikes=5)
    assert DIGITAL_45NM_FP32.energy_pj(counter.summary()) == pytest.approx(12 * 4.6 + 14 * 0.9)


def test_single_step_mode_counts_the_same():
    net = _hand_net()
    with OperationCounter(net) as multi:
        net(repeat_over_time(torch.tensor([[1.0, 2.0]]), 2))
    single = _hand_net()
    from snnrl.layers import set_step_mode

    set_step_mode(single, "s")
    with OperationCounter(single) as counter:
        for _ in range(2):
            single(torch.tensor([[1.0, 2.0]]))
    assert counter.by_timestep() == multi.by_timestep()


def test_counting_never_changes_outputs_and_hooks_are_removed():
    gen = torch.Generator().manual_seed(0)
    net = SpikingSequential(nn.Conv2d(2, 4, 3, padding=1), IFNeuron(0.3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = torch.rand(4, 3, 2, 6, 6, generator=gen)
    plain = net(x)
    net[1].reset_state()
    with OperationCounter(net) as counter:
        counted = net(x)
    assert torch.equal(plain, counted)
    assert counter.summary().accumulates > 0
    n = len(counter.records)
    net[1].reset_state()
    net(x)
    assert len(counter.records) == n


def test_conv_accumulates_are_exact_with_padding_and_stride():
    gen = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    spikes = (torch.rand(2, 4, 3, 9, 9, generator=gen) > 0.7).float()
    net = SpikingSequential(conv)
    with OperationCounter(net) as counter:
        net(spikes)
    # Independent count: each output position touches the non-zero inputs in its receptive field, once per
    # output channel.
    cols = F.unfold(spikes.flatten(0, 1), 3, padding=1, stride=2)   # [T*B, C*k*k, L]
    expected = int((cols != 0).sum()) * 5
    assert counter.summary().accumulates == expected


def test_disabled_counter_records_nothing():
    net = _hand_net()
    with OperationCounter(net, enabled=False) as counter:
        net(repeat_over_time(torch.ones(1, 2), 3))
    assert counter.records == []


def test_per_sample_counts_add_up_to_the_totals():
    gen = torch.Generator().manual_seed(3)
    net = SpikingSequential(nn.Linear(5, 6), IFNeuron(0.4), nn.Linear(6, 2))
    x = torch.rand(3, 4, 5, generator=gen)
    with OperationCounter(net) as counter:
        net(x)
    per_sample = counter.by_sample()
    for layer, totals in counter.by_layer().items():
        assert per_sample[layer].sum(0).tolist() == [totals.macs, totals.accumulates, totals.neuron_updates,
                                                      totals.spikes]
    # each row alone gives its own row's counts
    for row in range(4):
        net[1].reset_state()
        with OperationCounter(net) as alone:
            net(x[:, row:row + 1])
        for layer, counts in alone.by_sample().items():
            assert counts[0].tolist() == per_sample[layer][row].tolist()


def test_dense_mode_counts_macs_even_for_zero_or_binary_input():
    net = _hand_net()
    x = repeat_over_time(torch.tensor([[0.0, 1.0]]), 2)  # looks like spikes
    with OperationCounter(net) as auto:
        net(x)
    assert auto.by_layer()["0"] == OpsSummary(accumulates=2 * 3)  # one non-zero input x fan-out 3, per step
    net[1].reset_state(), net[3].reset_state()
    with OperationCounter(net, dense=True) as dense:
        net(x)
    assert dense.by_layer()["0"] == OpsSummary(macs=12) and dense.summary().accumulates == 0


def test_spike_tensor_check_and_a_reused_counter():
    from snnrl.opcount import is_spike_tensor

    assert is_spike_tensor(torch.tensor([[0.0, 1.0], [-1.0, -0.0]])) and is_spike_tensor(torch.tensor([True, False]))
    assert is_spike_tensor(torch.tensor([0, 1, -1]))
    for bad in ([0.5, 1.0], [2.0, 0.0], [float("nan"), 1.0], [float("inf"), 0.0], [1.0 + 1e-7, 0.0]):
        assert not is_spike_tensor(torch.tensor(bad))
    x = repeat_over_time(torch.tensor([[1.0, 2.0]]), 2)
    net = _hand_net()
    with OperationCounter(net) as fresh:
        net(x)
    reused = OperationCounter(net)
    for _ in range(2):                        # re-entering reuses the hooked layers; reset() clears the counts
        net[1].reset_state(), net[3].reset_state()
        reused.reset()
        with reused:
            net(x)
        assert reused.by_layer() == fresh.by_layer() and reused.records == fresh.records
    assert all(not m._forward_hooks for m in net.modules())
