"""Spatial bit encoding: a float32 value as 32 parallel spikes in one timestep, packed into bit planes.

Value ``x`` becomes the 32 bits of its IEEE-754 binary32 word, ``s = bits[31]``, ``e = bits[30:23]``,
``m = bits[22:0]`` — one spike per set bit, all in the same timestep. Encoding and decoding are lossless by
construction (no rate or latency code).

Layout (see :mod:`snnrl.exact.gates`): a tensor of values ``[R, n]`` becomes a ``uint64`` array
``[32, R, W]``, ``W = ceil(n/64)``: plane ``i`` holds bit ``i`` (LSB first) of every value, lane ``l`` of row
``r`` is bit ``l % 64`` of word ``l // 64``. Padded lanes hold ``+0.0``.

Example
-------
>>> import torch
>>> x = torch.tensor([[1.0, -2.5, float("inf")]])
>>> planes = encode(x)
>>> planes.shape
(32, 1, 1)
>>> torch.equal(decode(planes, 3), x)
True
>>> [int(planes[i, 0, 0]) & 1 for i in (31, 30, 23, 22)]    # 1.0 = 0x3F800000: sign 0, exponent 127
[0, 0, 1, 0]
"""

from __future__ import annotations

import numpy as np
import torch

from snnrl.exact.gates import ALL_ONES

__all__ = ["encode", "decode", "encode_broadcast", "constant_planes", "lane_bits", "FLOAT_BITS"]

FLOAT_BITS = 32
_SHIFTS = np.arange(FLOAT_BITS, dtype=np.uint32)


def _as_float32(x: torch.Tensor | np.ndarray) -> np.ndarray:
    t = torch.as_tensor(x)
    if t.dtype != torch.float32:
        raise TypeError(f"exact mode encodes float32 values, got {t.dtype}. Convert with .float() first.")
    return t.detach().cpu().contiguous().numpy()


def encode(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[R, n]`` float32 -> ``[32, R, ceil(n/64)]`` uint64 bit planes (padded lanes are +0.0)."""
    values = _as_float32(x)
    if values.ndim != 2:
        raise ValueError(f"encode expects values [rows, n], got shape {values.shape}.")
    rows, n = values.shape
    words = max(1, -(-n // 64))
    raw = np.zeros((rows, words * 64), dtype=np.uint32)
    raw[:, :n] = values.view(np.uint32)
    bits = ((raw[None] >> _SHIFTS[:, None, None]) & 1).astype(np.uint8)        # [32, R, W*64]
    return np.packbits(bits, axis=-1, bitorder="little").view(np.uint64).reshape(FLOAT_BITS, rows, words)


def lane_bits(planes: np.ndarray, n: int) -> np.ndarray:
    """``[k, R, W]`` planes -> ``[k, R, n]`` uint8 bits of the first ``n`` lanes."""
    k, rows, words = planes.shape
    as_bytes = np.ascontiguousarray(np.broadcast_to(planes, (k, rows, words))).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]


def decode(planes: np.ndarray, n: int) -> torch.Tensor:
    """``[32, R, W]`` bit planes -> ``[R, n]`` float32 values of the first ``n`` lanes."""
    if planes.shape[0] != FLOAT_BITS:
        raise ValueError(f"decode expects {FLOAT_BITS} bit planes, got {planes.shape[0]}.")
    bits = lane_bits(planes, n).astype(np.uint32)
    words = (bits << _SHIFTS[:, None, None]).sum(0, dtype=np.uint32)
    return torch.from_numpy(np.ascontiguousarray(words).view(np.float32))


def encode_broadcast(bits: np.ndarray) -> np.ndarray:
    """``[k, R]`` 0/1 bits -> ``[k, R, 1]`` planes whose lanes all carry the row's bit (one value fanned
    out to every lane of its row: a wire, no neuron)."""
    return np.where(bits.astype(bool), ALL_ONES, np.uint64(0))[..., None]


def constant_planes(value: int, nbits: int) -> np.ndarray:
    """``[nbits, 1, 1]`` planes of the unsigned constant ``value`` (always-on / never-on spike sources)."""
    if not 0 <= value < (1 << nbits):
        raise ValueError(f"constant {value} does not fit {nbits} bits.")
    out = np.zeros((nbits, 1, 1), dtype=np.uint64)
    for i in range(nbits):
        if (value >> i) & 1:
            out[i] = ALL_ONES
    return out
