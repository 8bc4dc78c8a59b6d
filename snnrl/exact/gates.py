"""Logic gates made of IF neurons, evaluated on bit planes, with neuron / synapse / spike counts.

A gate is one integrate-and-fire neuron run for a single timestep from a fresh state (``V = 0``): its input
current is ``I = Σ_j w_j·x_j + b`` over binary input spikes ``x_j ∈ {0, 1}``, and it spikes iff ``I ≥ θ``
(:class:`snnrl.neurons.IFNeuron` fires when ``V ≥ θ``; the reset does not matter after one step).
A :class:`ThresholdGate` is such a neuron: weights, bias and threshold. The primitives after NEXUS
(arXiv 2601.21279) are

* ``AND``  — ``w = (1, 1)``, ``θ = 1.5``;   ``OR`` — ``w = (1, 1)``, ``θ = 0.5``;
* ``NOT``  — ``w = (−1,)``, ``b = 1.5``, ``θ = 1`` (fires iff ``1.5 − x ≥ 1``);

and, because a threshold neuron may weigh its inputs, a few more single-neuron gates: ``INHIBIT``
(``a ∧ ¬b``), majority ``MAJ`` (``a + b + c ≥ 1.5``), wide AND / OR over literals, ``x ≥ k`` on an unsigned
integer (weights ``2^i``), and the second neurons of the composite gates below.

Composite gates (neuron counts; NEXUS composes a full adder from AND/OR/NOT only, ≈ 13 neurons):

=============  =======  ===========================================================================
gate           neurons  construction
=============  =======  ===========================================================================
XOR(a, b)      2        ``h = AND(a, b)``; ``y = IF(a + b − 2h ≥ 0.5)``
MUX(s, a, b)   2        ``n = AND(s, b)``; ``y = IF(a − s + 2n ≥ 0.5)``  (``s ? b : a``)
half adder     2        carry ``= AND(a, b)``; sum ``= IF(a + b − 2·carry ≥ 0.5)``
full adder     2        carry ``= MAJ(a, b, c)``; sum ``= IF(a + b + c − 2·carry ≥ 0.5)``
=============  =======  ===========================================================================

**Bit planes.** Circuits run vectorised over many independent copies (one per *lane*): a signal is a
``numpy.uint64`` array whose last axis packs 64 lanes per word and whose second-to-last axis is the *row*
(``[..., R, W]``; leading axes index bits or neurons). Each gate's ``kernel`` computes, with bitwise
operations on whole words, exactly the neuron's firing function; :class:`ThresholdGate` checks this against
``Σ w·x + b ≥ θ`` on every input combination when it is built (wide gates: on structured and random
combinations), and the tests run every gate's truth table through an actual :class:`~snnrl.neurons.IFNeuron`.

**Counts** (:class:`GateMeter`, per row): ``neuron_updates`` — every gate neuron of every lane is updated once
per evaluation; ``accumulates`` — synaptic events, one per input spike arriving at a neuron (weight sign
and size do not matter; a bias is not an event; an always-on constant-1 input is counted as a spike
source, like any operand bit); ``spikes`` — neurons that fire. Padded lanes are never counted.

Example
-------
>>> import numpy as np
>>> AND.fires((1, 1)), AND.fires((0, 1)), NOT.fires((0,))
(True, False, True)
>>> meter = GateMeter(lane_mask(1, 3))               # one row of 3 lanes
>>> a, b = np.array([[0b011]], np.uint64), np.array([[0b101]], np.uint64)
>>> s, c = full_adder(meter, a, b, np.zeros_like(a))
>>> int(s[0, 0] & 0b111), int(c[0, 0] & 0b111)        # lane-wise a + b: sums 0b110, carries 0b001
(6, 1)
>>> meter.neuron_updates_per_lane, meter.spikes.tolist()
(2, [3])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "ThresholdGate", "GateMeter", "lane_mask", "popcount", "ALL_ONES",
    "AND", "OR", "NOT", "INHIBIT", "MAJ", "MAJ_INV", "XOR_OUT", "SUM_OUT", "SUM_INV", "MUX_OUT", "OR_AND", "ROUND",
    "AND_NAND", "literal_and", "literal_or", "at_least",
    "xor", "mux", "half_adder", "full_adder", "COMPOSITE_NEURONS", "NEXUS_FULL_ADDER_NEURONS",
]

ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_EXHAUSTIVE_FAN_IN = 12


def lane_mask(rows: int, lanes: int) -> np.ndarray:
    """``[rows, ceil(lanes/64)]`` uint64 words with the first ``lanes`` lane bits of every row set."""
    words = max(1, -(-lanes // 64))
    mask = np.zeros((rows, words), dtype=np.uint64)
    full, rest = divmod(lanes, 64)
    mask[:, :full] = ALL_ONES
    if rest:
        mask[:, full] = np.uint64((1 << rest) - 1)
    return mask


if hasattr(np, "bitwise_count"):
    def popcount(words: np.ndarray) -> np.ndarray:
        """Number of set bits of each uint64 word (uint8)."""
        return np.bitwise_count(words)
else:  # numpy < 2.0
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def popcount(words: np.ndarray) -> np.ndarray:
        """Number of set bits of each uint64 word (uint8)."""
        w = np.ascontiguousarray(words, dtype=np.uint64)
        return _BYTE_COUNTS[w.view(np.uint8)].reshape(*w.shape, 8).sum(-1, dtype=np.uint8)


def _truth_columns(fan_in: int) -> list[np.ndarray]:
    """Input ``j`` of all ``2^fan_in`` combinations as packed words (combination ``c`` = lane ``c``)."""
    combos = np.arange(1 << fan_in, dtype=np.uint64)
    columns = []
    for j in range(fan_in):
        bits = ((combos >> np.uint64(j)) & np.uint64(1)).astype(np.uint8)
        padded = np.zeros(-(-bits.size // 64) * 64, dtype=np.uint8)
        padded[:bits.size] = bits
        columns.append(np.packbits(padded, bitorder="little").view(np.uint64))
    return columns


@dataclass(frozen=True)
class ThresholdGate:
    """One IF neuron used as a logic gate: fires iff ``Σ_j w_j·x_j + bias ≥ threshold`` (one timestep).

    Parameters
    ----------
    name
        Short name used in messages.
    weights, bias, threshold
        The neuron: synaptic weights (one per input), constant bias current, firing threshold ``θ > 0``.
    kernel
        The same Boolean function on packed bit planes (``uint64`` words, 64 lanes each); checked against
        the threshold definition when the gate is built.
    stack_kernel
        Optional faster form of ``kernel`` for wide gates, taking the inputs stacked on a leading axis.
    """

    name: str
    weights: tuple[float, ...]
    bias: float
    threshold: float
    kernel: Callable[..., np.ndarray] = field(repr=False, compare=False)
    stack_kernel: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"gate {self.name}: threshold must be > 0 (IF neuron), got {self.threshold}; "
                             "shift the bias instead.")
        if not self.weights:
            raise ValueError(f"gate {self.name}: needs at least one input weight.")
        self._verify()

    @property
    def fan_in(self) -> int:
        return len(self.weights)

    def fires(self, inputs: Sequence[int]) -> bool:
        """The definition: ``Σ w·x + bias ≥ θ`` for one combination of binary inputs."""
        if len(inputs) != self.fan_in:
            raise ValueError(f"gate {self.name} takes {self.fan_in} inputs, got {len(inputs)}.")
        return sum(w * x for w, x in zip(self.weights, inputs)) + self.bias >= self.threshold

    def current(self, inputs: torch.Tensor) -> torch.Tensor:
        """Input current ``Σ w·x + bias`` of binary ``inputs [..., fan_in]`` (float32)."""
        w = torch.tensor(self.weights, dtype=torch.float32)
        return (inputs.to(torch.float32) * w).sum(-1) + self.bias

    def fire_if(self, inputs: torch.Tensor) -> torch.Tensor:
        """Spikes of a fresh :class:`snnrl.neurons.IFNeuron` (threshold ``θ``) driven by :meth:`current` once."""
        from snnrl.neurons import IFNeuron

        neuron = IFNeuron(self.threshold, step_mode="s")
        return neuron(self.current(inputs).reshape(-1, 1)).reshape(inputs.shape[:-1])

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        """Evaluate on bit planes (no counting; use :meth:`GateMeter.fire` to count)."""
        return self.kernel(*inputs)

    def _verify(self) -> None:
        k = self.fan_in
        if k <= _EXHAUSTIVE_FAN_IN:
            combos = [tuple((c >> j) & 1 for j in range(k)) for c in range(1 << k)]
            columns = _truth_columns(k)
        else:  # wide gates: all-zero, all-one, one-hot, one-cold and random combinations
            rng = np.random.default_rng(0)
            rows = [np.zeros(k, np.int64), np.ones(k, np.int64), *np.eye(k, dtype=np.int64),
                    *(1 - np.eye(k, dtype=np.int64)), *rng.integers(0, 2, size=(256, k))]
            if any(w < 0 for w in self.weights):  # the firing pattern of a literal gate and its one-flips
                fire = np.array([w > 0 for w in self.weights], dtype=np.int64)
                rows += [fire, *(fire ^ np.eye(k, dtype=np.int64))]
            combos = [tuple(int(v) for v in r) for r in rows]
            bits = np.array(combos, dtype=np.uint8)
            pad = np.zeros((-(-len(combos) // 64) * 64, k), dtype=np.uint8)
            pad[:len(combos)] = bits
            columns = [np.packbits(pad[:, j], bitorder="little").view(np.uint64) for j in range(k)]
        out = self.kernel(*columns)
        if self.stack_kernel is not None and not np.array_equal(self.stack_kernel(np.stack(columns)), out):
            raise AssertionError(f"gate {self.name}: stack_kernel and kernel disagree. Fix the stack kernel.")
        for c, combo in enumerate(combos):
            got = bool((int(out[c // 64]) >> (c % 64)) & 1)
            if got != self.fires(combo):
                raise AssertionError(f"gate {self.name}: bitwise kernel gives {int(got)} for inputs {combo}, the "
                                     f"threshold definition {int(not got)}. Fix the kernel.")


def _maj(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (a & b) | (c & (a | b))


AND = ThresholdGate("AND", (1.0, 1.0), 0.0, 1.5, lambda a, b: a & b)
OR = ThresholdGate("OR", (1.0, 1.0), 0.0, 0.5, lambda a, b: a | b)
NOT = ThresholdGate("NOT", (-1.0,), 1.5, 1.0, lambda a: ~a)
INHIBIT = ThresholdGate("INHIBIT", (1.0, -1.0), 0.0, 0.5, lambda a, b: a & ~b)
"""``a ∧ ¬b``: an excitatory and an inhibitory synapse."""
MAJ = ThresholdGate("MAJ", (1.0, 1.0, 1.0), 0.0, 1.5, _maj)
"""Majority of three: the carry of a full adder."""
MAJ_INV = ThresholdGate("MAJ_INV", (1.0, -1.0, 1.0), 1.0, 1.5, lambda a, b, c: _maj(a, ~b, c))
"""``MAJ(a, ¬b, c)``: the carry of ``a − b`` (``a + ¬b + c``)."""
XOR_OUT = ThresholdGate("XOR_OUT", (1.0, 1.0, -2.0), 0.0, 0.5, lambda a, b, h: (a | b) & ~h)
"""Second neuron of XOR / half adder: inputs ``(a, b, h = AND(a, b))``."""
SUM_OUT = ThresholdGate("SUM_OUT", (1.0, 1.0, 1.0, -2.0), 0.0, 0.5,
                        lambda a, b, c, m: (~m & (a | b | c)) | (m & a & b & c))
"""Sum neuron of a full adder: inputs ``(a, b, c, m = MAJ(a, b, c))``; equals ``a ⊕ b ⊕ c`` in the circuit."""
SUM_INV = ThresholdGate("SUM_INV", (1.0, -1.0, 1.0, -2.0), 1.0, 0.5,
                        lambda a, b, c, m: SUM_OUT.kernel(a, ~b, c, m))
"""Sum neuron of ``a + ¬b + c``: inputs ``(a, b, c, m = MAJ_INV(a, b, c))`` (subtractors need no NOT gates)."""
MUX_OUT = ThresholdGate("MUX_OUT", (1.0, -1.0, 2.0), 0.0, 0.5, lambda a, s, n: n | (a & ~s))
"""Second neuron of MUX: inputs ``(a, s, n = AND(s, b))``."""
OR_AND = ThresholdGate("OR_AND", (2.0, 1.0, 1.0), 0.0, 1.5, lambda x, y, z: x | (y & z))
"""``x ∨ (y ∧ z)`` (sticky-bit update of a shifter)."""
ROUND = ThresholdGate("ROUND", (2.0, 1.0, 1.0), 0.0, 2.5, lambda g, s, l: g & (s | l))
"""Round-to-nearest-even increment ``G ∧ (S ∨ L)`` from guard, sticky and least significant bit."""
AND_NAND = ThresholdGate("AND_NAND", (2.0, -1.0, -1.0), 0.0, 0.5, lambda a, b, c: a & ~(b & c))
"""``a ∧ ¬(b ∧ c)``."""


def _literal_kernels(op: np.ufunc, negated: tuple[bool, ...]) -> tuple[Callable[..., np.ndarray],
                                                                       Callable[[np.ndarray], np.ndarray]]:
    """(kernel, stack_kernel) of a wide AND/OR of literals."""
    flips = tuple(ALL_ONES if neg else np.uint64(0) for neg in negated)
    mask = np.array(flips, dtype=np.uint64)
    any_negated = any(negated)

    def kernel(*xs: np.ndarray) -> np.ndarray:
        return functools.reduce(op, (x ^ f if f else x for x, f in zip(xs, flips)))

    def stack_kernel(stack: np.ndarray) -> np.ndarray:
        if any_negated:
            stack = stack ^ mask.reshape((-1,) + (1,) * (stack.ndim - 1))
        return op.reduce(stack, axis=0)

    return kernel, stack_kernel


@functools.lru_cache(maxsize=None)
def literal_and(negated: tuple[bool, ...]) -> ThresholdGate:
    """Wide AND of literals (``x_j`` or ``¬x_j`` where ``negated[j]``): one neuron, weights ``±1``,
    bias ``#negated``, ``θ = n − 0.5``. All-negated is a wide NOR (zero detector)."""
    n = len(negated)
    weights = tuple(-1.0 if neg else 1.0 for neg in negated)
    return ThresholdGate(f"AND{n}", weights, float(sum(negated)), n - 0.5, *_literal_kernels(np.bitwise_and, negated))


@functools.lru_cache(maxsize=None)
def literal_or(negated: tuple[bool, ...]) -> ThresholdGate:
    """Wide OR of literals: one neuron, weights ``±1``, bias ``#negated``, ``θ = 0.5``."""
    n = len(negated)
    weights = tuple(-1.0 if neg else 1.0 for neg in negated)
    return ThresholdGate(f"OR{n}", weights, float(sum(negated)), 0.5, *_literal_kernels(np.bitwise_or, negated))


def _at_least_kernel(k: int, n: int) -> Callable[..., np.ndarray]:
    def kernel(*xs: np.ndarray) -> np.ndarray:
        # value >= k, scanning from the most significant bit: greater-so-far / equal-so-far
        gt = np.zeros_like(xs[0] & xs[0])
        eq = ~gt
        for i in reversed(range(n)):
            if (k >> i) & 1:
                eq = eq & xs[i]
            else:
                gt = gt | (eq & xs[i])
                eq = eq & ~xs[i]
        return gt | eq
    return kernel


@functools.lru_cache(maxsize=None)
def at_least(k: int, n: int) -> ThresholdGate:
    """``value ≥ k`` for an ``n``-bit unsigned integer (bits LSB first): one neuron, weights ``2^i``,
    ``θ = k − 0.5`` (``k ≥ 1``)."""
    if not 1 <= k < (1 << n):
        raise ValueError(f"at_least needs 1 <= k < 2**n, got k={k}, n={n}.")
    return ThresholdGate(f"GE{k}", tuple(float(1 << i) for i in range(n)), 0.0, k - 0.5, _at_least_kernel(k, n))


class GateMeter:
    """Evaluates gates on bit planes and counts, per row, neuron updates, synaptic events and spikes.

    Parameters
    ----------
    valid
        ``[R, W]`` uint64 lane mask: which lanes of each row hold real values (:func:`lane_mask`; padding
        only in the last word of a row).
    enabled
        Count (default) or only evaluate.
    """

    _FLUSH_WORDS = 1 << 15

    def __init__(self, valid: np.ndarray, *, enabled: bool = True) -> None:
        if valid.ndim != 2 or valid.dtype != np.uint64:
            raise ValueError(f"valid must be a [rows, words] uint64 lane mask, got {valid.dtype} {valid.shape}.")
        self.valid = valid
        self.rows, self.words = valid.shape
        self.enabled = enabled
        self.lanes = popcount(valid).sum(-1, dtype=np.int64)            # [R]
        self._padding = ~valid[:, -1]                                    # padded lanes of each row's last word
        self._padded = bool(self._padding.any())
        self.neuron_updates_per_lane = 0
        self._accumulates = np.zeros(self.rows, dtype=np.int64)
        self._spikes = np.zeros(self.rows, dtype=np.int64)
        self._pending: dict[tuple[int, int], list[np.ndarray]] = {}
        self._pending_words = 0

    # -- evaluation ----------------------------------------------------------------------------------
    def fire(self, gate: ThresholdGate, *inputs: np.ndarray) -> np.ndarray:
        """Evaluate ``gate`` elementwise over broadcast ``inputs`` (one neuron per element) and count it."""
        out = gate.kernel(*inputs)
        if self.enabled:
            self.record(out, inputs)
        return out

    def fire_wide(self, gate: ThresholdGate, stack: np.ndarray) -> np.ndarray:
        """Evaluate a wide gate (one neuron per element of ``stack[0]``) whose inputs are ``stack[0..k-1]``."""
        if stack.shape[0] != gate.fan_in:
            raise ValueError(f"gate {gate.name} has {gate.fan_in} inputs, got a stack of {stack.shape[0]}.")
        out = gate.stack_kernel(stack) if gate.stack_kernel is not None else gate.kernel(*stack)
        if self.enabled:
            per_lane = math.prod(out.shape[:-2])
            self.neuron_updates_per_lane += per_lane
            self.tally(out, spikes=1)
            self.tally(stack, synapses=per_lane // max(1, math.prod(stack.shape[1:-2])))
        return out

    def record(self, out: np.ndarray, inputs: Sequence[np.ndarray]) -> None:
        """Count a layer of neurons evaluated elsewhere: one neuron per element of ``out`` (per lane), firing
        where ``out`` is set, each with a synapse from the matching element of every array in ``inputs``."""
        if not self.enabled:
            return
        per_lane = math.prod(out.shape[:-2])
        self.neuron_updates_per_lane += per_lane
        self.tally(out, spikes=1)
        fan: dict[int, list] = {}
        for x in inputs:
            entry = fan.setdefault(id(x), [x, 0])
            entry[1] += per_lane // max(1, math.prod(x.shape[:-2]))
        for x, synapses in fan.values():
            self.tally(x, synapses=synapses)

    def neurons(self, per_lane: int) -> None:
        """Add ``per_lane`` neurons to every lane (with :meth:`tally` for their spikes and synapses)."""
        if self.enabled:
            self.neuron_updates_per_lane += per_lane

    def tally(self, x: np.ndarray, *, spikes: int = 0, synapses: int = 0) -> None:
        """Count the set bits of ``x [..., R, W]`` (broadcast) ``spikes`` times as spikes and ``synapses``
        times as synaptic events (a signal read by ``synapses`` neurons)."""
        if not self.enabled or not (spikes or synapses):
            return
        if x.size <= 64 and x.shape[-2:] != (self.rows, self.words) and not x.any():
            return                                                    # a never-firing constant
        if x.ndim < 2 or x.shape[-2:] != (self.rows, self.words):
            lead = x.shape[:-2] if x.ndim >= 2 else ()
            x = np.broadcast_to(x, lead + (self.rows, self.words))
        flat = x.reshape(-1, self.rows, self.words)
        if flat.size >= self._FLUSH_WORDS:
            self._count((spikes, synapses), flat)
            return
        self._pending.setdefault((spikes, synapses), []).append(flat)
        self._pending_words += flat.size
        if self._pending_words >= self._FLUSH_WORDS:
            self.flush()

    def add_synaptic_events(self, inputs: np.ndarray) -> None:
        """Count one synaptic event per set bit of ``inputs [..., R, W]`` (wiring :meth:`record` cannot express,
        e.g. a lookup table whose neurons each read a different subset of a layer)."""
        self.tally(inputs, synapses=1)

    def _count(self, weights: tuple[int, int], flat: np.ndarray) -> None:
        per_word = popcount(flat).sum(axis=0, dtype=np.int32)                       # [R, W]
        counts = per_word.sum(axis=-1, dtype=np.int64)
        if self._padded:
            counts -= popcount(flat[..., -1] & self._padding).sum(axis=0, dtype=np.int64)
        spikes, synapses = weights
        if spikes:
            self._spikes += spikes * counts
        if synapses:
            self._accumulates += synapses * counts

    def flush(self) -> None:
        """Count everything recorded so far (called automatically by the totals)."""
        for weights, parts in self._pending.items():
            self._count(weights, parts[0] if len(parts) == 1 else np.concatenate(parts))
        self._pending.clear()
        self._pending_words = 0

    # -- totals --------------------------------------------------------------------------------------
    @property
    def spikes(self) -> np.ndarray:
        """Spikes per row ``[R]``."""
        self.flush()
        return self._spikes.copy()

    @property
    def accumulates(self) -> np.ndarray:
        """Synaptic events per row ``[R]``."""
        self.flush()
        return self._accumulates.copy()

    @property
    def neuron_updates(self) -> np.ndarray:
        """Neuron updates per row ``[R]`` (gates per lane × valid lanes)."""
        return self.neuron_updates_per_lane * self.lanes

    def counts(self, batch: int) -> torch.Tensor:
        """Per batch row (rows are batch-major, ``R = batch·k``): int64 ``[batch, 4]`` with columns
        ``macs (0), accumulates, neuron_updates, spikes`` — the layout of ``last_decision_ops``."""
        if self.rows % batch:
            raise ValueError(f"{self.rows} meter rows do not split into a batch of {batch}.")
        cols = [np.zeros(self.rows, np.int64), self.accumulates, self.neuron_updates, self.spikes]
        table = np.stack(cols, axis=1).reshape(batch, self.rows // batch, 4).sum(1)
        return torch.from_numpy(table)


# -- composite gates (2 neurons each) ----------------------------------------------------------------
COMPOSITE_NEURONS = {"xor": 2, "mux": 2, "half_adder": 2, "full_adder": 2}
"""Neurons per composite gate in this module."""
NEXUS_FULL_ADDER_NEURONS = 13
"""The NEXUS paper's full adder from AND/OR/NOT gates only, for comparison (not used here)."""


def _pair(meter: GateMeter, first: ThresholdGate, second: ThresholdGate, first_args: tuple[np.ndarray, ...],
          second_args: Callable[[np.ndarray], tuple[np.ndarray, ...]], *, shared: tuple[np.ndarray, ...],
          first_only: tuple[np.ndarray, ...] = (), second_only: tuple[np.ndarray, ...] = ()
          ) -> tuple[np.ndarray, np.ndarray]:
    """Two neurons per element: ``h = first(*first_args)``, ``y = second(*second_args(h))``; ``h`` feeds the
    second neuron. Inputs are listed once as ``shared`` (read by both), ``first_only`` or ``second_only``,
    so every signal is counted in one pass."""
    h = first.kernel(*first_args)
    y = second.kernel(*second_args(h))
    if meter.enabled:
        per_lane = math.prod(y.shape[:-2])
        meter.neurons(2 * per_lane)
        meter.tally(h, spikes=1, synapses=1)
        meter.tally(y, spikes=1)
        for group, readers in ((shared, 2), (first_only, 1), (second_only, 1)):
            for x in group:
                meter.tally(x, synapses=readers * per_lane // max(1, math.prod(x.shape[:-2])))
    return h, y


def xor(meter: GateMeter, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ⊕ b`` (2 neurons: ``h = AND(a, b)``, ``XOR_OUT(a, b, h)``)."""
    return _pair(meter, AND, XOR_OUT, (a, b), lambda h: (a, b, h), shared=(a, b))[1]


def mux(meter: GateMeter, s: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s ? b : a`` (2 neurons: ``n = AND(s, b)``, ``MUX_OUT(a, s, n)``)."""
    return _pair(meter, AND, MUX_OUT, (s, b), lambda n: (a, s, n), shared=(s,), first_only=(b,),
                 second_only=(a,))[1]


def half_adder(meter: GateMeter, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sum, carry)`` of ``a + b`` (2 neurons: carry ``AND``, sum ``XOR_OUT``)."""
    carry, total = _pair(meter, AND, XOR_OUT, (a, b), lambda h: (a, b, h), shared=(a, b))
    return total, carry


def full_adder(meter: GateMeter, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sum, carry)`` of ``a + b + c`` (2 neurons: carry ``MAJ``, sum ``SUM_OUT``)."""
    carry, total = _pair(meter, MAJ, SUM_OUT, (a, b, c), lambda m: (a, b, c, m), shared=(a, b, c))
    return total, carry
