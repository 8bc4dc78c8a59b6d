"""NIR export of converted actors and continual backbones: ours -> NIR -> ours is bit-identical, the metadata names
what NIR cannot express, and peers' re-imports (Norse, snnTorch) compute NIR's semantics exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnrl.agents.conversion import convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.zoo import load_teacher
from snnrl.continual.backbones import make_backbone
from snnrl.reports.nir_graph import (NIRError, actor_from_nir, actor_to_nir, backbone_from_nir, backbone_to_nir,
                                     clamp_observation, nir_semantics, peer_outputs, policy_from_nir,
                                     policy_to_nir, read_nir, readout_action, write_nir)


def _observations(seed: int, n: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(-0.2, 0.2, size=(n, 4)).astype(np.float32))


@pytest.fixture(scope="module")
def policy() -> SpikingPolicy:
    actor, _ = load_teacher("td3-invertedpendulum")
    snn = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(_observations(0, 256))))
    return SpikingPolicy(snn, timesteps=8, crpi=CRPIConfig(alpha=1.0))


def test_policy_round_trip_through_a_file_is_bit_identical(policy, tmp_path):
    loaded = policy_from_nir(read_nir(write_nir(policy_to_nir(policy), tmp_path / "policy.nir")))
    assert loaded.timesteps == 8 and loaded.crpi == policy.crpi
    state_a = state_b = None
    for k in range(4):                                    # the CRPI carry flows through several decisions
        obs = _observations(10 + k, 16).numpy()
        a, state_a = policy.predict(obs, state_a)
        b, state_b = loaded.predict(obs, state_b)
        assert np.array_equal(a, b) and all(np.array_equal(x, y) for x, y in zip(state_a, state_b, strict=True))


def test_actor_metadata_says_what_nir_cannot_express(policy):
    graph = actor_to_nir(policy.actor)
    assert [type(graph.nodes[n]).__name__ for n in ("input_layer", "if_0", "hidden_layer_0", "if_1",
                                                   "output_layer")] == ["Affine", "IF", "Affine", "IF", "Affine"]
    gaps = graph.metadata["snnrl_not_in_nir"]
    assert "subtraction" in gaps and "theta/2" in gaps and "mean over the T steps" in gaps
    assert "CRPI" not in gaps                             # no CRPI given: not claimed
    assert "CRPI" in policy_to_nir(policy).metadata["snnrl_not_in_nir"]
    node = graph.nodes["if_0"]
    assert node.metadata["snnrl_reset"] == "subtract"
    assert np.array_equal(node.metadata["snnrl_v_init"], 0.5 * node.v_threshold)
    with pytest.raises(NIRError, match="records no T"):
        policy_from_nir(graph)


@pytest.mark.parametrize("name,kwargs,shape", [("mlp", {"hidden": (12, 6)}, (1, 4, 4)),
                                                ("conv", {"channels": (4,), "hidden": 8}, (2, 6, 6))])
def test_backbone_round_trip_through_a_file_is_bit_identical(name, kwargs, shape, tmp_path):
    torch.manual_seed(0)
    net = make_backbone(name, shape, 3, timesteps=4, **kwargs).eval()
    with torch.no_grad():                                 # make the neurons spike
        for p in net.features.parameters():
            p.mul_(4)
    x = torch.rand(5, *shape)
    loaded = backbone_from_nir(read_nir(write_nir(backbone_to_nir(net), tmp_path / "net.nir")))
    assert type(loaded) is type(net)
    y = net(x)
    assert torch.equal(loaded(x), y) and y.std() > 0


def test_unsupported_networks_and_foreign_graphs_are_refused(policy):
    import nir

    with pytest.raises(NIRError, match="SpikingResNet19"):
        backbone_to_nir(make_backbone("resnet19", (3, 8, 8), 2, channels=(4,), blocks=(1,)))
    with pytest.raises(NIRError, match="ParametricLIFNeuron has no NIR node"):
        backbone_to_nir(make_backbone("mlp", (1, 4, 4), 2, hidden=(4,), neuron="plif"))
    foreign = nir.NIRGraph.from_list(nir.Affine(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)))
    with pytest.raises(NIRError, match="no 'snnrl_config' metadata"):
        actor_from_nir(foreign)


def test_norse_reimport_of_an_actor_computes_nir_semantics_and_drifts_from_ours(policy):
    """Norse reads our IF nodes as NIR says (start at 0, reset to 0): it equals :func:`nir_semantics` of our actor
    on held-out observations (no exact ties v == θ); the gap to our actor is the drift metadata-only semantics
    cost, and it is not zero."""
    graph = actor_to_nir(policy.actor)
    obs = _observations(99, 64)
    outputs = peer_outputs(graph, clamp_observation(graph, obs).expand(8, -1, -1), peer="norse")
    peer = readout_action(graph, outputs)
    with torch.no_grad():
        literal = nir_semantics(policy.actor)(obs, 8)
        ours = policy.actor(obs, 8)
    assert torch.allclose(peer, literal, atol=1e-5)
    assert (peer - ours).abs().max() > 1e-2


def test_snntorch_reimport_of_a_backbone_computes_nir_semantics():
    torch.manual_seed(1)
    net = make_backbone("conv", (1, 8, 8), 4, timesteps=4, channels=(4,), hidden=16).eval()
    with torch.no_grad():
        for p in net.features.parameters():
            p.mul_(4)
    x = torch.rand(3, 1, 8, 8)
    peer = peer_outputs(backbone_to_nir(net), x.expand(4, -1, -1, -1, -1), peer="snntorch")
    with torch.no_grad():
        assert torch.allclose(peer, nir_semantics(net)(x), atol=1e-5)
        assert (peer - net(x)).abs().max() > 1e-3         # snnTorch-style reset_delay / subtraction is lost
