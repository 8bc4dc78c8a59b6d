"""NeuroBench's metric set from our operation counter, checked against the ``neurobench`` package (2.3.0) on the same
networks and data: a continual backbone and a converted actor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnrl.continual.backbones import make_backbone
from snnrl.hardware.neurobench import neurobench_metrics
from snnrl.neurons import SpikingNeuron

pytest.importorskip("neurobench")


class _Readout(torch.nn.Module):
    """``[B, ...] -> [B, C]`` for NeuroBench's loop: the wrapped call's time mean (or its output as is)."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def forward(self, x):
        y = self.run(x)
        return y.mean(0) if y.dim() == 3 else y


def _package_metrics(net: torch.nn.Module, run, x: torch.Tensor) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    wrapper = _Readout(run)
    wrapper.net = net                                   # registered as a submodule: hooks and parameters found
    model = TorchModel(wrapper)
    model.add_activation_module(SpikingNeuron)          # our neurons are activation layers to NeuroBench
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(len(x))), batch_size=len(x))
    return Benchmark(model, data, [], [], [[Footprint, ConnectionSparsity, ParameterCount],
                                           [ActivationSparsity, SynapticOperations]]).run(quiet=True)


def _assert_equal(ours, theirs) -> None:
    syn = theirs["SynapticOperations"]
    assert (ours.effective_macs, ours.effective_acs, ours.dense_synops) == (
        syn["Effective_MACs"], syn["Effective_ACs"], syn["Dense"])
    assert ours.activation_sparsity == pytest.approx(theirs["ActivationSparsity"], abs=1e-12)
    assert ours.footprint_bytes == theirs["Footprint"] and ours.parameter_count == theirs["ParameterCount"]
    assert ours.connection_sparsity == pytest.approx(theirs["ConnectionSparsity"], abs=1e-3)  # theirs: 3 decimals


@pytest.fixture
def backbone():
    torch.manual_seed(0)
    net = make_backbone("mlp", (1, 4, 4), 3, hidden=(12, 6), timesteps=4).eval()
    with torch.no_grad():
        for p in net.features.parameters():
            p.mul_(4)                                    # neurons fire: some sparsity, some accumulates
    return net


def test_backbone_metrics_equal_the_neurobench_package(backbone):
    x = torch.rand(5, 1, 4, 4) + 0.01                    # analog input without exact zeros
    ours = neurobench_metrics(backbone, lambda: backbone(x), samples=5)
    assert 0 < ours.activation_sparsity < 1 and ours.effective_acs > 0
    assert ours.membrane_updates == 4 * (12 + 6)         # every neuron at every step, per sample
    _assert_equal(ours, _package_metrics(backbone, backbone, x))


def test_converted_actor_metrics_equal_the_neurobench_package():
    from snnrl.agents.conversion import convert_actor, thresholds_from_activations
    from snnrl.agents.zoo import load_teacher

    actor, _ = load_teacher("td3-invertedpendulum")
    obs = torch.from_numpy(np.random.default_rng(0).uniform(-0.2, 0.2, size=(32, 4)).astype(np.float32))
    snn = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs)))
    ours = neurobench_metrics(snn, lambda: snn(obs, 8), samples=32)
    assert ours.effective_macs == 4 * 400                # the analog first layer, once per decision
    _assert_equal(ours, _package_metrics(snn, lambda x: snn(x, 8), obs))


def test_zero_weights_are_where_the_definitions_part(backbone):
    """NeuroBench skips zero weights in its effective MACs; our counter (no zero skipping) does not."""
    with torch.no_grad():
        backbone.features[1].layer.weight[:, :3] = 0     # 3 inputs x 12 outputs of the analog first layer
    x = torch.rand(5, 1, 4, 4) + 0.01
    ours = neurobench_metrics(backbone, lambda: backbone(x), samples=5)
    theirs = _package_metrics(backbone, backbone, x)["SynapticOperations"]
    assert ours.effective_macs - theirs["Effective_MACs"] == 3 * 12     # the first layer ran once (static input)
    assert ours.connection_sparsity > 0
