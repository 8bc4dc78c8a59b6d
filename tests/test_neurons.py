import math

import pytest
import torch

from snnrl.layers import InputError, SpikingSequential
from snnrl.neurons import (ATMNNeuron, IFNeuron, LIFNeuron, ParametricLIFNeuron, SelfPredictionNeuron, SpikingNeuron,
                           StateShapeError)
from snnrl.surrogate import FastSigmoid, Sigmoid


def test_if_neuron_hand_computed_spike_train_and_residual():
    # theta = 1, soft reset, V0 = 0; input 0.6, 0.6, 0.6, 1.5, -0.4, 0.9
    x = torch.tensor([0.625, 0.625, 0.625, 1.5, -0.375, 0.875]).view(6, 1, 1)
    neuron = IFNeuron(threshold=1.0)
    out = neuron(x).flatten().tolist()
    # V: .625 -> 1.25 (spike, .25) -> .875 -> 2.375 (spike, 1.375) -> 1.0 (spike, 0) -> .875
    assert out == [0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert neuron.get_state()["v"].item() == 0.875


def test_if_neuron_hard_reset_and_signed():
    x = torch.tensor([1.5, -0.5, -2.0, 0.25]).view(4, 1, 1)
    hard = IFNeuron(1.0, reset="zero")
    assert hard(x).flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert hard.get_state()["v"].item() == -2.25
    signed = IFNeuron(1.0, signed=True)
    # V: 1.5 (+1 -> .5), 0.0, -2.0 (-1 -> -1.0), -0.75
    assert signed(x).flatten().tolist() == [1.0, 0.0, -1.0, 0.0]
    assert signed.get_state()["v"].item() == -0.75


def test_if_per_neuron_threshold_and_initial_potential():
    neuron = IFNeuron(torch.tensor([1.0, 2.0]), v_init=torch.tensor([0.5, 1.0]))
    out = neuron(torch.full((2, 1, 2), 0.5))
    assert out[:, 0].tolist() == [[1.0, 0.0], [0.0, 1.0]]


def _snntorch_leaky(x, beta, threshold, reset):
    import snntorch as snn

    lif = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset)
    mem = lif.init_leaky()
    spikes, mems = [], []
    for t in range(x.shape[0]):
        s, mem = lif(x[t], mem)
        spikes.append(s)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_equals_snntorch_leaky(reset):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, 32, generator=gen) * 0.8 + 0.3
    ref_spk, ref_mem = _snntorch_leaky(x, beta=0.5, threshold=1.0, reset=reset)
    lif = LIFNeuron(beta=0.5, threshold=1.0, reset=reset)
    spk = lif(x)
    assert torch.equal(spk, ref_spk)
    assert torch.allclose(lif.get_state()["v"], ref_mem[-1], atol=1e-6)
    assert ref_spk.sum() > 100  # the comparison exercised the reset


def test_lif_gradient_equals_snntorch_leaky():
    import snntorch as snn

    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(8, 4, 16, generator=gen) + 0.5).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    LIFNeuron(beta=0.5)(x).sum().backward()
    lif = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="subtract")
    mem = lif.init_leaky()
    total = 0
    for t in range(x_ref.shape[0]):
        s, mem = lif(x_ref[t], mem)
        total = total + s.sum()
    total.backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-6)


def test_if_equals_spikingjelly_ifnode():
    from spikingjelly.activation_based import neuron as sj

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 8, 32, generator=gen)
    ref = sj.IFNode(v_threshold=1.0, v_reset=None, step_mode="m")
    ours = IFNeuron(1.0)
    assert torch.equal(ours(x), ref(x))
    assert torch.allclose(ours.get_state()["v"], ref.v, atol=1e-6)


def test_lif_equals_spikingjelly_lifnode():
    from spikingjelly.activation_based import neuron as sj

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 8, 32, generator=gen) + 0.4
    ref = sj.LIFNode(tau=2.0, decay_input=False, v_reset=None, step_mode="m")
    ours = LIFNeuron(beta=0.5, reset_delay=False)
    spk = ours(x)
    assert torch.equal(spk, ref(x))
    assert torch.allclose(ours.get_state()["v"], ref.v, atol=1e-6)


def test_plif_equals_spikingjelly_parametric_lif():
    from spikingjelly.activation_based import neuron as sj

    gen = torch.Generator().manual_seed(4)
    x = torch.randn(12, 4, 16, generator=gen) * 2 + 0.5
    ref = sj.ParametricLIFNode(init_tau=3.0, v_reset=None, step_mode="m")
    ours = ParametricLIFNeuron(init_tau=3.0)
    assert torch.equal(ours(x), ref(x))
    assert torch.allclose(ours.get_state()["v"], ref.v, atol=1e-6)
    assert torch.allclose(ours.w.detach(), ref.w.detach())


def test_single_step_mode_matches_multi_step():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(10, 3, 7, generator=gen)
    multi = LIFNeuron(beta=0.7)(x)
    single = LIFNeuron(beta=0.7, step_mode="s")
    assert torch.equal(torch.stack([single(x[t]) for t in range(10)]), multi)


def test_self_prediction_neuron_hand_computed():
    # a = sigmoid(0) = 0.5, theta = 1, IF inside
    neuron = SelfPredictionNeuron(IFNeuron(1.0))
    x = torch.tensor([0.5, 0.5, 0.5]).view(3, 1, 1)
    out = neuron(x).flatten().tolist()
    # t0: P=0, V=.5, s=0, M=.25 ; t1: V=.5+.75=1.25 s=1 V=.25, M=.125+.5*(.5-1)=-.125
    # t2: V=.25+.5-.125=.625 s=0, M=-.0625+.25=.1875
    assert out == [0.0, 1.0, 0.0]
    assert neuron.get_state()["m"].item() == pytest.approx(0.1875)
    assert neuron.neuron.get_state()["v"].item() == pytest.approx(0.625)


def test_self_prediction_gives_gradient_to_omega():
    neuron = SelfPredictionNeuron(LIFNeuron(beta=0.5))
    x = torch.rand(6, 2, 4) * 2
    neuron(x).sum().backward()
    assert neuron.omega.grad is not None and neuron.omega.grad != 0


def test_atmn_ternary_hand_computed():
    neuron = ATMNNeuron(tau=0.5, init_amplitude=1.0)  # residual doubles each step (binary expansion)
    x = torch.tensor([[1.25], [-0.75]])
    out = neuron(torch.stack([x, x, x]))
    # row 0: h=1.25 -> +1, u=.25; h=.5 -> 0, u=.5; h=1.0 -> +1, u=0
    # row 1: h=-.75 -> 0, u=-.75; h=-1.5 -> -1, u=-.5; h=-1.0 -> -1, u=0
    assert out[:, 0, 0].tolist() == [1.0, 0.0, 1.0]
    assert out[:, 1, 0].tolist() == [0.0, -1.0, -1.0]


def test_partial_reset_only_touches_masked_rows():
    neuron = IFNeuron(1.0, v_init=0.5)
    neuron(torch.full((3, 2, 2), 0.3))
    before = neuron.get_state()["v"].clone()
    neuron.reset_state(torch.tensor([True, False]))
    after = neuron.get_state()["v"]
    assert torch.equal(after[1], before[1])
    assert torch.equal(after[0], torch.full((2,), 0.5))


def test_errors_are_clear():
    net = SpikingSequential(torch.nn.Linear(4, 3), IFNeuron())
    with pytest.raises(InputError, match="no time dimension"):
        net(torch.ones(2, 4))
    with pytest.raises(InputError, match="T=0"):
        net(torch.ones(0, 2, 4))
    with pytest.raises(InputError, match="NaN"):
        net(torch.tensor([[[0.0, float("nan"), 0.0, 0.0]]]))
    neuron = IFNeuron()
    neuron(torch.ones(1, 2, 3))
    with pytest.raises(StateShapeError, match="reset_state"):
        neuron(torch.ones(1, 5, 3))
    with pytest.raises(StateShapeError, match="per-sample shape"):
        neuron.set_state({"v": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match="threshold must be > 0"):
        IFNeuron(0.0)
    with pytest.raises(ValueError, match="step_mode"):
        IFNeuron(step_mode="x")


def test_surrogates_are_selectable_per_neuron():
    x = torch.tensor([[[0.9]]], requires_grad=True)
    LIFNeuron(surrogate=Sigmoid(4.0))(x).sum().backward()
    sig = torch.sigmoid(torch.tensor(4.0 * -0.1))
    assert x.grad.item() == pytest.approx((4.0 * sig * (1 - sig)).item(), rel=1e-6)
    y = torch.tensor([[[0.9]]], requires_grad=True)
    LIFNeuron(surrogate=FastSigmoid(25.0))(y).sum().backward()
    assert y.grad.item() == pytest.approx(1 / (1 + 25 * 0.1) ** 2, rel=1e-5)
    assert math.isfinite(y.grad.item())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_if_inference_loop_is_bit_identical_to_the_per_timestep_loop(dtype):
    gen = torch.Generator().manual_seed(3)
    theta = torch.rand(7, generator=gen) + 0.2
    for threshold in (theta, 0.7):
        x = (torch.randn(9, 4, 7, generator=gen) * 0.8).to(dtype)
        start = (0.5 * torch.as_tensor(threshold) + torch.zeros(4, 7)).to(dtype)
        for inputs in (x, x[0].expand(9, 4, 7)):                     # also a constant (expanded) input current
            fast, slow = IFNeuron(threshold), IFNeuron(threshold)
            fast.set_state({"v": start}), slow.set_state({"v": start.clone()})
            with torch.no_grad():
                out_fast = fast(inputs)                                  # numpy inference loop
            out_slow = SpikingNeuron.multi_step(slow, inputs)            # generic loop of single steps
            assert out_fast.dtype == out_slow.dtype == dtype
            assert torch.equal(out_fast, out_slow) and torch.equal(fast.get_state()["v"], slow.get_state()["v"])
            assert torch.equal(start, (0.5 * torch.as_tensor(threshold) + torch.zeros(4, 7)).to(dtype))  # not mutated
    # autograd, potential traces, signed and hard-reset neurons keep the generic loop
    x = torch.randn(3, 2, 7, requires_grad=True)
    IFNeuron(theta)(x).sum().backward()
    assert x.grad is not None
    assert not IFNeuron(theta, signed=True)._fast_inference(x.detach())
    assert not IFNeuron(theta, reset="zero")._fast_inference(x.detach())


def test_multistep_runs_a_time_invariant_layer_once_on_input_repeated_over_time():
    from snnrl.encoding import repeat_over_time
    from snnrl.layers import MultiStep

    torch.manual_seed(0)
    calls: list[tuple[int, ...]] = []
    linear = torch.nn.Linear(6, 4)
    linear.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    x = torch.randn(3, 6, requires_grad=True)
    once = MultiStep(linear)(repeat_over_time(x, 5))
    assert calls == [(3, 6)] and once.shape == (5, 3, 4) and once.stride(0) == 0     # once, still repeated
    per_step = MultiStep(linear)(repeat_over_time(x, 5).contiguous())                # a real time axis: T*B rows
    assert calls[-1] == (15, 6)
    torch.testing.assert_close(once, per_step)
    g_once = torch.autograd.grad(once.pow(2).sum(), (x, linear.weight))
    g_step = torch.autograd.grad(per_step.pow(2).sum(), (x, linear.weight))
    for a, b in zip(g_once, g_step):                                                 # gradients summed over T
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layer", [torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(6)])
def test_multistep_keeps_per_step_calls_for_layers_that_are_not_row_wise_deterministic(layer):
    from snnrl.encoding import repeat_over_time
    from snnrl.layers import MultiStep

    calls: list[tuple[int, ...]] = []
    layer.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    MultiStep(layer.train())(repeat_over_time(torch.randn(3, 6), 4))    # a dropout mask per step; batch statistics
    assert calls == [(12, 6)]


def test_relu_twin_on_static_input_does_one_forward_pass_equal_to_t_passes():
    from snnrl.continual.backbones import make_backbone
    from snnrl.neurons import ReLUUnit

    torch.manual_seed(0)
    twin = make_backbone("mlp", (1, 8, 8), 10, timesteps=4, neuron="relu")
    steps: list[int] = []
    for m in twin.modules():
        if isinstance(m, ReLUUnit):
            m.register_forward_hook(lambda mod, i, o: steps.append(i[0].shape[0]))
    x = torch.rand(5, 1, 8, 8)
    out = twin(x)
    reference = twin(x.unsqueeze(0).repeat(4, 1, 1, 1, 1))      # a [T, B, ...] input: every step computed
    torch.testing.assert_close(out, reference)
    assert out.stride(0) == 0 and steps[:2] == [4, 4]           # the ReLUs saw the repeated (stride-0) input


# -- the fused multi-step LIF (snnrl.fused_lif) ----------------------------------------------------------------
def _fused_pair(kind: str, dtype: torch.dtype):
    """The same neuron twice: the first fused, the second stepping (``fused = False``)."""
    import copy

    theta = torch.rand(5) + 0.5
    neuron = {"if": lambda: IFNeuron(theta),
              "lif-delay": lambda: LIFNeuron(beta=0.5, threshold=theta),
              "lif-now": lambda: LIFNeuron(beta=0.5, threshold=theta, reset_delay=False),
              "lif-now-reset-grad": lambda: LIFNeuron(beta=0.5, threshold=theta, reset_delay=False,
                                                      detach_reset=False),
              "selfpred-lif": lambda: SelfPredictionNeuron(LIFNeuron(beta=0.5, threshold=theta), omega_init=0.3),
              "selfpred-lif-now": lambda: SelfPredictionNeuron(LIFNeuron(beta=0.5, threshold=theta,
                                                                         reset_delay=False), omega_init=0.3),
              }[kind]()
    stepping = copy.deepcopy(neuron)
    getattr(stepping, "neuron", stepping).fused = False
    return neuron.to(dtype), stepping.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["if", "lif-delay", "lif-now", "lif-now-reset-grad", "selfpred-lif",
                                  "selfpred-lif-now"])
def test_fused_lif_equals_stepping_forward_bitwise_and_gradients(dtype, kind):
    torch.manual_seed(0)
    fused, stepping = _fused_pair(kind, dtype)
    selfpred = kind.startswith("selfpred")
    x = torch.randn(6, 3, 5, dtype=dtype) * 1.5
    weights = torch.randn(2, 6, 3, 5, dtype=dtype)
    grads, outs = [], []
    for neuron in (fused, stepping):
        xi = x.clone().requires_grad_()
        first, second = neuron(xi), neuron(0.7 * xi)          # the second call continues from the first's state
        ((first * weights[0]).sum() + (second * weights[1]).sum()).backward()
        outs.append((first, second, neuron.get_state(), getattr(neuron, "neuron", neuron).get_state()))
        grads.append([xi.grad] + ([neuron.omega.grad] if selfpred else []))
    assert "FusedLIF" in type(outs[0][0].grad_fn).__name__
    assert "FusedLIF" not in type(outs[1][0].grad_fn).__name__
    assert outs[0][0].sum() > 0
    for a, b in zip(outs[0][:2], outs[1][:2]):
        assert torch.equal(a, b)
    for state_a, state_b in zip(outs[0][2:], outs[1][2:]):
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_b)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for ga, gb in zip(*grads):
        assert torch.allclose(ga, gb, atol=tol, rtol=0), (ga - gb).abs().max()


def test_fused_lif_gradcheck_through_x_states_and_rate():
    """With a zero surrogate the fused backward is the exact derivative (spikes and resets are piecewise
    constant), so finite differences check the potential, memory and rate paths."""
    from dataclasses import dataclass

    from snnrl.fused_lif import fused_lif
    from snnrl.surrogate import Surrogate

    @dataclass(frozen=True)
    class Flat(Surrogate):
        def derivative(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(x)

    torch.manual_seed(1)
    x = (torch.randn(4, 2, 3, dtype=torch.float64) * 2).requires_grad_()
    v0 = (torch.randn(2, 3, dtype=torch.float64) * 0.3).requires_grad_()
    m0 = (torch.randn(2, 3, dtype=torch.float64) * 0.3).requires_grad_()
    a = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    theta = torch.full((3,), 0.9, dtype=torch.float64)

    def smooth(x, v0, m0, a):                  # spikes are piecewise constant: check the memory and potential paths
        _, v, m = fused_lif(x, v0, theta, beta=0.6, reset_delay=True, surrogate=Flat(), m0=m0, a=a)
        return v, m

    assert torch.autograd.gradcheck(smooth, (x, v0, m0, a))


def test_fused_lif_is_skipped_where_it_does_not_apply():
    from snnrl.neurons import record_potentials

    plif = ParametricLIFNeuron()
    out = plif(torch.rand(3, 2, 4, requires_grad=True))
    assert "FusedLIF" not in type(out.grad_fn).__name__            # a learnable β steps
    lif = LIFNeuron(decay_input=True)
    assert not lif.fusable()
    signed = IFNeuron(signed=True)
    out = signed(torch.rand(3, 2, 4, requires_grad=True))
    assert "FusedLIF" not in type(out.grad_fn).__name__
    learnt = LIFNeuron()                                          # the fused backward gives θ no gradient
    learnt.threshold.requires_grad_(True)
    learnt(torch.rand(3, 2, 4)).sum().backward()
    assert learnt.threshold.grad is not None
    traced = LIFNeuron()
    with record_potentials(traced) as trace:                      # a potential trace needs every step
        traced(torch.rand(3, 2, 4))
    assert len(trace[""]) == 3


def test_fused_lif_rejects_bad_arguments():
    from snnrl.fused_lif import fused_lif
    from snnrl.surrogate import ATan

    x = torch.rand(2, 1, 3)
    with pytest.raises(ValueError, match="both m0 and a"):
        fused_lif(x, torch.zeros(1, 3), torch.tensor(1.0), beta=0.5, reset_delay=True, surrogate=ATan(),
                  m0=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="float32/float64"):
        fused_lif(x.half(), torch.zeros(1, 3), torch.tensor(1.0), beta=0.5, reset_delay=True, surrogate=ATan())
