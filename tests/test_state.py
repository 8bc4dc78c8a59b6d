import io

import pytest
import torch
from torch import nn

from snnrl.layers import SpikingSequential
from snnrl.neurons import ATMNNeuron, IFNeuron, LIFNeuron, SelfPredictionNeuron
from snnrl.state import NetworkState, StateShapeError, capture_state, reset_state, restore_state


def _net(hidden: int = 8) -> SpikingSequential:
    torch.manual_seed(0)
    return SpikingSequential(nn.Linear(3, hidden), LIFNeuron(0.8), nn.Linear(hidden, hidden),
                             SelfPredictionNeuron(IFNeuron(0.5)), nn.Linear(hidden, 4), ATMNNeuron())


def test_capture_restore_round_trips_bit_exactly():
    net = _net()
    gen = torch.Generator().manual_seed(1)
    warmup, x = torch.randn(5, 2, 3, generator=gen), torch.randn(4, 2, 3, generator=gen)
    net(warmup)
    state = capture_state(net)
    first = net(x)
    restore_state(net, state)
    assert capture_state(net).equal(state)
    second = net(x)
    assert torch.equal(first, second)
    # and through a file
    buffer = io.BytesIO()
    torch.save(state.to_dict(), buffer)
    buffer.seek(0)
    loaded = NetworkState(torch.load(buffer, weights_only=True))
    restore_state(net, loaded)
    assert torch.equal(net(x), first)


def test_capture_is_a_copy():
    net = _net()
    net(torch.ones(2, 1, 3))
    state = capture_state(net)
    net(torch.ones(2, 1, 3))
    assert not capture_state(net).equal(state)


def test_per_env_slices():
    net = _net()
    net(torch.randn(3, 3, 3))
    state = capture_state(net)
    row = state.select(1)
    assert row.batch_size == 1
    reset_state(net)
    net(torch.randn(3, 3, 3))
    other = capture_state(net)
    mixed = other.assign(1, row)
    assert mixed.select(1).equal(row)
    assert mixed.select(0).equal(other.select(0)) and mixed.select(2).equal(other.select(2))


def test_restore_into_network_of_another_shape_fails_clearly():
    small, large = _net(8), _net(16)
    small(torch.ones(2, 1, 3))
    large(torch.ones(2, 1, 3))
    with pytest.raises(StateShapeError, match="same architecture"):
        restore_state(large, capture_state(small))
    other = SpikingSequential(nn.Linear(3, 8), LIFNeuron())
    with pytest.raises(StateShapeError, match="modules without state"):
        restore_state(other, capture_state(small))


def test_masked_reset_of_whole_network():
    net = _net()
    net(torch.randn(3, 2, 3))
    before = capture_state(net)
    reset_state(net, torch.tensor([False, True]))
    after = capture_state(net)
    assert after.select(0).equal(before.select(0))
    assert not after.select(1).equal(before.select(1))


def test_networks_copy_and_pickle_after_a_forward_with_gradients():
    import copy
    import pickle

    net = _net()
    x = torch.randn(3, 2, 3, requires_grad=True)
    net(x).sum().backward()
    clone = copy.deepcopy(net)
    assert capture_state(clone).equal(capture_state(net))
    restored = pickle.loads(pickle.dumps(net))
    assert capture_state(restored).equal(capture_state(net))
