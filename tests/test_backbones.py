"""Tests for snnrl.continual.backbones: shapes, causality, fresh state, gradients, a digits training run,
rate coding, input errors and operation counting."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import load_benchmark

from snnrl.continual.backbones import (SpikingConvNet, SpikingMLP, SpikingResNet19, make_backbone)
from snnrl.layers import InputError
from snnrl.neurons import IFNeuron, LIFNeuron
from snnrl.opcount import OperationCounter


def _small(name: str, **kwargs) -> torch.nn.Module:
    """A small backbone on 8x8 grey images (digits-sized)."""
    torch.manual_seed(0)
    sizes = {"mlp": {"hidden": (32, 16)}, "conv": {"channels": (4, 8), "hidden": 16}}[name]
    return make_backbone(name, (1, 8, 8), 5, **{**sizes, **kwargs})


def _images(batch: int, shape: tuple[int, ...] = (1, 8, 8), *, seed: int = 0, scale: float = 2.0) -> torch.Tensor:
    """Inputs scaled up so that the untrained nets spike."""
    return scale * torch.rand(batch, *shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_output_shape_and_timesteps_override(name):
    net = _small(name, timesteps=3)
    assert (net.timesteps, net.num_classes, net.in_shape) == (3, 5, (1, 8, 8))
    x = _images(6)
    assert net(x).shape == (3, 6, 5)
    assert net(x, timesteps=2).shape == (2, 6, 5)
    assert net(x, timesteps=4).shape == (4, 6, 5)


@pytest.mark.parametrize("in_shape, flat", [((1, 28, 28), 32 * 7 * 7), ((1, 8, 8), 32 * 2 * 2),
                                            ((3, 32, 32), 32 * 8 * 8)])
def test_convnet_default_sizes(in_shape, flat):
    net = SpikingConvNet(in_shape, 10)
    assert net.features[-2].layer.in_features == flat            # Linear(hidden) after Flatten
    assert net(torch.rand(2, *in_shape)).shape == (4, 2, 10)


def test_resnet19_tiny_forward_and_architecture():
    torch.manual_seed(0)
    net = SpikingResNet19()
    assert (net.in_shape, net.num_classes, net.timesteps) == ((3, 32, 32), 10, 2)
    # Parameters derived from the architecture (convs without bias, BatchNorm weight + bias, parameter-free LIF):
    conv = lambda cin, cout, k: cin * cout * k * k  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731

    def block(cin, cout):  # conv3x3-BN-conv3x3-BN, plus conv1x1-BN on the shortcut when the shape changes
        shortcut = conv(cin, cout, 1) + bn(cout) if cin != cout else 0
        return conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3) + bn(cout) + shortcut

    stages = [(128, 128)] * 3 + [(128, 256)] + [(256, 256)] * 2 + [(256, 512)] + [(512, 512)]   # blocks (3, 3, 2)
    expected = conv(3, 128, 3) + bn(128) + sum(block(i, o) for i, o in stages) + 512 * 10 + 10   # stem ... classifier
    assert sum(p.numel() for p in net.parameters()) == expected == 12_569_226
    blocks = [m for m in net.features if type(m).__name__ == "SpikingBasicBlock"]
    assert len(blocks) == 8 and blocks[-1].conv2.layer.out_channels == 512
    net.eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32), timesteps=1).shape == (1, 2, 10)


def test_resnet19_narrow_variant_trains_in_train_mode():
    torch.manual_seed(0)
    net = make_backbone("resnet19", (3, 8, 8), 4, timesteps=2, channels=(4, 8, 8), blocks=(1, 1, 1))
    out = net(_images(3, (3, 8, 8)))
    assert out.shape == (2, 3, 4)
    out.sum().backward()
    assert net.features[0].layer.weight.grad is not None


def test_resnet19_staer_runs_end_to_end_on_a_cifar_format_fixture(tmp_path, capsys):
    """The full-width ResNet19 (the STAER paper's backbone) through ``snnrl continual`` on generated CIFAR-10 files."""
    import json

    from snnrl.cli import main
    from snnrl.continual.datasets import load_dataset

    bench = load_benchmark("continual_resnet19")
    root = bench.write_cifar10_fixture(tmp_path / "data", train_per_class=1, test_per_class=1)
    data = load_dataset("split-cifar10", root=root)
    assert sorted(data.train_y.tolist()) == list(range(10)) and data.train_x.shape == (10, 3, 32, 32)
    out = tmp_path / "out"
    assert main(["continual", "--benchmark", "split-cifar10", "--backbone", "resnet19", "--strategy", "staer",
                 "--timesteps", "2", "--batch-size", "5", "--train-per-class", "1", "--test-per-class", "1",
                 "--experiences", "2", "--data-root", str(root), "--out", str(out), "--no-progress"]) == 0
    run = json.loads(next(out.rglob("results.json")).read_text())
    assert run["parameters"] == 12_569_226 and run["config"]["backbone"] == "resnet19"
    assert len(run["class_il_matrix"]) == 2 and len(run["wall_s_per_experience"]) == 2
    assert (out / "summary.json").is_file()
    with pytest.raises(SystemExit):
        bench.main(["--timesteps", "1"])
    assert "--timesteps 1: STAER's contraction view needs T >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--data-root", str(tmp_path / "nowhere")])
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_causal_prefix_equals_shorter_run(name):
    net = _small(name)
    x = _images(7)
    long, short = net(x, timesteps=6), net(x, timesteps=3)
    assert long[:3].abs().sum() > 0
    assert torch.equal(long[:3], short)
    assert torch.equal(long[:1], net(x, timesteps=1))


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_fresh_state_each_call_and_batch_size_may_change(name):
    net = _small(name)
    x = _images(5)
    first = net(x)
    assert torch.equal(first, net(x))
    assert net(x[:2]).shape == (4, 2, 5)
    assert torch.equal(net(x[:2]), first[:, :2])                 # samples are independent
    assert torch.equal(net(x.unsqueeze(0).expand(4, *x.shape)), first)     # temporal [T, B, ...] input


def test_deepcopy_after_training_forward():
    net = _small("conv")
    net(_images(2)).sum().backward()
    clone = copy.deepcopy(net)
    assert torch.equal(clone(_images(2)), net(_images(2)))


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_gradient_reaches_first_layer_through_spikes(name):
    net = _small(name)
    net(_images(4)).pow(2).sum().backward()
    first = net.features[1 if name == "mlp" else 0].layer      # MLP starts with Flatten
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


def test_custom_neuron_factory_and_lif_defaults():
    net = _small("mlp")
    lifs = [m for m in net.modules() if isinstance(m, LIFNeuron)]
    assert len(lifs) == 2
    assert all((m.beta, m.threshold.item(), m.reset, m.reset_delay) == (0.5, 1.0, "subtract", True) for m in lifs)
    assert type(lifs[0].surrogate).__name__ == "ATan" and lifs[0].surrogate.alpha == 2.0
    if_net = _small("mlp", neuron=lambda: IFNeuron(0.5))
    assert sum(isinstance(m, IFNeuron) for m in if_net.modules()) == 2
    assert _small("mlp", beta=0.9).features[2].beta == 0.9
    with pytest.raises(TypeError, match="SpikingNeuron"):
        _small("mlp", neuron=lambda: torch.nn.ReLU())


def test_digits_training_reaches_80_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = torch.tensor(digits.images[:512], dtype=torch.float32).unsqueeze(1) / 16
    y = torch.tensor(digits.target[:512])
    torch.manual_seed(0)
    net = SpikingConvNet((1, 8, 8), 10, timesteps=4)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(150):
        idx = torch.randint(0, len(x), (64,))
        loss = F.cross_entropy(net(x[idx]).mean(0), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = (net(x).mean(0).argmax(1) == y).float().mean().item()
    assert accuracy > 0.8


def test_rate_encoding_reproducible_per_seed():
    x = _images(4, scale=0.5)
    a, b, c = (_small("mlp", encoding="rate", seed=s, threshold=0.05) for s in (1, 1, 2))  # same weights
    spikes = a.encode(x, 8)
    assert spikes.shape == (8, 4, 1, 8, 8) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(spikes, b.encode(x, 8))
    assert not torch.equal(spikes, c.encode(x, 8))
    a.reseed()
    b.reseed()
    out_a = a(x, timesteps=8)
    assert torch.equal(out_a, b(x, timesteps=8))
    assert not torch.equal(out_a, c(x, timesteps=8))
    assert not torch.equal(a(x, timesteps=8), out_a)             # the stream moves on ...
    a.reseed()
    assert torch.equal(a(x, timesteps=8), out_a)                 # ... and restarts on reseed()
    state = torch.get_rng_state()
    a(x)
    assert torch.equal(torch.get_rng_state(), state)             # global RNG untouched


def test_clear_errors():
    net = _small("conv")
    with pytest.raises(InputError, match=r"per-sample shape \(1, 8, 8\).*received shape \(2, 1, 8, 9\)"):
        net(torch.rand(2, 1, 8, 9))
    with pytest.raises(InputError, match="unsqueeze"):
        net(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1"):
        net(torch.rand(2, 1, 8, 8), timesteps=0)
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1"):
        SpikingMLP((4,), 2, timesteps=0)
    with pytest.raises(ValueError, match="T=3 steps but timesteps=2"):
        net(torch.rand(3, 2, 1, 8, 8), timesteps=2)
    nan = torch.rand(2, 1, 8, 8)
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        net(nan)
    with pytest.raises(InputError, match="dtype"):
        net(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="H, W >= 4"):
        SpikingConvNet((1, 3, 8), 10)
    with pytest.raises(ValueError, match="encoding"):
        SpikingMLP((4,), 2, encoding="poisson")
    with pytest.raises(ValueError, match=r"choose one of \['conv', 'mlp', 'resnet19'\]"):
        make_backbone("vgg", (1, 8, 8), 10)


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_operation_counter_counts_without_changing_outputs(name):
    net = _small(name)
    x = _images(3)
    expected = net(x)
    with OperationCounter(net) as ops:
        out = net(x)
    assert torch.equal(out, expected)
    total = ops.summary()
    assert total.macs > 0 and total.neuron_updates > 0 and total.spikes > 0
    assert sorted(ops.by_timestep()) == [0, 1, 2, 3]


def test_backbone_neurons_by_name():
    from snnrl.continual.backbones import named_neuron
    from snnrl.continual.configs import NEURONS
    from snnrl.neurons import ATMNNeuron, LIFNeuron, ParametricLIFNeuron, ReLUUnit, SelfPredictionNeuron

    kinds = {"lif": LIFNeuron, "plif": ParametricLIFNeuron, "selfpred-lif": SelfPredictionNeuron, "atmn": ATMNNeuron,
             "relu": ReLUUnit}
    assert set(kinds) == set(NEURONS)
    x = torch.rand(3, 1, 8, 8) * 20                                       # strong enough to make the LIFs fire
    outputs = {}
    for name, kind in kinds.items():
        torch.manual_seed(0)
        net = make_backbone("mlp", (1, 8, 8), 10, timesteps=4, neuron=name)
        assert {type(m) for m in net.modules() if isinstance(m, kind)} == {kind}
        outputs[name] = net(x)
        assert outputs[name].shape == (4, 3, 10)
    assert not torch.equal(outputs["lif"], outputs["selfpred-lif"])      # the self-prediction current acts
    with pytest.raises(ValueError, match="Unknown neuron"):
        named_neuron("izhikevich")


def test_lif_decay_reaches_the_named_lif_neurons_and_the_run_config():
    from snnrl.continual.configs import LIF_BETA
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.neurons import LIFNeuron

    for name in ("lif", "selfpred-lif"):
        for beta in (LIF_BETA, 1.0):
            net = make_backbone("mlp", (1, 8, 8), 10, timesteps=4, neuron=name, beta=beta)
            betas = {m.beta for m in net.modules() if isinstance(m, LIFNeuron)}
            assert betas == {beta}, (name, betas)
    x = torch.rand(3, 1, 8, 8) * 20
    torch.manual_seed(0)
    leaky = make_backbone("mlp", (1, 8, 8), 10, timesteps=4, neuron="lif")(x)
    torch.manual_seed(0)
    integrating = make_backbone("mlp", (1, 8, 8), 10, timesteps=4, neuron="lif", beta=1.0)(x)
    assert not torch.equal(leaky, integrating)
    assert ContinualConfig(lif_beta=1.0).label != ContinualConfig().label     # runs of another decay never resume
    assert ContinualConfig(neuron="relu", lif_beta=1.0).label == ContinualConfig(neuron="relu").label
    with pytest.raises(ValueError, match="lif_beta"):
        ContinualConfig(lif_beta=1.5)


def test_relu_twin_of_the_mlp_is_the_plain_ann_at_every_timestep():
    from snnrl.neurons import ReLUUnit

    twin = make_backbone("mlp", (1, 8, 8), 10, timesteps=3, neuron="relu")
    assert any(isinstance(m, ReLUUnit) for m in twin.modules())
    assert not any(isinstance(m, LIFNeuron) for m in twin.modules())
    linears = [m for m in twin.modules() if isinstance(m, torch.nn.Linear)]
    ann = torch.nn.Sequential(torch.nn.Flatten(), linears[0], torch.nn.ReLU(), linears[1], torch.nn.ReLU(),
                              linears[2])
    x = torch.rand(5, 1, 8, 8)
    out = twin(x)
    assert out.shape == (3, 5, 10)
    for t in range(3):
        torch.testing.assert_close(out[t], ann(x))
