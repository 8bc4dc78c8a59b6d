"""The spike-driven inference engine: a converted actor's decision costs what its spikes cost.

A decision of a :class:`~snnrl.agents.conversion.SpikingActor` (an MLP, or a CNN such as the pixel teachers'
NatureCNN) runs as one compiled (numba) call per batch:

1. the first layer once, as dense multiply-accumulates of the (clamped) observation: ``I = W₀·x + b₀`` (a first
   convolution is computed by torch, then handed to the call);
2. per timestep ``t`` and IF layer ``l``: ``V += I_l``; every neuron with ``V ≥ θ`` spikes and loses ``θ``
   (soft reset); the next layer's input current is its bias plus the **weight rows of the inputs that spiked**,
   ``I_{l+1} = b_{l+1} + Σ_{j spiked} W_{l+1}[:, j]`` — work proportional to spikes × fan-out, not to width (a
   convolution's column ``W[:, j]`` holds only the outputs input ``j`` reaches, kept channel-last so each position's
   output channels are one contiguous block);
3. the output layer accumulates the same way and the pre-action is its mean over ``T``;
4. start potentials ``V₀ + c`` (``V₀ = θ/2``, or a population's staggered starts) and the CRPI carry ``c``
   (:mod:`snnrl.agents.crpi`) are computed in the call, and the operation counts of
   :class:`~snnrl.opcount.OperationCounter` (MACs, accumulates, neuron updates, spikes per layer and batch row) come
   out as a by-product, so metering costs nothing.

Batches of an MLP actor (8 rows or more) run on a register-blocked C build of the same decision
(``spike_engine.c``, built with the system's C compiler for this CPU, :func:`native_kernel`): layer after layer over a
block of rows, the next layer's weights packed as chunks of 16 outputs so one chunk stays in L1 while every row adds the
rows of its spiked inputs into registers. It adds the same numbers in the same order as the numba kernel, so the two
agree bit for bit; without a C compiler (a one-line notice) or with ``SNNRL_NATIVE=0`` the numba kernel runs them.

The torch path (:meth:`SpikingActor.decide <snnrl.agents.conversion.SpikingActor.decide>`) stays the reference and
the path for autograd. The two sum the same numbers in another order (BLAS vs. row by row), so a potential that
lands within a few float32 ulps of ``θ`` can fire on one path and not on the other; ``benchmarks/decision_cost.py``
measures how often on recorded closed-loop decisions of every zoo actor.

Compilation happens once and is cached on disk (numba's cache; the C build under ``$SNNRL_HOME/native``); ``make``
warms both at install (``python -m snnrl.agents.spike_engine``), and a first use without a cache says so in one
line. Without numba, :func:`kernel_available` is false, a one-line notice is logged, and policies use the torch
path.

Example
-------
>>> import numpy as np
>>> from snnrl.agents.policy import SpikingPolicy
>>> policy = SpikingPolicy(snn, timesteps=8, engine="kernel")      # snn: a converted actor  # doctest: +SKIP
>>> action, state = policy.predict(np.zeros(snn.obs_dim, np.float32))                       # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import math
import operator
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnrl.agents.conversion import SpikingActor
from snnrl.agents.crpi import CRPIConfig
from snnrl.jit import compile_c, compile_kernel, numba_available

__all__ = ["ENGINES", "SpikeEngine", "EngineDecision", "kernel_available", "native_kernel", "declare_native",
           "NATIVE_MIN_BATCH", "native_setting", "engine_setting",
           "resolve_engine", "engine_record_names", "engine_supports", "LayerCounts"]

_VERSION = operator.attrgetter("_version")   # a tensor's in-place change counter

ENGINES = ("auto", "kernel", "torch")
"""``auto``: the kernel where numba is available, else torch (``benchmarks/decision_cost.py`` measured the kernel
faster than the torch path at every batch size it tried, 1 to 1024, with 1 and 2 torch threads); ``kernel``: always
the kernel (an error without numba); ``torch``: the reference path. The environment variable ``SNNRL_ENGINE``
overrides the default ``auto``."""


def _decide_rows(obs, clip, obs_low, obs_high, w_in, b_in, weights, w_off, biases, b_off, widths, thetas, starts, n_off,
                 tanh, action_low, action_high, order, in_order, sparse, sp_len, sp_ptr, p_off, blk_dst, blk_w,
                 sp_val, precomputed, first_in, first_macs, carry_in, reset, timesteps, crpi, alpha, use_floor, floor,
                 pre, action, v_end, spikes, carry_out, counts):  # pragma: no cover - compiled by numba
    """One decision for every row (see the module docstring). Writes ``pre``, ``action`` (the teacher's squashing of
    ``pre``: tanh rescaled to the action box, or a clip to it), ``v_end``, ``spikes``, ``carry_out`` and
    ``counts [B, 2L+1, 4]`` (macs, accumulates, neuron_updates, spikes; records in execution order).

    Neurons are held in the engine's order: a convolution's layer channel-last (``H·W·C``), so that the outputs one
    input reaches at one position are contiguous; ``order[i]`` is neuron ``i``'s index in the actor's (channel-major)
    order, in which carries, potentials and counts come in and go out (``in_order``: the two orders are one, as for
    an MLP, and neurons are copied as contiguous runs). Synapse ``l`` is dense (rows of ``weights``)
    or, where ``sparse[l]``, a convolution stored by input neuron as blocks: input ``j`` adds, for each block ``e`` in
    ``sp_ptr[p_off[l] + j] : sp_ptr[p_off[l] + j + 1]``, the ``sp_len[l]`` weights ``sp_val[blk_w[e]:]`` to the
    currents ``blk_dst[e]:`` (every structural connection, zero weights kept, so the accumulate count is the op
    counter's fan-out). With ``precomputed`` the first layer's current is ``first_in`` (a convolution computed by
    torch, actor order; ``first_macs`` its MACs) and ``obs`` is not read. ``starts`` are the neurons' fresh start
    potentials ``V₀`` (engine order; ``θ/2`` unless a population staggers them).

    Inner loops run over array *views* indexed from 0, so numba drops negative-index checks and vectorises them;
    the indices of a step's spikes are read eight neurons (one 64-bit word of spike bytes) at a time, skipping words
    in which none fired.
    """
    batch, obs_dim = pre.shape[0], obs.shape[1]
    layers = widths.shape[0] - 1
    n_total = thetas.shape[0]
    actions = widths[layers]
    widest = 0
    for l in range(layers + 1):
        widest = max(widest, widths[l])
    x = np.empty(obs_dim, dtype=np.float32)
    current = np.empty((layers + 1, widest), dtype=np.float32)        # input current of each layer
    total = np.empty(actions, dtype=np.float64)      # output sums in float64 (see below)
    v_start = np.empty(n_total, dtype=np.float32)
    v = np.empty(n_total, dtype=np.float32)            # potentials and spike counts in the engine's order
    n_spk = np.empty(n_total, dtype=np.float32)
    c_end = np.empty(n_total, dtype=np.float32)        # the CRPI carry, engine order
    words = (widest + 7) // 8
    fired = np.empty((2, 8 * words + 8), dtype=np.int64)
    fire = np.zeros(8 * words, dtype=np.uint8)         # this step's spikes as bytes, read as 64-bit words
    fire_words = fire.view(np.uint64)
    half = np.float32(0.5)
    half_theta = np.empty(n_total, dtype=np.float32)
    for i in range(n_total):
        half_theta[i] = half * thetas[i]
    for b in range(batch):
        first = current[0, :widths[0]]                                 # analog input: dense, once per decision
        if precomputed:
            f_in = first_in[b]
            for i in range(first.shape[0]):
                first[i] = f_in[order[i]]
            counts[b, 0, 0] = first_macs
        else:
            for k in range(obs_dim):
                xk = obs[b, k]
                if clip:
                    xk = min(max(xk, obs_low[k]), obs_high[k])
                x[k] = xk
            first[:] = b_in
            for k in range(obs_dim):
                xk = x[k]
                w_row = w_in[k]
                for i in range(first.shape[0]):
                    first[i] += w_row[i] * xk
            counts[b, 0, 0] = widths[0] * obs_dim
        c_in = carry_in[b]                                            # start potentials V₀ + c
        if reset[b]:
            v_start[:] = starts
        elif in_order:
            for i in range(n_total):
                v_start[i] = starts[i] + c_in[i]
        else:
            for i in range(n_total):
                v_start[i] = starts[i] + c_in[order[i]]
        v[:] = v_start
        n_spk[:] = 0.0
        total[:] = 0.0
        for t in range(timesteps):
            n_prev = 0
            for l in range(layers + 1):
                width = widths[l]
                cur = current[l, :width]
                if l == layers:                                      # accumulating output layer, in float64
                    start = w_off[l - 1]
                    for o in range(width):
                        total[o] += biases[b_off[l - 1] + o]
                    prev = fired[(l - 1) % 2]
                    for s in range(n_prev):
                        row = start + prev[s] * width
                        w_row = weights[row:row + width]
                        for o in range(width):
                            total[o] += w_row[o]
                    counts[b, 2 * l, 1] += n_prev * width
                    break
                if l > 0 and sparse[l - 1]:                          # a convolution: the spiked inputs' entries
                    cur[:] = biases[b_off[l - 1]:b_off[l - 1] + width]
                    prev = fired[(l - 1) % 2]
                    p0, run = p_off[l - 1], sp_len[l - 1]
                    blocks = 0
                    for s in range(n_prev):
                        lo, hi = sp_ptr[p0 + prev[s]], sp_ptr[p0 + prev[s] + 1]
                        for e in range(lo, hi):                      # a position's output channels: contiguous
                            c_blk = cur[blk_dst[e]:blk_dst[e] + run]
                            w_blk = sp_val[blk_w[e]:blk_w[e] + run]
                            for i in range(run):
                                c_blk[i] += w_blk[i]
                        blocks += hi - lo
                    counts[b, 2 * l, 1] += blocks * run
                elif l > 0:                                          # event-driven synapses: rows of spiked inputs
                    cur[:] = biases[b_off[l - 1]:b_off[l - 1] + width]
                    prev = fired[(l - 1) % 2]
                    start = w_off[l - 1]
                    s = 0
                    while s + 4 <= n_prev:           # four rows per pass over cur: same order of additions, fewer loads
                        r0, r1 = start + prev[s] * width, start + prev[s + 1] * width
                        r2, r3 = start + prev[s + 2] * width, start + prev[s + 3] * width
                        w0, w1 = weights[r0:r0 + width], weights[r1:r1 + width]
                        w2, w3 = weights[r2:r2 + width], weights[r3:r3 + width]
                        for i in range(width):
                            cur[i] = (((cur[i] + w0[i]) + w1[i]) + w2[i]) + w3[i]
                        s += 4
                    while s < n_prev:
                        row = start + prev[s] * width
                        w_row = weights[row:row + width]
                        for i in range(width):
                            cur[i] += w_row[i]
                        s += 1
                    counts[b, 2 * l, 1] += n_prev * width
                base = n_off[l]
                v_l, th_l, n_l, out = v[base:base + width], thetas[base:base + width], n_spk[base:base + width], fired[l % 2]
                s_l = fire[:width]
                for i in range(width):                               # IF: charge, fire, soft reset (vectorised)
                    vi = v_l[i] + cur[i]
                    spiked = vi >= th_l[i]
                    s_i = np.float32(spiked)
                    v_l[i] = vi - th_l[i] * s_i                      # V −= θ·s, as the torch path computes it
                    n_l[i] += s_i
                    s_l[i] = np.uint8(spiked)
                for i in range(width, 8 * ((width + 7) // 8)):   # bytes past the layer: no spike
                    fire[i] = 0
                n = 0
                for w in range((width + 7) // 8):                    # the indices of the neurons that spiked
                    if fire_words[w] != 0:
                        for i in range(8 * w, 8 * w + 8):
                            out[n] = i
                            n += fire[i]
                counts[b, 1 + 2 * l, 2] += width
                counts[b, 1 + 2 * l, 3] += n
                n_prev = n
        p_b, a_b = pre[b], action[b]
        for o in range(actions):
            p_o = np.float32(total[o] / timesteps)
            p_b[o] = p_o
            if tanh:                                                 # same operation order as SpikingActor
                a_b[o] = action_low[o] + half * (np.tanh(p_o) + np.float32(1.0)) * (action_high[o] - action_low[o])
            else:
                a_b[o] = max(min(p_o, action_high[o]), action_low[o])
        if crpi:                                                      # CRPI carry for the next decision
            for i in range(n_total):
                n_floor = floor if use_floor else n_spk[i]
                floored = alpha * max(v[i] - v_start[i], -n_floor * thetas[i])   # α·x is x exactly at α = 1
                c_end[i] = min(max(floored, -half_theta[i]), half_theta[i])
        else:
            c_end[:] = 0.0
        c_out, v_out, n_out = carry_out[b], v_end[b], spikes[b]
        if in_order:
            v_out[:] = v
            n_out[:] = n_spk
            c_out[:] = c_end
        else:
            for i in range(n_total):
                v_out[order[i]] = v[i]
                n_out[order[i]] = n_spk[i]
                c_out[order[i]] = c_end[i]


_KERNEL = None
_KERNEL_MISSING = False


def kernel_available() -> bool:
    """True when numba imports (the kernel can run); logs a one-line notice the first time it does not."""
    global _KERNEL_MISSING
    if _KERNEL is not None:
        return True
    if _KERNEL_MISSING:
        return False
    _KERNEL_MISSING = not numba_available("spiking policies run on the torch path")
    return not _KERNEL_MISSING


def _kernel():
    """The compiled kernel (compiled on first use, cached on disk by numba)."""
    global _KERNEL
    if _KERNEL is None:
        if not kernel_available():
            raise RuntimeError("the spike-driven kernel needs numba: `pip install numba`, or use engine='torch'.")
        _KERNEL = compile_kernel(_decide_rows, "the spike-driven kernel")
    return _KERNEL


_NATIVE_SOURCE = Path(__file__).with_name("spike_engine.c")
_NATIVE: Any = None
_NATIVE_TRIED = False
_P, _I64 = ctypes.c_void_p, ctypes.c_int64


class _NativeMLP(ctypes.Structure):
    """The C kernel's view of a packed MLP actor (``snnrl_mlp`` in ``spike_engine.c``)."""

    _fields_ = [("obs_dim", _I64), ("layers", _I64), ("widths", _P), ("clip", _I64), ("tanh_squash", _I64),
                ("obs_low", _P), ("obs_high", _P), ("w_in", _P), ("b_in", _P), ("packed", _P),
                ("packed_off", _P), ("bias_pad", _P), ("bias_off", _P), ("w_out", _P), ("b_out", _P),
                ("theta_pad", _P), ("pad_off", _P), ("n_off", _P), ("action_low", _P), ("action_high", _P),
                ("start_pad", _P)]


def native_kernel() -> Any:
    """The register-blocked C kernel for MLP actors (``spike_engine.c``, built for this CPU on first use and cached,
    :func:`snnrl.jit.compile_c`), or ``None`` where it cannot be built (then the numba kernel runs MLPs too)."""
    global _NATIVE, _NATIVE_TRIED
    if not _NATIVE_TRIED:
        _NATIVE_TRIED = True
        lib = compile_c(_NATIVE_SOURCE, "the register-blocked spike kernel")
        _NATIVE = None if lib is None else declare_native(lib)
    return _NATIVE


def declare_native(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` (a build of ``spike_engine.c``) with its functions' argument and result types declared."""
    f32, i32 = ctypes.c_float, ctypes.c_int32
    lib.snnrl_scratch_bytes.argtypes = [_I64, _P, _I64, _I64, _I64]
    lib.snnrl_scratch_bytes.restype = _I64
    lib.snnrl_decide_mlp.argtypes = [ctypes.POINTER(_NativeMLP), _I64, _I64, _P, _P, _P, i32, f32, i32, f32,
                                     _P, _P, _P, _P, _P, _P, _P, _I64, _I64]
    lib.snnrl_decide_mlp.restype = ctypes.c_int
    return lib


_NATIVE_ROWS = 512
"""Rows (samples x timesteps) of one block of the C kernel: the block's spike lists and potentials stay in cache."""
NATIVE_MIN_BATCH = 8
"""The C kernel runs batches of at least this many rows; smaller ones go to the numba kernel, whose call costs less
(``benchmarks/decision_cost.py`` times both)."""


def native_setting() -> bool:
    """Whether the C kernel may run (the environment variable ``SNNRL_NATIVE``: ``1``, the default, or ``0``)."""
    flag = os.environ.get("SNNRL_NATIVE", "1")
    if flag not in ("0", "1"):
        raise ValueError(f"SNNRL_NATIVE must be 0 or 1, got {flag!r}: unset it, or 0 to keep batches on numba.")
    return flag == "1"


def engine_setting(engine: str | None = None) -> str:
    """The checked engine setting: ``engine``, else the environment variable ``SNNRL_ENGINE``, else ``"auto"``
    (``SNNRL_NATIVE`` is checked too, :func:`native_setting`)."""
    native_setting()
    choice = engine or os.environ.get("SNNRL_ENGINE") or "auto"
    if choice not in ENGINES:
        source = "engine=" if engine else "SNNRL_ENGINE"
        raise ValueError(f"{source} must be one of {', '.join(ENGINES)}, got {choice!r}.")
    if choice == "kernel" and not kernel_available():
        raise ValueError(f"{'engine=' if engine else 'SNNRL_ENGINE='}kernel needs numba (`pip install numba`); use "
                         "'auto' or 'torch' without it.")
    return choice


def resolve_engine(setting: str) -> str:
    """``"kernel"`` or ``"torch"`` for a checked setting (:func:`engine_setting`)."""
    if setting == "auto":
        return "kernel" if kernel_available() else "torch"
    return setting


def engine_supports(actor: SpikingActor) -> bool:
    """Whether the kernel runs ``actor``: any MLP, and convolutions with numeric zero padding (a first convolution is
    computed by torch, later ones event-driven)."""
    feeds = [actor.input_layer, *[h.layer for h in actor.hidden_layers]]
    return all(not isinstance(f, nn.Conv2d) or (not isinstance(f.padding, str) and f.padding_mode == "zeros")
               for f in feeds)


def engine_record_names(layers: int) -> list[str]:
    """The layer names of the kernel's count records, as :class:`~snnrl.opcount.OperationCounter` names them on a
    :class:`~snnrl.agents.conversion.SpikingActor` with ``layers`` IF layers, in execution order."""
    names = ["input_layer"]
    for index in range(layers):
        names.append(f"neurons.{index}")
        names.append(f"hidden_layers.{index}" if index < layers - 1 else "output_layer")
    return names


class LayerCounts(Mapping[str, np.ndarray]):
    """A decision's counts by layer, read-only and without copies: ``counts[layer]`` is the int64 view ``[B, 4]``
    (``macs, accumulates, neuron_updates, spikes``) of the kernel's ``[B, layers, 4]`` array. Building one costs a
    reference, so metering stays free until the counts are read."""

    __slots__ = ("_index", "_counts")

    def __init__(self, index: Mapping[str, int], counts: np.ndarray) -> None:
        self._index, self._counts = index, counts

    def __getitem__(self, layer: str) -> np.ndarray:
        return self._counts[:, self._index[layer]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __reduce__(self) -> tuple[Any, ...]:
        return LayerCounts, (dict(self._index), self._counts)


@dataclass(frozen=True)
class EngineDecision:
    """One kernel decision for ``B`` rows (numpy arrays; ``N`` = all IF neurons, layer after layer).

    Attributes
    ----------
    pre_action, action
        ``[B, action_dim]`` float32: the output layer's mean over ``T``, and the action (the teacher's squashing).
    v_end, spike_counts, carry
        ``[B, N]`` float32: end potentials, spikes per neuron, the CRPI carry for the next decision (zeros without
        CRPI); ``v_end`` and ``spike_counts`` may be ``None`` where :meth:`SpikeEngine.run` was asked for no
        detail.
    counts
        ``[B, 2L+1, 4]`` int64 operation counts per record of :func:`engine_record_names`.
    """

    pre_action: np.ndarray
    action: np.ndarray
    v_end: np.ndarray | None
    spike_counts: np.ndarray | None
    carry: np.ndarray
    counts: np.ndarray


_NO_OBS = np.zeros((1, 0), dtype=np.float32)     # the kernel's unused observation / first-current argument


def _f32(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)


def _aligned(values: np.ndarray) -> np.ndarray:
    """A copy of ``values`` starting on a 64-byte boundary (a cache line: a 16-float load never spans two)."""
    room = np.empty(values.nbytes + 64, np.uint8)
    start = -room.ctypes.data % 64
    out = room[start:start + values.nbytes].view(values.dtype).reshape(values.shape)
    out[:] = values
    return out


def _channel_last(shape: tuple[int, ...]) -> np.ndarray:
    """The engine's order of a layer of ``shape``: ``order[i]`` is neuron ``i``'s index in the actor's order
    (identity for a flat layer; ``H·W·C`` positions for a ``(C, H, W)`` layer)."""
    if len(shape) != 3:
        return np.arange(math.prod(shape), dtype=np.int64)
    c, h, w = shape
    return (np.arange(c)[None, :] * (h * w) + np.arange(h * w)[:, None]).ravel().astype(np.int64)


def _conv_rows(layer: nn.Conv2d, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A convolution as blocks by input neuron, both layers channel-last (:func:`_channel_last`):
    ``(ptr [n_in + 1], block current offsets, block weight offsets, weights [kh·kw·C_in·C_out])``; a block is one
    output position's ``C_out`` currents and weights. Every structural connection is kept (zero weights too)."""
    if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
        raise ValueError(f"the spike-driven engine needs numeric zero padding; got padding={layer.padding!r}, "
                         f"padding_mode={layer.padding_mode!r}: use engine='torch'.")
    ci, h, w = in_shape
    co, oh, ow = out_shape
    kh, kw = layer.kernel_size
    (sh, sw), (ph, pw) = layer.stride, layer.padding
    y, x, c, ky, kx = np.meshgrid(np.arange(oh), np.arange(ow), np.arange(ci), np.arange(kh), np.arange(kw),
                                  indexing="ij")
    iy, ix = y * sh - ph + ky, x * sw - pw + kx
    keep = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    src = ((iy * w + ix) * ci + c)[keep]
    dst = ((y * ow + x) * co)[keep]
    w_at = (((ky * kw + kx) * ci + c) * co)[keep]
    order = np.lexsort((dst, src))
    ptr = np.zeros(ci * h * w + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=ci * h * w), out=ptr[1:])
    weights = _f32(layer.weight.permute(2, 3, 1, 0)).ravel()             # [kh, kw, C_in, C_out]
    return ptr, dst[order].astype(np.int64), w_at[order].astype(np.int64), weights


class SpikeEngine:
    """The packed weights of a :class:`~snnrl.agents.conversion.SpikingActor` for the event-driven kernel.

    The packing is refreshed automatically when the actor's parameters or buffers change in place (torch's
    version counters: ``load_state_dict``, optimiser steps, ``copy_``), so a policy never runs stale weights.
    Parameters *replaced* by new tensor objects are not seen: build a new engine (or policy) then.

    Parameters
    ----------
    actor
        The converted actor (CPU; any number of IF layers; convolutions with numeric zero padding,
        :func:`engine_supports`).
    native
        Run an MLP actor's batches of at least 8 rows on the register-blocked C kernel (:func:`native_kernel`):
        ``None`` (default) where it builds, unless the environment variable ``SNNRL_NATIVE=0``; ``False`` never (the
        numba kernel); ``True`` always (an error where it cannot be built). Both kernels give the same spikes,
        potentials, pre-actions and counts, bit for bit: they add the same numbers in the same order.
    """

    def __init__(self, actor: SpikingActor, native: bool | None = None) -> None:
        self.actor = actor
        self.native = native
        self.widths = [n.threshold.numel() for n in actor.neurons]
        self.record_names = engine_record_names(len(self.widths))
        self.record_index = {name: r for r, name in enumerate(self.record_names)}
        self.n_neurons = int(sum(self.widths))
        self.offsets = np.cumsum([0, *self.widths]).astype(np.int64)
        self.n_off = self.offsets[:-1].copy()
        self._pack()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its actor (the packing, with the C kernel's pointers, is rebuilt where it is loaded)."""
        return SpikeEngine, (self.actor, self.native)

    def _versions(self) -> tuple[int, ...]:
        return tuple(map(_VERSION, self._tensors))

    def _pack(self) -> None:
        a = self.actor
        self._tensors = [*a.parameters(), *a.buffers()]
        synapses = [m.layer for m in a.hidden_layers] + [a.output_layer.layer]
        self.precomputed = isinstance(a.input_layer, nn.Conv2d)   # torch computes a first convolution
        if self.precomputed:
            self.w_in = np.zeros((0, self.widths[0]), np.float32)
            self.b_in = np.zeros(self.widths[0], np.float32)
            self.first_macs = np.int64(self.widths[0] * a.input_layer.in_channels
                                       * math.prod(a.input_layer.kernel_size))
        else:
            self.w_in = _f32(a.input_layer.weight.T)
            self.b_in = _f32(a.input_layer.bias)
            self.first_macs = np.int64(0)
        orders = [_channel_last(shape) for shape in a.shapes]          # per IF layer: engine → actor order
        self.order = np.concatenate([o + off for o, off in zip(orders, self.n_off)])
        self.in_order = bool(np.array_equal(self.order, np.arange(self.order.size)))
        dense, ptrs, dsts, w_ats, vals, runs, w_off, p_off = [], [], [], [], [], [], [0], [0]
        for index, layer in enumerate(synapses):
            if isinstance(layer, nn.Conv2d):
                ptr, dst, w_at, val = _conv_rows(layer, a.shapes[index], a.shapes[index + 1])
                ptrs.append(ptr + sum(map(len, dsts)))
                dsts.append(dst)
                w_ats.append(w_at + sum(map(len, vals)))
                vals.append(val)
                runs.append(layer.out_channels)
                dense.append(np.zeros(0, np.float32))
            else:                                                       # rows by input neuron, engine order
                dense.append(_f32(layer.weight.T)[orders[index]].ravel())
                ptrs.append(np.zeros(0, np.int64))
                runs.append(0)
            w_off.append(w_off[-1] + dense[-1].size)
            p_off.append(p_off[-1] + ptrs[-1].size)
        self.sparse = np.asarray([isinstance(layer, nn.Conv2d) for layer in synapses], dtype=np.bool_)
        self.sp_len = np.asarray(runs, dtype=np.int64)
        self.weights = np.concatenate(dense)
        self.w_off = np.asarray(w_off[:-1], dtype=np.int64)
        self.sp_ptr = np.concatenate([*ptrs, np.zeros(1, np.int64)])
        self.p_off = np.asarray(p_off[:-1], dtype=np.int64)
        self.blk_dst = np.concatenate([np.zeros(0, np.int64), *dsts])
        self.blk_w = np.concatenate([np.zeros(0, np.int64), *w_ats])
        self.sp_val = np.concatenate([np.zeros(0, np.float32), *vals])
        biases = [np.tile(_f32(s.bias), math.prod(a.shapes[i + 1][1:])) if isinstance(s, nn.Conv2d)
                  else _f32(s.bias) for i, s in enumerate(synapses)]   # a conv bias per output neuron
        self.biases = np.concatenate(biases)
        self.b_off = np.cumsum([0] + [b.size for b in biases[:-1]]).astype(np.int64)
        self.layer_widths = np.asarray([*self.widths, a.action_dim], dtype=np.int64)
        self.thetas = np.concatenate([_f32(t) for t in a.thresholds])[self.order]
        self.starts = np.concatenate([_f32(v) for v in a.start_potentials])[self.order]
        self.clip = a.obs_low is not None and not self.precomputed      # torch clamps before a first convolution
        self.tanh = a.squash == "tanh"
        self.action_low, self.action_high = _f32(a.action_low), _f32(a.action_high)
        dim = 0 if self.precomputed else a.obs_dim
        self.obs_low = _f32(a.obs_low) if self.clip else np.zeros(dim, np.float32)
        self.obs_high = _f32(a.obs_high) if self.clip else np.zeros(dim, np.float32)
        self._actions = a.action_dim
        self._static = (self.clip, self.obs_low, self.obs_high, self.w_in, self.b_in, self.weights, self.w_off,
                        self.biases, self.b_off, self.layer_widths, self.thetas, self.starts, self.n_off, self.tanh,
                        self.action_low, self.action_high, self.order, self.in_order, self.sparse, self.sp_len,
                        self.sp_ptr, self.p_off, self.blk_dst, self.blk_w, self.sp_val, self.precomputed)
        self._crpi_key: object = False
        self._pack_native()
        self._version = self._versions()

    def _pack_native(self) -> None:
        """The C kernel's packing of an MLP (``snnrl_mlp``): hidden weights as chunks of 16 outputs
        (``[chunk][input][16]``, zeros past the layer, one more input of zeros), padded biases, thresholds padded with
        ``+inf`` (they never fire)."""
        mlp = not self.precomputed and not self.sparse.any() and max(self.widths) < 2 ** 16
        wanted = self.native if self.native is not None else native_setting()
        lib = native_kernel() if wanted and mlp else None
        if self.native and lib is None:
            raise ValueError("native=True needs an MLP actor and a working C compiler (see the notice above); use "
                             "native=None to fall back to the numba kernel.")
        self._native = lib
        if lib is None:
            return
        widths = self.widths
        layers = len(widths)
        pad = [-(-w // 16) * 16 for w in widths]
        packed, bias_pad, theta_pad, start_pad = [np.zeros(16, np.float32)], [np.zeros(16, np.float32)], [], []
        for l in range(layers):
            theta = np.full(pad[l], np.inf, np.float32)
            theta[:widths[l]] = self.thetas[self.n_off[l]:self.n_off[l] + widths[l]]
            theta_pad.append(theta)
            start = np.zeros(pad[l], np.float32)
            start[:widths[l]] = self.starts[self.n_off[l]:self.n_off[l] + widths[l]]
            start_pad.append(start)
        for l in range(1, layers):
            rows = self.weights[self.w_off[l - 1]:self.w_off[l - 1] + widths[l - 1] * widths[l]]
            block = np.zeros((widths[l - 1] + 1, pad[l]), np.float32)       # the last row: zeros
            block[:-1, :widths[l]] = rows.reshape(widths[l - 1], widths[l])
            packed.append(np.ascontiguousarray(block.reshape(-1, pad[l] // 16, 16).transpose(1, 0, 2)).ravel())
            bias = np.zeros(pad[l], np.float32)
            bias[:widths[l]] = self.biases[self.b_off[l - 1]:self.b_off[l - 1] + widths[l]]
            bias_pad.append(bias)
        w_in = np.zeros((self.w_in.shape[0], pad[0]), np.float32)
        w_in[:, :widths[0]] = self.w_in
        b_in = np.zeros(pad[0], np.float32)
        b_in[:widths[0]] = self.b_in
        keep = {
            "widths": self.layer_widths, "obs_low": self.obs_low, "obs_high": self.obs_high, "w_in": _aligned(w_in),
            "b_in": b_in, "packed": _aligned(np.concatenate(packed)), "bias_pad": np.concatenate(bias_pad),
            "packed_off": np.cumsum([0, *map(len, packed[:-1])]).astype(np.int64),   # layer 0: the unused zeros
            "bias_off": np.cumsum([0, *map(len, bias_pad[:-1])]).astype(np.int64),
            "w_out": np.concatenate([self.weights[self.w_off[layers - 1]:], np.zeros(self._actions, np.float32)]),
            "b_out": np.ascontiguousarray(self.biases[self.b_off[layers - 1]:]),
            "theta_pad": np.concatenate(theta_pad), "pad_off": np.cumsum([0, *pad[:-1]]).astype(np.int64),
            "n_off": self.n_off, "action_low": self.action_low, "action_high": self.action_high,
            "start_pad": np.concatenate(start_pad)}
        self._native_arrays = keep                          # the struct points into these
        self._native_net = _NativeMLP(self.actor.obs_dim, layers, *(
            keep["widths"].ctypes.data, int(self.clip), int(self.tanh), *(keep[k].ctypes.data for k in (
                "obs_low", "obs_high", "w_in", "b_in", "packed", "packed_off", "bias_pad", "bias_off", "w_out",
                "b_out", "theta_pad", "pad_off", "n_off", "action_low", "action_high", "start_pad"))))
        self._native_ref = ctypes.byref(self._native_net)
        self._scratch = threading.local()                   # per thread: concurrent decisions never share one
        self._zero_arrays: dict[tuple[int, int], np.ndarray] = {}

    def _native_scratch(self, rows_per_sample: int, block: int) -> tuple[int, int]:
        """The address and size of this thread's scratch buffer for ``block`` samples of ``rows_per_sample``
        timesteps (kept for the next call)."""
        buffers = self._scratch.__dict__.setdefault("buffers", {})
        key = (rows_per_sample, block)
        if key not in buffers:
            size = self._native.snnrl_scratch_bytes(len(self.widths), self._native_arrays["widths"].ctypes.data,
                                                    self.actor.obs_dim, rows_per_sample, block)
            room = np.empty(size, np.uint8)
            buffers[key] = (room, room.ctypes.data, size)
        return buffers[key][1:]

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per-layer views ``[B, width]`` of a ``[B, N]`` array."""
        return [flat[:, self.offsets[i]:self.offsets[i + 1]] for i in range(len(self.widths))]

    def run(self, obs: np.ndarray, carry: np.ndarray, reset: np.ndarray, timesteps: int,
            crpi: CRPIConfig | None, *, detail: bool = True) -> EngineDecision:
        """One decision on ``obs [B, obs_dim]`` float32 from carries ``[B, N]`` (rows with ``reset`` start at
        ``V₀``, :attr:`~snnrl.agents.conversion.SpikingActor.start_potentials`), ``timesteps`` IF steps, CRPI or
        plain conversion (all arrays C-contiguous). ``detail=False``: the end potentials and spike counts may be
        left out (``None``), as a policy's ``predict`` does not read them."""
        if self._versions() != self._version:
            self._pack()
        batch = obs.shape[0]
        if self._native is not None and batch >= NATIVE_MIN_BATCH:
            return self._run_native(obs, carry, reset, timesteps, crpi, detail)
        outputs = np.empty((2, batch, self._actions), dtype=np.float32)            # pre-action, action
        neurons = np.empty((3, batch, self.n_neurons), dtype=np.float32)           # v_end, spikes, carry
        counts = np.zeros((batch, len(self.record_names), 4), dtype=np.int64)
        if self.precomputed:
            with torch.no_grad():
                first = self.actor.input_current(torch.from_numpy(obs)).numpy()
            obs = _NO_OBS
        else:
            first = _NO_OBS
        kernel = _KERNEL if _KERNEL is not None else _kernel()
        kernel(obs, *self._static, np.ascontiguousarray(first, dtype=np.float32), self.first_macs, carry, reset,
               timesteps, *self._crpi_args(crpi), outputs[0], outputs[1], neurons[0], neurons[1], neurons[2], counts)
        return EngineDecision(outputs[0], outputs[1], neurons[0], neurons[1], neurons[2], counts)

    def _run_native(self, obs: np.ndarray, carry: np.ndarray, reset: np.ndarray, timesteps: int,
                    crpi: CRPIConfig | None, detail: bool) -> EngineDecision:
        """:meth:`run` on the C kernel: every output in one buffer (one address to look up)."""
        batch, actions, neurons = obs.shape[0], self._actions, self.n_neurons
        block = max(1, min(batch, _NATIVE_ROWS // timesteps))
        scratch, size = self._native_scratch(timesteps, block)
        obs = np.ascontiguousarray(obs, dtype=np.float32)           # no copies when they already are
        carry = np.ascontiguousarray(carry, dtype=np.float32)
        reset = np.ascontiguousarray(reset, dtype=np.bool_)
        zero_carry = crpi is None and not detail      # no carry to compute: a shared array of zeros stands for it
        ba, bn = batch * actions, batch * neurons
        rows = bn if detail else 0                                       # end potentials and spike counts
        # one float32 buffer: pre-action, action, carry (unless zero), spike counts, end potentials; then the counts
        at_carry = 2 * ba
        at_spikes = at_carry + (0 if zero_carry else bn)
        at_v_end = at_spikes + rows
        floats = at_v_end + rows
        at_counts = -(-floats // 2) * 8                                  # bytes
        buffer = np.empty(at_counts + batch * len(self.record_names) * 32, np.uint8)
        base = buffer.ctypes.data
        out = buffer[:floats * 4].view(np.float32)
        alpha, floor_on, floor = self._crpi_args(crpi)[1:]
        status = self._native.snnrl_decide_mlp(                         # None (NULL): the kernel skips that output
            self._native_ref, batch, timesteps, obs.ctypes.data, carry.ctypes.data, reset.ctypes.data,
            crpi is not None, alpha, floor_on, floor, base, base + 4 * ba, base + 4 * at_v_end if detail else None,
            base + 4 * at_spikes if detail else None, None if zero_carry else base + 4 * at_carry,
            base + at_counts, scratch, size, block)
        if status != 0:
            raise RuntimeError("the C spike kernel refused its scratch buffer (a bug: please report it).")
        shape = (batch, neurons)
        return EngineDecision(out[:ba].reshape(batch, actions), out[ba:2 * ba].reshape(batch, actions),
                              out[at_v_end:at_v_end + bn].reshape(shape) if detail else None,
                              out[at_spikes:at_spikes + bn].reshape(shape) if detail else None,
                              self._zeros(shape) if zero_carry else out[at_carry:at_carry + bn].reshape(shape),
                              buffer[at_counts:].view(np.int64).reshape(batch, len(self.record_names), 4))

    def _zeros(self, shape: tuple[int, int]) -> np.ndarray:
        """A read-only ``[B, N]`` array of zeros, kept per batch size (the carry of a decision without CRPI)."""
        if shape not in self._zero_arrays:
            zeros = np.zeros(shape, np.float32)
            zeros.flags.writeable = False
            self._zero_arrays[shape] = zeros
        return self._zero_arrays[shape]

    def _crpi_args(self, crpi: CRPIConfig | None) -> tuple[bool, np.float32, bool, np.float32]:
        """The kernel's CRPI arguments (cached for the last ``crpi`` seen)."""
        if self._crpi_key is not crpi:
            floor = crpi is not None and crpi.floor_spikes is not None
            self._crpi_cached = (crpi is not None, np.float32(crpi.alpha if crpi is not None else 1.0), floor,
                                 np.float32(crpi.floor_spikes if floor else 0.0))
            self._crpi_key = crpi
        return self._crpi_cached


def _warm_cache() -> int:
    """Compile the kernel into numba's disk cache (``python -m snnrl.agents.spike_engine``; run by ``make``)."""
    if not kernel_available():
        return 0
    layer = nn.Linear(2, 2)
    actor = SpikingActor(layer, [], nn.Linear(2, 1), [torch.ones(2)], obs_low=None, obs_high=None,
                         action_low=-torch.ones(1), action_high=torch.ones(1), squash="tanh")
    engine = SpikeEngine(actor)
    for batch in (1, NATIVE_MIN_BATCH):            # the numba kernel, then the C kernel where it builds
        for crpi in (None, CRPIConfig(), CRPIConfig(floor_spikes=1.0)):
            engine.run(np.zeros((batch, 2), np.float32), np.zeros((batch, 2), np.float32), np.zeros(batch, bool), 2,
                       crpi)
    built = "and the C kernel " if native_kernel() is not None else ""
    print(f"snnrl: spike-driven kernel {built}compiled and cached.")
    return 0


if __name__ == "__main__":
    sys.exit(_warm_cache())
