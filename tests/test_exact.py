"""Exact mode (NEXUS-style): IF gates, adders, float32 mul/add, tanh, sequential linear, the exact policy."""

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from snnrl.agents.actor import ActorInfo, TeacherActor
from snnrl.agents.conversion import ConversionError
from snnrl.agents.evaluation import run_episodes
from snnrl.agents.policy import AnnPolicy, ObservationError
from snnrl.agents.zoo import load_teacher
from snnrl.envs.closed_loop import ClosedLoop
from snnrl.exact import blocks, gates
from snnrl.exact.bits import decode, encode
from snnrl.exact.floats import (CANONICAL_NAN_BITS, FLOAT_OP_NEURONS, exact_add, exact_mul, float_add_planes,
                                float_mul_planes, relu_planes)
from snnrl.exact.gates import AND, NOT, OR, GateMeter, ThresholdGate, at_least, lane_mask, literal_and, literal_or
from snnrl.exact.policy import ExactSpikingPolicy, SequentialAnnPolicy, convert_exact
from snnrl.exact.reference import reference_actor_forward, sequential_linear, ulp_distance
from snnrl.exact.tanh import (TANH_TABLE, TANH_ULP_BOUND, fit_tanh_table, tanh_planes, tanh_reference,
                              tanh_ulp_error, tanh_via_gates)
from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.opcount import OpsSummary

SINGLE_GATES = [gates.AND, gates.OR, gates.NOT, gates.INHIBIT, gates.MAJ, gates.MAJ_INV, gates.XOR_OUT,
                gates.SUM_OUT, gates.SUM_INV, gates.MUX_OUT, gates.OR_AND, gates.ROUND, gates.AND_NAND,
                literal_and((False, True, True)), literal_or((True, False, False, True)), at_least(5, 3),
                at_least(115, 8), at_least(131, 8)]


# -- helpers -------------------------------------------------------------------------------------------
def _lanes(bits: list[int]) -> np.ndarray:
    """One row of lanes holding ``bits`` -> [1, W] uint64 plane."""
    padded = np.zeros(-(-len(bits) // 64) * 64, dtype=np.uint8)
    padded[:len(bits)] = bits
    return np.packbits(padded, bitorder="little").view(np.uint64)[None]


def _bits(plane: np.ndarray, n: int) -> list[int]:
    return np.unpackbits(np.ascontiguousarray(plane[0]).view(np.uint8), bitorder="little")[:n].tolist()


def _int_planes(values: np.ndarray, width: int) -> np.ndarray:
    """Unsigned ints (one per lane) -> [width, 1, W] planes."""
    return np.stack([_lanes([(int(v) >> i) & 1 for v in values]) for i in range(width)])


def _plane_ints(planes: np.ndarray, n: int) -> np.ndarray:
    return sum(np.array(_bits(planes[i], n), dtype=np.int64) << i for i in range(planes.shape[0]))


def _same_bits(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Elementwise: identical bits, or both NaN (the documented NaN rule)."""
    both_nan = torch.isnan(got) & torch.isnan(want)
    return (got.view(torch.int32) == want.view(torch.int32)) | both_nan


def _float_cases(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of float32 operands: random bit patterns, specials (every pair), near-equal magnitudes with sparse
    mantissas (ties, cancellation), tiny (subnormal results) and huge (overflow) exponents."""
    g = torch.Generator().manual_seed(seed)

    def ints(lo, hi):
        return torch.randint(lo, hi, (n,), generator=g, dtype=torch.int64)

    def floats(sign, exponent, mantissa):
        return ((sign << 31) | (exponent.clamp(0, 255) << 23) | mantissa).to(torch.int32).view(torch.float32)

    specials = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e-45, -1e-45, 1.1754942e-38,
                             1.1754944e-38, 3.4028235e38, -3.4028235e38, 1.0, -1.0, 0.5, 3.0, 2.0 ** -126])
    e = ints(0, 256)
    x = torch.cat([ints(-2 ** 31, 2 ** 31).to(torch.int32).view(torch.float32),
                   specials.repeat_interleave(len(specials)),
                   floats(ints(0, 2), e, ints(0, 2 ** 23) & 0x7FF800),
                   floats(ints(0, 2), ints(0, 40), ints(0, 2 ** 23)),
                   floats(ints(0, 2), ints(200, 255), ints(0, 2 ** 23))])
    y = torch.cat([ints(-2 ** 31, 2 ** 31).to(torch.int32).view(torch.float32),
                   specials.repeat(len(specials)),
                   floats(ints(0, 2), e + ints(-2, 3), ints(0, 2 ** 23) & 0x7FC000),
                   floats(ints(0, 2), ints(60, 140), ints(0, 2 ** 23)),
                   floats(ints(0, 2), ints(120, 255), ints(0, 2 ** 23))])
    near = x[:n] * -1.0 + 0.0                                          # cancellation: y = -x ± a few ULPs
    y_near = (near.view(torch.int32).to(torch.int64) + ints(-3, 4)).to(torch.int32).view(torch.float32)
    return torch.cat([x, x[:n]]), torch.cat([y, y_near])


def _small_actor(obs_dim: int = 4, hidden=(16, 8), action_dim: int = 1, seed: int = 0,
                 activation=nn.ReLU, low=-3.0, high=3.0) -> TeacherActor:
    torch.manual_seed(seed)
    layers, width = [], obs_dim
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        width = h
    return TeacherActor(nn.Sequential(*layers), nn.Linear(width, action_dim),
                        action_low=np.full(action_dim, low, np.float32),
                        action_high=np.full(action_dim, high, np.float32),
                        info=ActorInfo(algo="TD3", env_id="InvertedPendulum-v5")).eval()


@pytest.fixture(scope="module")
def pendulum():
    actor, entry = load_teacher("td3-invertedpendulum")
    return actor, entry, convert_exact(actor)


# -- gates -------------------------------------------------------------------------------------------------
def test_nexus_primitives_truth_tables():
    assert [AND.fires(c) for c in itertools.product((0, 1), repeat=2)] == [False, False, False, True]
    assert [OR.fires(c) for c in itertools.product((0, 1), repeat=2)] == [False, True, True, True]
    assert [NOT.fires((x,)) for x in (0, 1)] == [True, False]
    assert (AND.threshold, OR.threshold, NOT.bias, NOT.weights) == (1.5, 0.5, 1.5, (-1.0,))


@pytest.mark.parametrize("gate", SINGLE_GATES, ids=lambda g: g.name)
def test_gate_is_an_if_neuron_on_every_input(gate):
    combos = list(itertools.product((0, 1), repeat=gate.fan_in))
    inputs = torch.tensor(combos, dtype=torch.float32)
    if_spikes = gate.fire_if(inputs).tolist()                            # snnrl.neurons.IFNeuron, one step
    definition = [float(gate.fires(c)) for c in combos]
    planes = [_lanes([c[j] for c in combos]) for j in range(gate.fan_in)]
    vectorised = [float(b) for b in _bits(gate(*planes), len(combos))]   # bit-plane evaluation
    assert if_spikes == definition == vectorised


def test_threshold_gate_checks_itself():
    with pytest.raises(AssertionError, match="kernel"):
        ThresholdGate("bad-AND", (1.0, 1.0), 0.0, 1.5, lambda a, b: a | b)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        ThresholdGate("zero", (1.0,), 0.0, 0.0, lambda a: a)


def test_wide_gates_match_definition():
    rng = np.random.default_rng(0)
    for n in (8, 23, 31, 48):
        combos = rng.integers(0, 2, size=(200, n))
        combos[0], combos[1] = 0, 1
        planes = np.stack([_lanes(combos[:, j].tolist()) for j in range(n)])
        meter = GateMeter(lane_mask(1, 200))
        got_or = _bits(meter.fire_wide(literal_or((False,) * n), planes), 200)
        got_nor = _bits(meter.fire_wide(literal_and((True,) * n), planes), 200)
        assert got_or == [int(c.any()) for c in combos]
        assert got_nor == [int(not c.any()) for c in combos]
        assert meter.neuron_updates_per_lane == 2 and meter.accumulates.item() == 2 * combos.sum()


@pytest.mark.parametrize("name,arity,neurons", [("xor", 2, 2), ("mux", 3, 2), ("half_adder", 2, 2),
                                                  ("full_adder", 3, 2)])
def test_composite_gates_exhaustive(name, arity, neurons):
    combos = list(itertools.product((0, 1), repeat=arity))
    planes = [_lanes([c[j] for c in combos]) for j in range(arity)]
    meter = GateMeter(lane_mask(1, len(combos)))
    out = getattr(gates, name)(meter, *planes)
    outs = out if isinstance(out, tuple) else (out,)
    got = list(zip(*[_bits(o, len(combos)) for o in outs]))
    if name == "xor":
        want = [(a ^ b,) for a, b in combos]
    elif name == "mux":
        want = [(b if s else a,) for s, a, b in combos]
    elif name == "half_adder":
        want = [((a + b) & 1, (a + b) >> 1) for a, b in combos]
    else:
        want = [((a + b + c) & 1, (a + b + c) >> 1) for a, b, c in combos]
    assert got == want
    assert gates.COMPOSITE_NEURONS[name] == neurons == meter.neuron_updates_per_lane
    # counts by hand: the first neuron reads the shared inputs; the second reads them and the first's output
    first = {"xor": lambda a, b: a & b, "mux": lambda s, a, b: s & b, "half_adder": lambda a, b: a & b,
             "full_adder": lambda a, b, c: int(a + b + c >= 2)}[name]
    h = [first(*c) for c in combos]
    reads = {"xor": lambda c: 2 * sum(c), "mux": lambda c: 2 * c[0] + c[1] + c[2],
             "half_adder": lambda c: 2 * sum(c), "full_adder": lambda c: 2 * sum(c)}[name]
    final = [o[-1] if name in ("xor", "mux") else o[0] for o in got]
    assert meter.spikes.item() == sum(h) + sum(final)
    assert meter.accumulates.item() == sum(reads(c) for c in combos) + sum(h)


def test_fast_counting_equals_neuron_by_neuron_counting(monkeypatch):
    """Composite gates and carry chains count each signal once; per-neuron counting must give the same totals."""
    g = torch.Generator().manual_seed(4)
    x, y = encode(torch.randn(2, 70, generator=g) * 10), encode(torch.randn(2, 70, generator=g))
    x[23:31, 0, 0] = 0                                                   # some zeros / subnormals
    cases = [lambda m: float_mul_planes(m, x, y), lambda m: float_add_planes(m, x, y),
             lambda m: blocks.increment(m, x[:9], y[0]), lambda m: blocks.compare_ge(m, x[:31], y[:31])]

    def counts():
        out = []
        for case in cases:
            meter = GateMeter(lane_mask(2, 70))
            case(meter)
            out.append((meter.neuron_updates_per_lane, meter.accumulates.tolist(), meter.spikes.tolist()))
        return out

    fast = counts()

    def naive_pair(meter, first, second, first_args, second_args, **_):
        h = meter.fire(first, *first_args)
        return h, meter.fire(second, *second_args(h))

    def naive_chain(meter, carries, sums, operands):
        meter.record(carries[1:], (*operands, carries[:-1]))
        if sums is not None:
            meter.record(sums, (*operands, carries[:-1], carries[1:]))

    monkeypatch.setattr(gates, "_pair", naive_pair)
    monkeypatch.setattr(blocks, "_tally_chain", naive_chain)
    assert counts() == fast


def test_meter_ignores_padded_lanes_and_splits_rows():
    meter = GateMeter(lane_mask(2, 70))                                   # 2 rows x 70 lanes (2 words, 58 padded)
    ones = np.full((3, 2, 2), np.uint64(0xFFFF_FFFF_FFFF_FFFF))
    meter.record(ones, [ones[0]])                                          # 3 neurons per lane reading one signal
    assert meter.spikes.tolist() == [210, 210]
    assert meter.accumulates.tolist() == [210, 210]
    assert meter.neuron_updates.tolist() == [210, 210]
    assert meter.counts(1).tolist() == [[0, 420, 420, 420]]


# -- multi-bit blocks ------------------------------------------------------------------------------------------
def test_ripple_adders_and_comparator_exhaustive_4bit():
    a, b, c = (np.array(v) for v in zip(*itertools.product(range(16), range(16), range(2))))
    n = a.size
    pa, pb, pc = _int_planes(a, 4), _int_planes(b, 4), _int_planes(c, 1)[0]
    meter = GateMeter(lane_mask(1, n))
    total, carry = blocks.ripple_add(meter, pa, pb, pc)
    assert np.array_equal(_plane_ints(total, n) + (np.array(_bits(carry, n)) << 4), a + b + c)
    diff, no_borrow = blocks.ripple_add(meter, pa, pb, pc, invert_b=True)      # a + ~b + c
    assert np.array_equal(_plane_ints(diff, n), (a + (15 - b) + c) & 15)
    assert np.array_equal(np.array(_bits(no_borrow, n)), (a + (15 - b) + c) >> 4)
    ge = blocks.compare_ge(meter, pa, pb)
    assert np.array_equal(np.array(_bits(ge, n)), (a >= b).astype(int))
    inc, inc_carry = blocks.increment(meter, pa, pc)
    assert np.array_equal(_plane_ints(inc, n) + (np.array(_bits(inc_carry, n)) << 4), a + c)
    assert meter.neuron_updates_per_lane == 2 * 4 + 2 * 4 + 4 + 2 * 4


def test_shifters_exhaustive_8bit():
    values, amounts = (np.array(v) for v in zip(*itertools.product(range(256), range(8))))
    n = values.size
    meter = GateMeter(lane_mask(1, n))
    norm, lz = blocks.normalise_left(meter, _int_planes(values, 8), (4, 2, 1))
    expected_lz = np.array([8 - int(v).bit_length() if v else 7 for v in values])
    assert np.array_equal(_plane_ints(lz, n), expected_lz)
    assert np.array_equal(_plane_ints(norm, n), (values << expected_lz) & 255)
    shifted, sticky = blocks.shift_right_sticky(meter, _int_planes(values, 8), _int_planes(amounts, 3))
    assert np.array_equal(_plane_ints(shifted, n), values >> amounts)
    assert np.array_equal(np.array(_bits(sticky, n)), ((values & ((1 << amounts) - 1)) != 0).astype(int))


# -- bit encoding and float arithmetic -----------------------------------------------------------------------
def test_spatial_bit_encoding_round_trips_every_bit():
    x, _ = _float_cases(seed=3, n=500)
    x = x.reshape(4, -1)
    assert torch.equal(decode(encode(x), x.shape[1]).view(torch.int32), x.view(torch.int32))   # NaN payloads too
    with pytest.raises(TypeError, match="float32"):
        encode(torch.zeros(2, 2, dtype=torch.float64))


@pytest.mark.parametrize("op,reference", [(exact_mul, torch.mul), (exact_add, torch.add)],
                         ids=["mul", "add"])
def test_float_ops_bit_exact_with_torch(op, reference):
    x, y = _float_cases(seed=0, n=1500)
    result = op(x, y)
    want = reference(x, y)
    assert bool(_same_bits(result.values, want).all())
    assert torch.equal(torch.isnan(result.values), torch.isnan(want))
    nan_bits = result.values[torch.isnan(result.values)].view(torch.int32)
    assert bool((nan_bits == CANONICAL_NAN_BITS).all())                   # the NaN rule
    assert result.neurons_per_op == FLOAT_OP_NEURONS[reference.__name__]
    assert result.neuron_updates == result.neurons_per_op * x.numel()
    # hand-picked: ties to even, underflow to subnormal / zero, overflow, signed zeros, inf - inf
    a = torch.tensor([1.0, 1.0, 2.0 ** -126, 1e-30, 3e38, 0.0, -0.0, float("inf"), 1 + 2 ** -23])
    b = torch.tensor([2 ** -24, 3 * 2 ** -24, 0.5, 1e-30, 10.0, -0.0, -0.0, -float("inf"), 1 - 2 ** -24])
    assert bool(_same_bits(op(a, b).values, reference(a, b)).all())


# Neuron counts derived from the circuits' descriptions (snnrl.exact.blocks and snnrl.exact.floats docstrings), not
# read off the meter: an n-bit ripple adder / carry-save row / incrementer is 2n neurons (a full or half adder is
# 2), a MUX 2, a wide gate 1; normalise_left costs Σ_k (2n − k + 1) over its levels k, shift_right_sticky
# Σ_k (2n − k + 2) (one less for k = 1) plus n + 2 to saturate.
def _adder(n: int) -> int:
    return 2 * n


def _normalise_left(n: int, levels: tuple[int, ...]) -> int:
    return sum(2 * n - k + 1 for k in levels)      # NOR of the top k bits, n − k MUXes, k INHIBITs


def _shift_right_sticky(n: int, amount_bits: int, saturate: bool) -> int:
    levels = [1 << i for i in range(amount_bits)]
    return sum(2 * n - k + 2 for k in levels) - (1 in levels) + (n + 2 if saturate else 0)


def _round_and_pack(n: int, levels: tuple[int, ...], saturate: bool) -> int:
    # normaliser; exponent base − lz + c (10-bit carry-save + ripple), e >= 1 (2), overflow (3), 1 − e (10-bit
    # ripple); the subnormal shift (amount INHIBITs, saturation 2); round up (2), exponent field (8), 31-bit increment
    amount = (n - 1).bit_length()
    exponent = _adder(10) + _adder(10) + 2 + 3 + _adder(10)
    shift = amount + (2 if saturate else 0) + _shift_right_sticky(n, amount, saturate)
    return _normalise_left(n, levels) + exponent + shift + 2 + 8 + _adder(31)


_UNPACK = 7                        # exponent ≠ 0, exponent = 255, mantissa ≠ 0, NaN, inf, zero, exponent bit 0
_FINISH = 1 + 1 + 22 + 1 + 8 + 1   # kill, NaN-or-inf, 22 low mantissa bits, quiet bit, 8 exponent bits, sign
_ARRAY_MULTIPLY = 24 * 24 + 2 * 23 + 2 * 22 * 23 + _adder(23)   # partial products, half adders, full adders, ripple
_MUL_NEURONS = (2 * _UNPACK + 2 + 3 + 1                # operands, sign XOR, NaN (4-input OR + 2 AND), zero OR
                + _ARRAY_MULTIPLY + _adder(8)          # significand product, exponent sum
                + _round_and_pack(48, (32, 16, 8, 4, 2, 1), saturate=True) + 2 + _FINISH)   # inf: OR + XOR_OUT
_ADD_NEURONS = (31 + 2 * 32 * 2 + 2 * _UNPACK          # magnitude compare (borrow chain), two 32-bit MUX swaps
                + 2 + 1 + 1                            # subtract XOR, inf − inf, NaN
                + _adder(8) + 1                        # exponent difference, difference >= 32
                + _shift_right_sticky(27, 5, saturate=True) + 1   # alignment (3 guard bits + 24), sticky into bit 0
                + 2 * 27 + _adder(27) + 1 + 1          # conditional complement (XOR), adder, carry INHIBIT, zero
                + _round_and_pack(28, (16, 8, 4, 2, 1), saturate=False) + 1 + 1 + _FINISH)  # sign rule, inf OR
_RELU_NEURONS = 1 + 1 + 1 + 1 + 1 + 32   # 31-input OR, 8-input AND, 23-input OR, NaN AND, "negative", 32 INHIBITs


def test_float_op_neuron_counts():
    assert FLOAT_OP_NEURONS == {"mul": _MUL_NEURONS, "add": _ADD_NEURONS, "relu": _RELU_NEURONS}
    assert (_MUL_NEURONS, _ADD_NEURONS, _RELU_NEURONS) == (2990, 1272, 37)       # the module docstring's figures
    from snnrl.exact.floats import _array_multiply

    meter = GateMeter(lane_mask(1, 1))
    zeros = np.zeros((24, 1, 1), np.uint64)
    _array_multiply(meter, zeros, zeros)
    assert meter.neuron_updates_per_lane == _ARRAY_MULTIPLY                         # the 24x24 array multiplier


def test_relu_planes_matches_torch():
    x = torch.tensor([[1.5, -1.5, 0.0, -0.0, float("inf"), -float("inf"), float("nan"), -float("nan"), -1e-45]])
    meter = GateMeter(lane_mask(1, x.shape[1]))
    got = decode(relu_planes(meter, encode(x)), x.shape[1])
    assert torch.equal(got.view(torch.int32), torch.relu(x).view(torch.int32))   # -0 and NaN pass, like torch
    assert meter.neuron_updates_per_lane == FLOAT_OP_NEURONS["relu"]


# -- tanh ------------------------------------------------------------------------------------------------------
def _tanh_neurons() -> int:
    """tanh_planes' neurons: 64 interval decoders, one ROM wide-OR per table bit set in some row, |x| − μ_k (an
    add), 5 Horner steps (multiply + add), "small" (2) and "large" (1) tests, 3 32-bit MUXes, NaN (3), sign (1)."""
    table = np.array(TANH_TABLE, dtype=np.uint32)
    rom = int(((table[..., None] >> np.arange(32, dtype=np.uint32)) & 1).astype(bool).reshape(len(table), -1)
              .any(0).sum())
    return 64 + rom + _ADD_NEURONS + 5 * (_MUL_NEURONS + _ADD_NEURONS) + 2 + 1 + 3 * 2 * 32 + 3 + 1


def _policy_neurons(sizes: tuple[int, ...]) -> int:
    """Neurons per decision of an exact policy with layer sizes ``sizes``: each of the in × out products one float
    multiply and one float add (in − 1 partial sums + the bias per output), a ReLU per hidden unit, then the
    squash: tanh and 2 multiplies + 2 adds (``low + ((t + 1)·0.5)·(high − low)``) per action."""
    products = sum(a * b for a, b in zip(sizes, sizes[1:]))
    squash = sizes[-1] * (_tanh_neurons() + 2 * _MUL_NEURONS + 2 * _ADD_NEURONS)
    return products * (_MUL_NEURONS + _ADD_NEURONS) + sum(sizes[1:-1]) * _RELU_NEURONS + squash


def test_tanh_circuit_neuron_count():
    meter = GateMeter(lane_mask(1, 1))
    tanh_planes(meter, np.zeros((32, 1, 1), np.uint64))
    assert meter.neuron_updates_per_lane == _tanh_neurons()


def test_tanh_circuit_equals_reference_and_is_ulp_bounded():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(3000, generator=g) * 4, torch.randn(500, generator=g) * 1e-3,
                   torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e-45, 16.0, -15.999999,
                                 9.01, 2.0 ** -12, -(2.0 ** -12) * 0.9999999])])
    ours = tanh_reference(x)
    assert bool(_same_bits(tanh_via_gates(x), ours).all())
    finite = ~torch.isnan(x)
    assert int(ulp_distance(ours[finite], torch.tanh(x[finite])).max()) <= TANH_ULP_BOUND
    assert torch.isnan(ours[~finite]).all()


def test_tanh_bound_exhaustive_on_a_slice():
    # every float32 in [1, 1.0625) and [8, 8.0625) (both signs): 2^20 inputs per slice
    for start in (0x3F800000, 0x41000000):
        errors = tanh_ulp_error(start, start + (1 << 19), chunk=1 << 19)
        assert errors["ulp_vs_torch"] <= TANH_ULP_BOUND and errors["ulp_vs_correctly_rounded"] <= 1


def test_tanh_table_is_reproducible():
    # The refit is a least-squares solve whose high-order coefficients are ill-conditioned (|c5| ~ 1e-13 near
    # |x| = 16), so their last bits follow the machine's BLAS. What the table must reproduce is the polynomial:
    # the midpoints bit for bit and, on a dense grid of every interval, the same value to 2^-36 relative.
    # Measured: last bits of c3..c5 moved by 2e4 ULPs (as on another CPU) change values by ~2^-42; fitting on 50
    # nodes instead of 200, or the absolute instead of the relative error, by ~2^-31, so both fail here.
    refit = np.array(fit_tanh_table(), dtype=np.uint32)
    stored = np.array(TANH_TABLE, dtype=np.uint32)
    assert refit.shape == stored.shape == (64, 7)
    assert np.array_equal(refit[:, 0], stored[:, 0])
    refit, stored = refit.view(np.float32).astype(np.float64), stored.view(np.float32).astype(np.float64)
    for row_refit, row_stored in zip(refit, stored):
        mid = -row_stored[0]
        t = np.linspace(-1, 1, 257) * mid / 9           # interval k: mid ± 2^e/8 with mid >= 1.125 * 2^e
        values_refit = np.polynomial.polynomial.polyval(t, row_refit[1:])
        values_stored = np.polynomial.polynomial.polyval(t, row_stored[1:])
        assert np.max(np.abs(values_refit - values_stored) / np.abs(values_stored)) <= 2.0 ** -36


@pytest.mark.slow
def test_tanh_bound_exhaustive_all_floats():
    errors = tanh_ulp_error()
    assert errors["ulp_vs_torch"] <= TANH_ULP_BOUND and errors["ulp_vs_correctly_rounded"] <= 1


# -- sequential linear -------------------------------------------------------------------------------------------
def test_sequential_linear_is_the_index_order_float32_sum():
    g = torch.Generator().manual_seed(2)
    x, w, b = torch.randn(3, 7, generator=g), torch.randn(5, 7, generator=g), torch.randn(5, generator=g)
    y = sequential_linear(x, w, b)
    xs, ws, bs = x.numpy(), w.numpy(), b.numpy()
    for r in range(3):
        for j in range(5):
            acc = np.float32(xs[r, 0] * ws[j, 0])
            for i in range(1, 7):
                acc = np.float32(acc + np.float32(xs[r, i] * ws[j, i]))
            assert np.float32(acc + bs[j]).view(np.int32) == y[r, j].numpy().view(np.int32)


def test_exact_layer_bit_identical_to_sequential_linear_and_close_to_nn_linear():
    actor = _small_actor(obs_dim=6, hidden=(40,), action_dim=3)
    g = torch.Generator().manual_seed(5)
    obs = torch.randn(5, 6, generator=g) * torch.tensor([1e-3, 1.0, 10.0, 100.0, 1e-30, 1.0])
    policy = convert_exact(actor)
    actions, _ = policy.predict(obs.numpy())
    want = reference_actor_forward(actor, obs)
    assert torch.equal(torch.from_numpy(actions).view(torch.int32), want.view(torch.int32))
    layer = actor.hidden[0]
    with torch.no_grad():
        gap = (sequential_linear(obs, layer.weight, layer.bias) - layer(obs)).abs()
        terms = (obs.abs() @ layer.weight.abs().t()) + layer.bias.abs()
    # Only the summation order differs: both sums are within γ_n·Σ|terms| of the exact one (γ_n ≈ n·2^-24).
    assert bool((gap <= 2 * 7 * 2.0 ** -24 * terms).all())


# -- the exact policy -----------------------------------------------------------------------------------------------
def test_exact_policy_matches_sequential_ann_bit_for_bit_small_actor():
    actor = _small_actor(obs_dim=5, hidden=(24, 12), action_dim=2, low=-1.0, high=2.0)
    policy, ann = convert_exact(actor), SequentialAnnPolicy(actor)
    g = torch.Generator().manual_seed(1)
    obs = (torch.randn(16, 5, generator=g) * 3).numpy()
    got, _ = policy.predict(obs)
    want, _ = ann.predict(obs)
    assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), want.view(np.int32))
    assert np.abs(got - actor(torch.from_numpy(obs)).detach().numpy()).max() < 1e-5


def test_exact_policy_matches_sequential_ann_on_committed_teacher(pendulum):
    actor, _, policy = pendulum
    g = torch.Generator().manual_seed(0)
    obs = (torch.randn(3, 4, generator=g) * torch.tensor([0.2, 0.3, 1.0, 1.0])).numpy()
    got, _ = policy.predict(obs)
    want = reference_actor_forward(actor, torch.from_numpy(obs)).numpy()
    assert np.array_equal(got.view(np.int32), want.view(np.int32))
    gap = np.abs(got - actor(torch.from_numpy(obs)).detach().numpy())     # vs BLAS sums + torch.tanh
    assert gap.max() <= 16 * np.spacing(np.float32(3.0))                  # a few ULPs of the action bound
    ops = policy.last_decision_ops
    assert set(ops) == {"layer0.mul", "layer0.add", "layer0.relu", "layer1.mul", "layer1.add", "layer1.relu",
                        "head.mul", "head.add", "squash"}
    for counts in ops.values():
        assert counts.dtype == torch.int64 and counts.shape == (3, 4) and bool((counts[:, 0] == 0).all())
    per_row = {name: int(c[0, 2]) for name, c in ops.items()}               # neuron updates, by hand
    assert per_row["layer1.mul"] == 400 * 300 * FLOAT_OP_NEURONS["mul"]
    assert per_row["layer1.add"] == 400 * 300 * FLOAT_OP_NEURONS["add"]      # 399 partial sums + the bias
    assert per_row["layer0.relu"] == 400 * FLOAT_OP_NEURONS["relu"]
    assert per_row["head.mul"] == 300 * FLOAT_OP_NEURONS["mul"]
    assert per_row["squash"] == _tanh_neurons() + 2 * _MUL_NEURONS + 2 * _ADD_NEURONS
    assert sum(per_row.values()) == _policy_neurons((4, 400, 300, 1)) == 519_595_265


def test_metered_counts_equal_inline_counting():
    actor = _small_actor(obs_dim=3, hidden=(10,), action_dim=1)
    policy = convert_exact(actor)
    obs = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.5, -0.25]])
    policy.predict(obs.numpy())
    layer = policy.network.layers[0]
    x = obs.reshape(2, 3, 1).expand(2, 3, 10).reshape(6, 10)                 # rows (b, i), lanes j
    w = actor.hidden[0].weight.detach().t().reshape(1, 3, 10).expand(2, 3, 10).reshape(6, 10)
    products = exact_mul(x, w).values.reshape(2, 3, 10)
    meter = GateMeter(lane_mask(2, 10))                                      # inline: one metered add at a time
    acc = encode(products[:, 0])
    for i in range(1, 3):
        acc = float_add_planes(meter, acc, encode(products[:, i]))
    float_add_planes(meter, acc, layer.bias)
    assert torch.equal(policy.last_decision_ops["layer0.add"], meter.counts(2))


def test_exact_policy_predict_contract():
    actor = _small_actor()
    policy = convert_exact(actor)
    action, state = policy.predict(np.zeros(4, np.float32), state="kept", episode_start=np.array([True]))
    assert action.shape == (1,) and state == "kept"
    actions, _ = policy.predict(np.zeros((3, 4), np.float32), episode_start=np.array([True, False, True]))
    assert actions.shape == (3, 1) and all(c.shape == (3, 4) for c in policy.last_decision_ops.values())
    with pytest.raises(ObservationError, match=r"shape \(4,\) or \(n_envs, 4\)"):
        policy.predict(np.zeros(5, np.float32))
    with pytest.raises(ObservationError, match="unbatch"):
        policy.predict(np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ObservationError, match="NaN or inf"):
        policy.predict(np.array([0.0, np.nan, 0.0, 0.0], np.float32))
    with pytest.raises(ValueError, match="episode_start"):
        policy.predict(np.zeros((3, 4), np.float32), episode_start=np.array([True, False]))
    quiet = convert_exact(actor, metering=False)
    assert np.array_equal(quiet.predict(np.ones(4, np.float32))[0], policy.predict(np.ones(4, np.float32))[0])
    assert quiet.last_decision_ops == {}


def test_convert_exact_rejects_unsupported_actors():
    with pytest.raises(ConversionError, match="only ReLU"):
        convert_exact(_small_actor(activation=nn.Tanh))
    normalised = _small_actor()
    normalised.obs_mean, normalised.obs_var = torch.zeros(4), torch.ones(4)
    with pytest.raises(ConversionError, match="normalisation"):
        convert_exact(normalised)
    clipped = _small_actor()
    clipped.info = ActorInfo(algo="PPO", env_id="InvertedPendulum-v5", squash="clip")
    with pytest.raises(ConversionError, match="tanh"):
        convert_exact(clipped)


def test_exact_policy_in_evaluate_policy_and_run_episodes():
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    actor = _small_actor()
    policy = convert_exact(actor)
    def evaluate(p):
        env = Monitor(gym.make("InvertedPendulum-v5", max_episode_steps=4))
        env.reset(seed=0)                                                  # the same initial states for both
        return evaluate_policy(p, env, n_eval_episodes=2, return_episode_rewards=True)

    returns, lengths = evaluate(policy)
    assert (returns, lengths) == evaluate(AnnPolicy(actor))              # exact mode: the ANN's actions
    # This actor's ±3 pushes tip the pole over on step 4 (reward 1 per step, 0 on the terminating step); actions
    # that did not act (e.g. all zero) would run to the 4-step limit, returning 4.0.
    assert lengths == [4, 4] and returns == [3.0, 3.0]
    exact = run_episodes(policy, "InvertedPendulum-v5", episodes=2, seed=0, max_steps=4,
                         teacher=SequentialAnnPolicy(actor, metering=False))
    ann = run_episodes(AnnPolicy(actor), "InvertedPendulum-v5", episodes=2, seed=0, max_steps=4)
    assert [r.episode_return for r in exact] == [r.episode_return for r in ann]
    assert all(np.all(r.action_errors == 0.0) for r in exact)              # identical actions, step by step
    assert exact[0].energy["energy_per_decision_pj"] > 0


def test_closed_loop_short_episode_with_energy(pendulum):
    actor, entry, policy = pendulum
    env = ClosedLoop(gym.make(entry["env_id"], max_episode_steps=2), policy)
    env.reset(seed=0)
    info = {}
    for _ in range(2):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
    assert truncated and not terminated
    energy = info["energy"]
    assert energy["steps"] == 2 and energy["synaptic_ops"]["macs"] == 0
    # energy = 0.9 pJ per synaptic event (accumulate) under DIGITAL_45NM_FP32; neuron updates cost 0 there
    assert energy["energy_pj"] == pytest.approx(0.9 * energy["synaptic_ops"]["accumulates"])
    assert energy["neuron_updates"] == 2 * sum(int(c[0, 2]) for c in policy.last_decision_ops.values())
    assert DIGITAL_45NM_FP32.energy_pj(OpsSummary(accumulates=10)) == pytest.approx(9.0)


def test_returns_identical_to_ann_on_short_seeded_episodes():
    actor, entry = load_teacher("td3-inverteddoublependulum")            # real-valued rewards, 9-400-300-1
    exact = run_episodes(convert_exact(actor, metering=False), entry["env_id"], episodes=2, seed=0, max_steps=3,
                         teacher=SequentialAnnPolicy(actor, metering=False))
    sequential = run_episodes(SequentialAnnPolicy(actor), entry["env_id"], episodes=2, seed=0, max_steps=3)
    ann = run_episodes(AnnPolicy(actor), entry["env_id"], episodes=2, seed=0, max_steps=3)
    returns = [r.episode_return for r in exact]
    assert returns == [r.episode_return for r in sequential]              # bit-identical arithmetic
    assert all(np.all(r.action_errors == 0.0) for r in exact)              # every action identical
    # the ordinary ANN sums in BLAS order: actions differ by ~1e-7, returns agree to float precision here
    assert [r.episode_return for r in ann] == pytest.approx(returns, rel=1e-6)


@pytest.mark.slow
def test_returns_identical_over_five_full_episodes():
    from snnrl.exact.benchmark import compare_returns

    result = compare_returns("td3-invertedpendulum", episodes=5, seed=0)
    assert result["exact_snn"]["returns"] == result["ann_sequential"]["returns"]
    assert result["exact_snn"]["max_abs_action_difference"] == 0.0
    assert result["exact_snn"]["returns"] == result["ann"]["returns"] == [1000.0] * 5   # reward 1 per step


@pytest.mark.slow
def test_energy_per_decision_exact_vs_rate_conversion():
    from snnrl.exact.benchmark import compare_energy

    rows = {r["policy"]: r for r in compare_energy("td3-invertedpendulum", timesteps=(8, 16), calibration_steps=2000,
                                                      max_steps=20)}
    exact = rows["exact (NEXUS-style gates)"]
    neurons = _policy_neurons((4, 400, 300, 1))                       # derived, = 519_595_265
    assert exact["macs_per_decision"] == 0 and exact["neuron_updates_per_decision"] == neurons
    # reported honestly: gate-level exact arithmetic costs far more than the ANN or rate conversion
    assert exact["energy_per_decision_pj"] > 100 * rows["rate conversion T=16"]["energy_per_decision_pj"]
    assert rows["rate conversion T=8"]["energy_per_decision_pj"] < rows["rate conversion T=16"]["energy_per_decision_pj"]


def test_package_exports_and_stays_light():
    import subprocess
    import sys

    import snnrl.exact as exact

    assert exact.ExactSpikingPolicy is ExactSpikingPolicy and exact.convert_exact is convert_exact
    code = ("import sys, snnrl.exact\n"
            "assert not [m for m in ('gymnasium', 'stable_baselines3', 'avalanche') if m in sys.modules]")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
