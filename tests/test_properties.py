"""Property-based tests (hypothesis) of the neurons, ANN-to-SNN conversion and Soft-DTW on random shapes and values.

Each property is one that a bug would break: charge conservation and bounded potentials of the soft-reset IF
neuron, single-step = multi-step execution (bit for bit), the rate-coding error bound of a converted one-hidden-layer
network, the conversion error shrinking with ``T``, batched = one-by-one decisions, Soft-DTW against a plain
double-loop reference, ``D(x, x) = 0 <= D(x, y)``, ``soft-DTW <= DTW`` and ``gradcheck``.

The examples are derandomised (the same ones every run, so CI is reproducible); ``EXAMPLES`` sets how many per test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from snnrl.agents.actor import ActorInfo, TeacherActor
from snnrl.agents.conversion import convert_actor, thresholds_from_activations
from snnrl.continual.soft_dtw import soft_dtw, soft_dtw_divergence
from snnrl.neurons import IFNeuron, LIFNeuron

EXAMPLES = 40
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies ----------------------------------------------------------------------------------------------------

sample_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple)   # per-sample feature shape
thresholds = st.floats(0.05, 4.0, allow_nan=False, allow_infinity=False)


@st.composite
def spike_inputs(draw, *, low: float = -3.0, high: float = 3.0, dtype=np.float64):
    """``(x [T, B, *sample], theta)`` with theta a scalar or one value per last feature."""
    t, b, sample = draw(st.integers(1, 12)), draw(st.integers(1, 4)), draw(sample_shapes)
    x = draw(hnp.arrays(dtype, (t, b, *sample), elements=st.floats(low, high, width=np.dtype(dtype).itemsize * 8)))
    if sample and draw(st.booleans()):
        theta = torch.tensor(draw(st.lists(thresholds, min_size=sample[-1], max_size=sample[-1])))
    else:
        theta = torch.tensor(draw(thresholds))
    return torch.from_numpy(x), theta


def _states(neuron) -> torch.Tensor:
    return neuron.get_state()["v"]


# -- neurons -------------------------------------------------------------------------------------------------------

@PROPERTY
@given(data=spike_inputs(), signed=st.booleans(), start=st.floats(0.0, 0.999))
def test_soft_reset_if_conserves_charge(data, signed, start):
    """Soft reset: ``sum_t x_t = theta * sum_t s_t + V_T - V_0``, and spikes are in {0, 1} (signed: {-1, 0, 1})."""
    x, theta = data
    neuron = IFNeuron(theta, signed=signed, v_init=start * theta)
    spikes = neuron(x)
    allowed = {-1.0, 0.0, 1.0} if signed else {0.0, 1.0}
    assert set(spikes.unique().tolist()) <= allowed
    theta64 = neuron.threshold.double()
    v0 = neuron.v_init.double().expand_as(x[0])
    lhs = x.sum(0)
    rhs = theta64 * spikes.sum(0) + _states(neuron) - v0
    scale = float(x.abs().sum(0).max()) + float(theta64.max()) * (x.shape[0] + 1)
    assert torch.allclose(lhs, rhs, rtol=0, atol=1e-12 * scale)


@PROPERTY
@given(t=st.integers(1, 30), b=st.integers(1, 4), sample=sample_shapes, theta=thresholds, signed=st.booleans(),
       start=st.floats(0.0, 0.999), seed=st.integers(0, 2**31 - 1))
def test_soft_reset_if_potential_stays_within_one_threshold(t, b, sample, theta, signed, start, seed):
    """Inputs in [0, theta] (signed: [-theta, theta]) keep the post-reset potential in [0, theta] ([-theta, theta])."""
    neuron = IFNeuron(theta, signed=signed, v_init=(start if not signed else 2 * start - 1) * theta, step_mode="s")
    theta32 = float(neuron.threshold)
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(t, b, *sample, generator=gen, dtype=torch.float64)
    x = (2 * u - 1 if signed else u) * theta32
    low = -theta32 if signed else 0.0
    for step in range(t):
        neuron(x[step])
        v = _states(neuron)
        assert bool(((v >= low) & (v <= theta32)).all()), (step, v)


NEURONS = {
    "if-soft": lambda th, mode: IFNeuron(th, step_mode=mode),
    "if-hard": lambda th, mode: IFNeuron(th, reset="zero", v_reset=0.1, step_mode=mode),
    "if-signed": lambda th, mode: IFNeuron(th, signed=True, v_init=0.5 * th, step_mode=mode),
    "lif-delayed": lambda th, mode: LIFNeuron(0.8, th, step_mode=mode),
    "lif-immediate-zero": lambda th, mode: LIFNeuron(0.6, th, reset="zero", reset_delay=False, step_mode=mode),
    "lif-decay-input": lambda th, mode: LIFNeuron(0.9, th, decay_input=True, reset_delay=False, step_mode=mode),
}


@pytest.mark.parametrize("kind", list(NEURONS))
@settings(PROPERTY, max_examples=EXAMPLES // 2)
@given(data=spike_inputs(dtype=np.float32), split=st.integers(0, 12))
def test_single_step_loop_equals_multi_step(kind, data, split):
    """``step_mode="m"`` on ``[T, B, ...]`` = a loop of ``step_mode="s"`` calls = two multi-step halves, bit for bit."""
    x, theta = data
    multi, single, halves = NEURONS[kind](theta, "m"), NEURONS[kind](theta, "s"), NEURONS[kind](theta, "m")
    out_multi = multi(x)
    out_single = torch.stack([single(x[t]) for t in range(x.shape[0])])
    cut = min(split, x.shape[0] - 1) + 1
    parts = [halves(x[:cut])] + ([halves(x[cut:])] if cut < x.shape[0] else [])
    assert torch.equal(out_multi, out_single) and torch.equal(out_multi, torch.cat(parts))
    assert torch.equal(_states(multi), _states(single)) and torch.equal(_states(multi), _states(halves))


@PROPERTY
@given(data=spike_inputs(dtype=np.float32))
def test_lif_without_leak_is_the_if_neuron(data):
    """``LIF(beta=1, immediate subtract reset)`` and the soft-reset IF neuron are the same neuron, bit for bit."""
    x, theta = data
    lif, integrate = LIFNeuron(1.0, theta, reset_delay=False), IFNeuron(theta)
    assert torch.equal(lif(x), integrate(x)) and torch.equal(_states(lif), _states(integrate))


@PROPERTY
@given(data=spike_inputs(), rows=st.lists(st.booleans(), min_size=4, max_size=4))
def test_partial_reset_touches_only_the_chosen_rows(data, rows):
    """``reset_state(mask)`` restores ``v_init`` in the masked rows and leaves the others as they were."""
    x, theta = data
    neuron = IFNeuron(theta, v_init=0.25 * theta)
    neuron(x)
    before = _states(neuron).clone()
    mask = torch.tensor(rows[: x.shape[1]])
    neuron.reset_state(mask)
    after = _states(neuron)
    fresh = torch.zeros_like(before) + neuron.v_init.to(before)
    assert torch.equal(after[mask], fresh[mask]) and torch.equal(after[~mask], before[~mask])


# -- conversion ----------------------------------------------------------------------------------------------------

@st.composite
def relu_actors(draw, *, max_hidden: int = 3):
    """A random ReLU MLP actor (1..max_hidden hidden layers) and observations, calibrated on those observations."""
    obs_dim, act_dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    widths = [obs_dim] + draw(st.lists(st.integers(1, 12), min_size=1, max_size=max_hidden))
    seed = draw(st.integers(0, 2**31 - 1))
    with torch.random.fork_rng():  # PyTorch's default initialisation, without touching the global generator
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        actor = TeacherActor(nn.Sequential(*layers), nn.Linear(widths[-1], act_dim), action_low=-np.ones(act_dim),
                             action_high=np.ones(act_dim), info=ActorInfo(algo="TD3", env_id="none"))
    scale = draw(st.floats(0.1, 5.0))
    obs = (torch.rand(draw(st.integers(1, 16)), obs_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1) * scale
    with torch.no_grad():
        snn = convert_actor(actor, thresholds_from_activations(actor.hidden_activations(obs)))
    return actor, snn, obs


def _pre_actions(snn, obs: torch.Tensor, timesteps: int) -> torch.Tensor:
    start = [n.v_init.expand(obs.shape[0], -1) for n in snn.neurons]
    return snn.decide(obs, start, timesteps).pre_action


@PROPERTY
@given(case=relu_actors(max_hidden=1), timesteps=st.sampled_from([1, 3, 8, 64, 512]))
@torch.no_grad()
def test_one_hidden_layer_meets_the_rate_coding_bound(case, timesteps):
    """One hidden layer, thresholds = calibrated maxima: ``|SNN - ANN| <= sum_j |W_ij| theta_j / (2T)``.

    (The first layer's current ``a_j <= theta_j`` is constant; from ``V_0 = theta/2`` the potential stays in
    ``[0, theta]``, so ``|theta N / T - relu(a)| <= theta / (2T)``; float32 adds ``~2 eps theta`` per neuron.)
    """
    actor, snn, obs = case
    error = (_pre_actions(snn, obs, timesteps) - actor.head(actor.hidden(obs))).abs()
    weighted = (actor.head.weight.abs() * snn.thresholds[0]).sum(1)
    bound = weighted / (2 * timesteps)
    assert bool((error <= bound + 1e-5 + 2e-6 * weighted).all()), (error, bound)


@PROPERTY
@given(case=relu_actors())
@torch.no_grad()
def test_conversion_error_shrinks_as_t_grows(case):
    """Mean |SNN - ANN| of the pre-action does not grow over T = 8, 64, 512, and is small at T = 512."""
    actor, snn, obs = case
    target = actor.head(actor.hidden(obs))
    errors = [float((_pre_actions(snn, obs, t) - target).abs().mean()) for t in (8, 64, 512)]
    assert errors[1] <= errors[0] + 1e-5 and errors[2] <= errors[1] + 1e-5, errors
    assert errors[2] <= 0.02 * (1 + float(target.abs().mean())), errors


@PROPERTY
@given(case=relu_actors(), far=st.floats(1.0, 1e4), timesteps=st.integers(1, 32))
@torch.no_grad()
def test_actions_are_finite_and_in_bounds_even_far_outside_calibration(case, far, timesteps):
    """Observations far outside the calibration range saturate the neurons but never give NaN or out-of-range actions."""
    _, snn, obs = case
    actions = snn(torch.cat([obs, obs * far, -obs * far]), timesteps=timesteps)
    assert bool(torch.isfinite(actions).all()) and bool(((actions >= -1) & (actions <= 1)).all())


@PROPERTY
@given(case=relu_actors(), timesteps=st.integers(1, 64))
@torch.no_grad()
def test_a_batch_decides_like_its_rows_one_by_one(case, timesteps):
    """Row i of a batched decision = the decision on observation i alone (same spikes; actions to float rounding).

    Bitwise equality of the actions does not hold: the batched and single-row matrix products may round the
    input current differently in the last bit.
    """
    _, snn, obs = case
    start = [n.v_init.expand(obs.shape[0], -1) for n in snn.neurons]
    batched = snn.decide(obs, start, timesteps)
    for i in range(obs.shape[0]):
        single = snn.decide(obs[i:i + 1], [s[i:i + 1] for s in start], timesteps)
        assert all(torch.equal(a[i:i + 1], b) for a, b in zip(batched.spike_counts, single.spike_counts))
        assert torch.allclose(batched.pre_action[i:i + 1], single.pre_action, rtol=1e-5, atol=1e-5)


# -- Soft-DTW ------------------------------------------------------------------------------------------------------

@st.composite
def sequence_pairs(draw, *, max_len: int = 6, max_dim: int = 3, max_batch: int = 3, scale: float = 3.0):
    """``(x [B, N, D], y [B, M, D])`` in float64."""
    b, n, m, d = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_len)), draw(st.integers(1, max_len)),
                  draw(st.integers(1, max_dim)))
    elements = st.floats(-scale, scale, allow_nan=False, allow_infinity=False)
    x = torch.from_numpy(draw(hnp.arrays(np.float64, (b, n, d), elements=elements)))
    y = torch.from_numpy(draw(hnp.arrays(np.float64, (b, m, d), elements=elements)))
    return x, y


gammas = st.floats(0.05, 10.0)


def _reference(x: torch.Tensor, y: torch.Tensor, gamma: float | None) -> float:
    """The recursion as a plain double loop for one pair; ``gamma=None`` is hard DTW."""
    n, m = x.shape[0], y.shape[0]
    r = [[math.inf] * (m + 1) for _ in range(n + 1)]
    r[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = (r[i - 1][j - 1], r[i - 1][j], r[i][j - 1])
            low = min(prev)
            if gamma is None:
                soft = low
            else:
                soft = low - gamma * math.log(sum(math.exp(-(p - low) / gamma) for p in prev if p < math.inf))
            r[i][j] = 0.5 * float(((x[i - 1] - y[j - 1]) ** 2).sum()) + soft
    return r[n][m]


@PROPERTY
@given(pair=sequence_pairs(), gamma=gammas)
def test_soft_dtw_equals_the_double_loop_and_stays_below_dtw(pair, gamma):
    """Value = the naive O(NM) recursion; soft-min <= min, so soft-DTW <= hard DTW."""
    x, y = pair
    values = soft_dtw(x, y, gamma=gamma)
    for b in range(x.shape[0]):
        expected = _reference(x[b], y[b], gamma)
        assert values[b].item() == pytest.approx(expected, rel=1e-10, abs=1e-10)
        assert values[b].item() <= _reference(x[b], y[b], None) + 1e-10


@PROPERTY
@given(pair=sequence_pairs(), gamma=gammas, normalize=st.booleans())
def test_divergence_is_zero_on_itself_nonnegative_and_symmetric(pair, gamma, normalize):
    """``D(x, x) = 0`` exactly, ``D(x, y) >= 0`` and ``D(x, y) = D(y, x)``."""
    x, y = pair
    assert torch.equal(soft_dtw_divergence(x, x, gamma=gamma, normalize=normalize), torch.zeros(x.shape[0],
                                                                                                dtype=x.dtype))
    d_xy = soft_dtw_divergence(x, y, gamma=gamma, normalize=normalize)
    d_yx = soft_dtw_divergence(y, x, gamma=gamma, normalize=normalize)
    tolerance = 1e-9 * (1 + float(soft_dtw(x, y, gamma=gamma).abs().max()))
    assert bool((d_xy >= -tolerance).all()), d_xy
    assert torch.allclose(d_xy, d_yx, rtol=1e-9, atol=tolerance)


@PROPERTY
@given(pair=sequence_pairs(max_len=4, max_dim=2, max_batch=2, scale=2.0), gamma=st.floats(0.1, 5.0))
def test_soft_dtw_gradient_is_finite_and_passes_gradcheck(pair, gamma):
    """The analytic backward matches finite differences (float64) and is finite, also for the divergence."""
    x, y = (t.clone().requires_grad_(True) for t in pair)
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw(a, b, gamma=gamma), (x, y), eps=1e-6, atol=1e-5)
    loss = soft_dtw_divergence(x, y, gamma=gamma).sum()
    gx, gy = torch.autograd.grad(loss, (x, y))
    assert bool(torch.isfinite(gx).all() and torch.isfinite(gy).all())
