"""Multi-bit integer blocks built from the IF gates of :mod:`snnrl.exact.gates`, on bit planes.

An ``n``-bit unsigned (or two's-complement) integer is a plane array ``[n, R, W]``, bit 0 first. The circuits
are ripple-carry (one carry neuron per bit, each reading the previous carry); the simulation obtains the
carry bits by prefix doubling (same values, fewer vectorised steps) and evaluates every other gate layer at
once over all bit positions and lanes. Counts are those of the ripple circuit. Neuron counts (``n`` bits):

* :func:`ripple_add` — ``2n``: ``n`` full adders (``MAJ`` carry + ``SUM_OUT`` sum); with ``invert_b``,
  ``a + ¬b + c`` from ``MAJ_INV`` + ``SUM_INV`` (subtraction without NOT gates);
* :func:`carry_save` — ``2n``: one full adder per bit, no propagation;
* :func:`increment` — ``2n``: ``n`` half adders (``AND`` carry + ``XOR_OUT`` sum);
* :func:`compare_ge` — ``n``: the borrow chain of ``a − b`` (``MAJ_INV``);
* :func:`normalise_left` — ``Σ_k (2n − k + 1)`` over levels ``k``: a NOR of the top ``k`` bits, ``n − k`` MUXes
  and ``k`` INHIBITs (the bits shifted in are zero);
* :func:`shift_right_sticky` — ``Σ_k (2n − k + 2)`` over levels ``k`` (one less for ``k = 1``): ``n − k``
  MUXes, ``k`` INHIBITs, an OR of the ``k`` bits shifted out and a sticky update; ``n + 2`` more to saturate.
"""

from __future__ import annotations

import numpy as np

from snnrl.exact.gates import (AND, INHIBIT, MAJ_INV, OR_AND, SUM_INV, SUM_OUT, XOR_OUT, GateMeter, full_adder,
                               literal_and, literal_or, mux)

__all__ = ["zeros_like_planes", "stack_planes", "ripple_add", "carry_save", "increment", "compare_ge",
           "normalise_left", "shift_right_sticky"]


def zeros_like_planes(count: int) -> np.ndarray:
    """``count`` never-firing constant planes ``[count, 1, 1]``."""
    return np.zeros((count, 1, 1), dtype=np.uint64)


def stack_planes(*parts: np.ndarray) -> np.ndarray:
    """Concatenate plane arrays ``[k_i, ...]`` along the bit axis, broadcasting their other axes."""
    first = parts[0].shape[1:]
    if all(p.shape[1:] == first for p in parts[1:]):
        return np.concatenate(parts)
    shape = np.broadcast_shapes(*(p.shape[1:] for p in parts))
    return np.concatenate([np.broadcast_to(p, p.shape[:1] + shape) for p in parts])


def _chain(g: np.ndarray, p: np.ndarray, cin: np.ndarray) -> np.ndarray:
    """Carries of a ripple chain, ``c[0] = cin``, ``c[i+1] = g[i] ∨ (p[i] ∧ c[i])`` (the output of carry neuron
    ``i``): ``[n+1, ...]``.

    The values are those of the ripple chain; the simulation obtains them by prefix doubling over
    ``(g, p)`` (``⌈log2(n+1)⌉`` vectorised steps instead of ``n``), which gives the same bits.
    """
    n = g.shape[0]
    shape = np.broadcast_shapes(g.shape[1:], p.shape[1:], cin.shape)
    gen = np.empty((n + 1,) + shape, dtype=np.uint64)
    gen[0] = cin
    gen[1:] = g
    prop = np.zeros((n + 1,) + shape, dtype=np.uint64)
    prop[1:] = p
    d = 1
    while d <= n:                       # gen[i] <- carry into bit i from all of bits < i and cin
        gen[d:] |= prop[d:] & gen[:-d]
        prop[d:] &= prop[:-d]
        d *= 2
    return gen


def _tally_chain(meter: GateMeter, carries: np.ndarray, sums: np.ndarray | None,
                 operands: tuple[np.ndarray, ...]) -> None:
    """Counts of a carry chain (one carry neuron per bit reading its operands and ``carries[i]``) plus, if
    ``sums`` is given, one sum neuron per bit reading the operands, ``carries[i]`` and ``carries[i+1]``."""
    if not meter.enabled:
        return
    per_lane = np.prod(carries.shape[1:-2], dtype=np.int64) * (carries.shape[0] - 1)
    readers = 2 if sums is not None else 1
    meter.neurons(int(per_lane) * readers)
    meter.tally(carries[:1], synapses=readers)
    meter.tally(carries[1:-1], spikes=1, synapses=readers + (1 if sums is not None else 0))
    meter.tally(carries[-1:], spikes=1, synapses=1 if sums is not None else 0)
    if sums is not None:
        meter.tally(sums, spikes=1)
    for x in operands:
        meter.tally(x, synapses=readers * int(per_lane) // max(1, int(np.prod(x.shape[:-2], dtype=np.int64))))


def ripple_add(meter: GateMeter, a: np.ndarray, b: np.ndarray, cin: np.ndarray | None = None, *,
               invert_b: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``a + b + cin`` (or ``a + ¬b + cin``) of two ``n``-bit plane arrays: ``(sum [n, ...], carry out)``.

    ``2n`` neurons. Subtraction ``a − b`` is ``ripple_add(a, b, ONE, invert_b=True)``; its carry out is
    ``a ≥ b`` for unsigned operands.
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"ripple_add needs operands of equal width, got {a.shape[0]} and {b.shape[0]} bits.")
    c0 = np.zeros((1, 1), dtype=np.uint64) if cin is None else cin
    bb = ~b if invert_b else b
    carries = _chain(a & bb, a | bb, c0)                     # carry neurons MAJ / MAJ_INV
    sums = (SUM_INV if invert_b else SUM_OUT).kernel(a, b, carries[:-1], carries[1:])
    _tally_chain(meter, carries, sums, (a, b))
    return sums, carries[-1]


def carry_save(meter: GateMeter, a: np.ndarray, b: np.ndarray, c: np.ndarray, *,
               invert_b: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One full adder per bit (no propagation): ``a + b + c = sum + 2·carry`` bitwise; ``2n`` neurons."""
    if not invert_b:
        return full_adder(meter, a, b, c)
    carry = meter.fire(MAJ_INV, a, b, c)
    return meter.fire(SUM_INV, a, b, c, carry), carry


def increment(meter: GateMeter, a: np.ndarray, inc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a + inc`` for a one-bit ``inc``: ``(sum [n, ...], carry out)``; ``2n`` neurons (half adders)."""
    head = np.broadcast_to(inc, np.broadcast_shapes(inc.shape, a.shape[1:]))
    carries = np.bitwise_and.accumulate(stack_planes(head[None], a), axis=0)   # AND chain, one neuron per bit
    sums = XOR_OUT.kernel(a, carries[:-1], carries[1:])
    _tally_chain(meter, carries, sums, (a,))
    return sums, carries[-1]


def compare_ge(meter: GateMeter, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ≥ b`` for ``n``-bit unsigned plane arrays: the carry out of ``a + ¬b + 1``; ``n`` neurons."""
    one = np.full((1, 1), np.uint64(0xFFFF_FFFF_FFFF_FFFF))
    carries = _chain(a & ~b, a | ~b, one)                    # MAJ_INV chain
    _tally_chain(meter, carries, None, (a, b))
    return carries[-1]


def normalise_left(meter: GateMeter, x: np.ndarray, levels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``x`` left until its top bit is set: ``(shifted, leading-zero count bits)``.

    ``levels`` are decreasing powers of two whose sum covers the width (e.g. ``(16, 8, 4, 2, 1)``); level ``k``
    shifts by ``k`` iff the top ``k`` bits are all zero. The count has one bit per level, LSB first.
    For ``x = 0`` every level fires.
    """
    n = x.shape[0]
    zs = []
    for k in levels:
        if not 0 < k < n:
            raise ValueError(f"normalise_left: level {k} must lie in (0, {n}).")
        z = meter.fire_wide(literal_and((True,) * k), x[n - k:])
        low = meter.fire(INHIBIT, x[:k], z)
        high = mux(meter, z, x[k:], x[:n - k])
        x = stack_planes(low, high)
        zs.append(z)
    return x, stack_planes(*(z[None] for z in reversed(zs)))


def shift_right_sticky(meter: GateMeter, x: np.ndarray, amount: np.ndarray,
                       saturate: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``x`` right by ``amount`` (bits LSB first, level ``i`` shifts by ``2^i``), OR-ing every bit
    shifted out into a sticky bit: ``(shifted, sticky)``. ``saturate`` (optional) shifts everything out."""
    n = x.shape[0]
    sticky: np.ndarray | None = None
    for i in range(amount.shape[0]):
        k, s = 1 << i, amount[i]
        if k >= n:
            raise ValueError(f"shift_right_sticky: level {k} must be below the width {n}; use saturate.")
        out_bits = x[0] if k == 1 else meter.fire_wide(literal_or((False,) * k), x[:k])
        sticky = meter.fire(AND, s, out_bits) if sticky is None else meter.fire(OR_AND, sticky, s, out_bits)
        low = mux(meter, s, x[:n - k], x[k:])
        high = meter.fire(INHIBIT, x[n - k:], s)
        x = stack_planes(low, high)
    if saturate is not None:
        any_bit = meter.fire_wide(literal_or((False,) * n), x)
        sticky = meter.fire(AND, saturate, any_bit) if sticky is None else meter.fire(OR_AND, sticky, saturate, any_bit)
        x = meter.fire(INHIBIT, x, saturate)
    if sticky is None:
        sticky = np.zeros((1, 1), dtype=np.uint64)
    return x, sticky

