"""IEEE-754 binary32 multiply and add from IF-neuron gate circuits, bit-exact with torch float32 on CPU.

Both operate on spatially bit-encoded values (:mod:`snnrl.exact.bits`) and round to nearest, ties to even, with
subnormal inputs and outputs (no flush to zero), signed zeros, infinities, overflow to ``±inf`` and underflow
to subnormals or ``±0``, as ``torch.mul`` / ``torch.add`` do on float32 CPU tensors.

**NaN rule.** Every NaN result is the canonical quiet NaN ``0x7FC00000``. IEEE-754 leaves sign and payload of a
NaN result open and torch passes through whatever the CPU produces (e.g. ``0xFFC00000`` for ``inf − inf`` on x86),
so results are compared as "both NaN"; every non-NaN result is compared bit for bit.

Circuits (neurons per element; ``n``-bit blocks from :mod:`snnrl.exact.blocks`):

* :func:`float_mul_planes` — operand decode (zero / inf / NaN flags, hidden bit, effective exponent),
  24×24 carry-save array multiplier (576 AND partial products, 23 rows of half/full adders, 23-bit ripple
  carry-propagate adder), exponent ``Ea + Eb − 126 − lz`` (10-bit two's complement), a 48-bit leading-zero
  normaliser, a right shifter with sticky bit for subnormal results, round-to-nearest-even and packing
  (31-bit incrementer, so a mantissa carry bumps the exponent and ``254 → 255`` gives ``inf``), special values.
* :func:`float_add_planes` — 31-bit magnitude comparison and operand swap (larger magnitude first), exponent
  difference, 27-bit alignment shifter with guard/round/sticky bits, conditional complement, 27-bit ripple
  adder, 28-bit leading-zero normaliser, exponent ``Ex + 1 − lz``, the same subnormal shift, rounding and
  packing, signed-zero rule (``x + (−x) = +0``), special values.

Neurons per operation (:data:`FLOAT_OP_NEURONS`, measured from the circuits):

* multiply, 2990: operand decode 14, sign 2, NaN / zero flags 4, significand product 1680 (576 AND partial
  products, 23 half adders, 22×23 full adders, 23-bit ripple adder), exponent sum 16, 48-bit normaliser 519,
  exponent arithmetic 65, subnormal right shifter 582, rounding and packing 72, special values 36;
* add, 1272: magnitude compare 31, operand swap 128, operand decode 14, sign / NaN 4, exponent difference 17,
  27-bit alignment shifter 278, conditional complement 54, significand adder 55, zero detect 1, 28-bit
  normaliser 254, exponent arithmetic 65, subnormal right shifter 263, rounding and packing 72, special
  values 36;
* ReLU, 37 (see :func:`relu_planes`).

(A full adder is 2 threshold neurons here; with NEXUS' ≈ 13-neuron AND/OR/NOT full adder the adder-heavy
parts would be several times larger.)

Example
-------
>>> import torch
>>> x = torch.tensor([1.5, -0.0, 3.4e38, 1e-45])
>>> y = torch.tensor([2.25, 5.0, 10.0, 0.5])
>>> r = exact_mul(x, y)
>>> torch.equal(r.values.view(torch.int32), (x * y).view(torch.int32))
True
>>> r.neurons_per_op == FLOAT_OP_NEURONS["mul"]
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from snnrl.exact.bits import constant_planes, decode, encode
from snnrl.exact.blocks import (carry_save, compare_ge, increment, normalise_left, ripple_add, shift_right_sticky,
                                stack_planes, zeros_like_planes)
from snnrl.exact.gates import (AND, AND_NAND, INHIBIT, MUX_OUT, OR, ROUND, XOR_OUT, GateMeter, full_adder,
                               half_adder, lane_mask, literal_and, literal_or, mux, xor)

__all__ = ["Unpacked", "unpack", "float_mul_planes", "float_add_planes", "relu_planes", "ExactResult",
           "exact_mul", "exact_add", "FLOAT_OP_NEURONS", "CANONICAL_NAN_BITS"]

CANONICAL_NAN_BITS = 0x7FC00000
_ONE = np.full((1, 1), np.uint64(0xFFFF_FFFF_FFFF_FFFF))


@dataclass(frozen=True)
class Unpacked:
    """Decoded fields of bit-encoded floats (each a plane array; ``exp``/``sig`` LSB first).

    ``exp`` is the effective exponent (``1`` for subnormals and zero), ``sig`` the 24-bit significand with
    the hidden bit on top.
    """

    sign: np.ndarray
    exp: np.ndarray
    sig: np.ndarray
    nan: np.ndarray
    inf: np.ndarray
    zero: np.ndarray


def unpack(meter: GateMeter, x: np.ndarray) -> Unpacked:
    """Operand decode: 7 neurons (exponent ≠ 0, exponent = 255, mantissa ≠ 0, NaN, inf, zero, exponent bit 0)."""
    mant, exp, sign = x[:23], x[23:31], x[31]
    hidden = meter.fire_wide(literal_or((False,) * 8), exp)
    exp_max = meter.fire_wide(literal_and((False,) * 8), exp)
    mant_nz = meter.fire_wide(literal_or((False,) * 23), mant)
    nan = meter.fire(AND, exp_max, mant_nz)
    inf = meter.fire(INHIBIT, exp_max, mant_nz)
    zero = meter.fire(literal_and((True, True)), hidden, mant_nz)
    e0 = meter.fire(literal_or((False, True)), exp[0], hidden)       # exponent 0 counts as 1
    return Unpacked(sign=sign, exp=stack_planes(e0[None], exp[1:]), sig=stack_planes(mant, hidden[None]),
                    nan=nan, inf=inf, zero=zero)


def _zext(x: np.ndarray, width: int) -> np.ndarray:
    return stack_planes(x, zeros_like_planes(width - x.shape[0])) if x.shape[0] < width else x


def _array_multiply(meter: GateMeter, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a × b`` of two 24-bit significands -> 48-bit product (carry-save array + ripple adder)."""
    n = a.shape[0]
    pp = meter.fire(AND, a[:, None], b[None, :])                # pp[i, j] has weight 2^(i+j)
    shape = pp.shape[2:]
    s = np.zeros((2 * n,) + shape, dtype=np.uint64)
    c = np.zeros((2 * n,) + shape, dtype=np.uint64)
    s[:n] = pp[:, 0]
    s[1:n], c[2:n + 1] = half_adder(meter, s[1:n], pp[:n - 1, 1])
    s[n] = pp[n - 1, 1]
    for j in range(2, n):                                          # row j: bits j .. j+n-2 get a full adder
        s[j:j + n - 1], c[j + 1:j + n] = full_adder(meter, s[j:j + n - 1], c[j:j + n - 1], pp[:n - 1, j])
        s[j + n - 1] = pp[n - 1, j]
    high, cout = ripple_add(meter, s[n:2 * n - 1], c[n:2 * n - 1])
    return stack_planes(s[:n], high, cout[None])


def _exponent_minus_lz(meter: GateMeter, base: np.ndarray, lz: np.ndarray, constant: int) -> np.ndarray:
    """``base − lz + constant`` in 10-bit two's complement: ``base + ¬lz + constant + 1`` (carry-save + ripple)."""
    s, c = carry_save(meter, _zext(base, 10), _zext(lz, 10), constant_planes(constant % 1024, 10), invert_b=True)
    e, _ = ripple_add(meter, s, stack_planes(zeros_like_planes(1), c[:9]), _ONE)
    return e


def _round_and_pack(meter: GateMeter, reg: np.ndarray, levels: tuple[int, ...], exponent_base: np.ndarray,
                    exponent_constant: int, saturate_shift: bool) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``reg`` (leading one expected at its top bit for exponent ``base + constant``), shift right
    for a subnormal result, round to nearest even and pack: ``(word [31], overflow)``."""
    n = reg.shape[0]
    norm, lz = normalise_left(meter, reg, levels)
    e = _exponent_minus_lz(meter, exponent_base, lz, exponent_constant)
    positive = meter.fire(INHIBIT, meter.fire_wide(literal_or((False,) * 9), e[:9]), e[9])        # e >= 1
    overflow = meter.fire(INHIBIT, meter.fire(OR, e[8], meter.fire_wide(literal_and((False,) * 8), e[:8])), e[9])
    shift, _ = ripple_add(meter, constant_planes(1, 10), e, _ONE, invert_b=True)                # 1 − e
    bits = max(1, (n - 1).bit_length())                           # levels 1 .. 2^(bits-1) cover n - 1
    amount = meter.fire(INHIBIT, shift[:bits], positive)
    saturate = None
    if saturate_shift:
        saturate = meter.fire(INHIBIT, meter.fire_wide(literal_or((False,) * (10 - bits)), shift[bits:]), positive)
    norm, sticky = shift_right_sticky(meter, norm, amount, saturate)
    guard, lsb = norm[n - 25], norm[n - 24]
    rest = stack_planes(norm[:n - 25], np.broadcast_to(sticky, norm.shape[1:])[None])
    up = meter.fire(ROUND, guard, meter.fire_wide(literal_or((False,) * rest.shape[0]), rest), lsb)
    field = meter.fire(AND, e[:8], positive)
    word, _ = increment(meter, stack_planes(norm[n - 24:n - 1], field), up)
    return word, overflow


def _finish(meter: GateMeter, word: np.ndarray, sign: np.ndarray, nan: np.ndarray, inf: np.ndarray,
            zero: np.ndarray) -> np.ndarray:
    """Special values over the packed magnitude ``word [31]``: 32 planes; 35 neurons."""
    kill = meter.fire(literal_or((False,) * 3), nan, inf, zero)
    nan_or_inf = meter.fire(OR, nan, inf)
    low = meter.fire(INHIBIT, word[:22], kill)
    quiet = meter.fire(MUX_OUT, word[22], kill, nan)
    exponent = meter.fire(MUX_OUT, word[23:31], kill, nan_or_inf)
    out_sign = meter.fire(INHIBIT, sign, nan)
    return stack_planes(low, quiet[None], exponent, out_sign[None])


def float_mul_planes(meter: GateMeter, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a × b`` on ``[32, ..., R, W]`` bit planes (broadcasting) -> ``[32, ..., R, W]``; RNE, bit-exact."""
    x, y = unpack(meter, a), unpack(meter, b)
    sign = xor(meter, x.sign, y.sign)
    nan = meter.fire(literal_or((False,) * 4), x.nan, y.nan, meter.fire(AND, x.inf, y.zero),
                     meter.fire(AND, y.inf, x.zero))
    zero = meter.fire(OR, x.zero, y.zero)
    product = _array_multiply(meter, x.sig, y.sig)                                   # 48 bits, value P·2^-46
    exp_sum, carry = ripple_add(meter, x.exp, y.exp)
    word, overflow = _round_and_pack(meter, product, (32, 16, 8, 4, 2, 1), stack_planes(exp_sum, carry[None]),
                                        -126, saturate_shift=True)
    inf = meter.fire(XOR_OUT, meter.fire(OR, x.inf, y.inf), overflow, zero)            # (inf ∨ ovf) ∧ ¬zero
    return _finish(meter, word, sign, nan, inf, zero)


def float_add_planes(meter: GateMeter, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` on ``[32, ..., R, W]`` bit planes (broadcasting) -> ``[32, ..., R, W]``; RNE, bit-exact."""
    a_ge = compare_ge(meter, a[:31], b[:31])                     # |a| >= |b|
    big, small = mux(meter, a_ge, b, a), mux(meter, a_ge, a, b)
    x, y = unpack(meter, big), unpack(meter, small)
    subtract = xor(meter, x.sign, y.sign)
    inf_minus_inf = meter.fire(literal_and((False,) * 3), x.inf, y.inf, subtract)
    nan = meter.fire(literal_or((False,) * 3), x.nan, y.nan, inf_minus_inf)
    diff, _ = ripple_add(meter, x.exp, y.exp, _ONE, invert_b=True)                   # Ex − Ey >= 0
    guard_bits = zeros_like_planes(3)
    saturate = meter.fire_wide(literal_or((False,) * 3), diff[5:])                  # diff >= 32: all out
    aligned, sticky = shift_right_sticky(meter, stack_planes(guard_bits, y.sig), diff[:5], saturate)
    aligned = stack_planes(meter.fire(OR, aligned[0], sticky)[None], aligned[1:])
    addend = xor(meter, aligned, subtract)
    total, carry = ripple_add(meter, stack_planes(guard_bits, x.sig), addend, subtract)
    reg = stack_planes(total, meter.fire(INHIBIT, carry, subtract)[None])            # 28 bits, value ·2^-26
    reg_zero = meter.fire_wide(literal_and((True,) * 28), reg)                       # exact cancellation
    word, overflow = _round_and_pack(meter, reg, (16, 8, 4, 2, 1), x.exp, 1, saturate_shift=False)
    sign = meter.fire(AND_NAND, x.sign, reg_zero, subtract)                            # x + (−x) = +0
    inf = meter.fire(OR, x.inf, overflow)
    return _finish(meter, word, sign, nan, inf, reg_zero)


def relu_planes(meter: GateMeter, x: np.ndarray) -> np.ndarray:
    """``torch.relu`` on bit planes: ``+0`` where ``x < 0``, else ``x`` (``−0`` and NaN pass); 37 neurons.

    ``x < 0`` iff sign ∧ magnitude ≠ 0 ∧ ¬NaN: a 31-input OR, an 8-input AND, a 23-input OR, one
    ``sign + nonzero − nan ≥ 1.5`` neuron, then 32 INHIBIT gates (one per bit).
    """
    nonzero = meter.fire_wide(literal_or((False,) * 31), x[:31])
    exp_max = meter.fire_wide(literal_and((False,) * 8), x[23:31])
    nan = meter.fire(AND, exp_max, meter.fire_wide(literal_or((False,) * 23), x[:23]))
    negative = meter.fire(literal_and((False, False, True)), x[31], nonzero, nan)
    return meter.fire(INHIBIT, x, negative)


@dataclass(frozen=True)
class ExactResult:
    """Values of an exact operation and what the circuit did (totals over all elements)."""

    values: torch.Tensor
    neurons_per_op: int
    neuron_updates: int
    accumulates: int
    spikes: int


def _run(circuit, x: torch.Tensor, y: torch.Tensor) -> ExactResult:
    xb, yb = torch.broadcast_tensors(torch.as_tensor(x), torch.as_tensor(y))
    shape = xb.shape
    flat_x, flat_y = xb.reshape(1, -1), yb.reshape(1, -1)
    n = flat_x.shape[1]
    meter = GateMeter(lane_mask(1, n))
    out = circuit(meter, encode(flat_x), encode(flat_y))
    values = decode(out, n).reshape(shape)
    return ExactResult(values, meter.neuron_updates_per_lane, int(meter.neuron_updates.sum()),
                       int(meter.accumulates.sum()), int(meter.spikes.sum()))


def exact_mul(x: torch.Tensor, y: torch.Tensor) -> ExactResult:
    """``x * y`` (float32, broadcasting) through :func:`float_mul_planes`."""
    return _run(float_mul_planes, x, y)


def exact_add(x: torch.Tensor, y: torch.Tensor) -> ExactResult:
    """``x + y`` (float32, broadcasting) through :func:`float_add_planes`."""
    return _run(float_add_planes, x, y)


def _neurons_per_element(circuit, arity: int) -> int:
    meter = GateMeter(lane_mask(1, 1))
    circuit(meter, *([np.zeros((32, 1, 1), dtype=np.uint64)] * arity))
    return meter.neuron_updates_per_lane


FLOAT_OP_NEURONS: dict[str, int] = {"mul": _neurons_per_element(float_mul_planes, 2),
                                    "add": _neurons_per_element(float_add_planes, 2),
                                    "relu": _neurons_per_element(relu_planes, 1)}
"""Neurons (gates) per element of each circuit; every one is updated once per evaluation."""
