"""A ReLU MLP actor as IF-gate circuits on spatially bit-encoded float32 values (one timestep per decision).

:class:`ExactNetwork` runs :func:`snnrl.exact.reference.reference_actor_forward` gate by gate:

1. every observation value is bit-encoded (32 parallel spikes) and fanned out to the multipliers of its row;
2. each layer ``y = W x + b``: all ``in × out`` products at once (:func:`~snnrl.exact.floats.float_mul_planes`,
   lanes = outputs, rows = (batch, input)), then the sums in index order, one
   :func:`~snnrl.exact.floats.float_add_planes` per input, then ``+ b`` (:func:`sequential_linear`'s order);
3. hidden layers: :func:`~snnrl.exact.floats.relu_planes`; the output layer: tanh
   (:func:`~snnrl.exact.tanh.tanh_planes`) and ``low + ((t + 1)·0.5)·(high − low)``, with ``high − low`` folded
   into a constant at conversion (``torch.sub``, the same float32 operation);
4. the action bits are decoded (lossless).

Per decision it reports, per circuit and batch row, ``[macs (0), accumulates, neuron_updates, spikes]``
(:meth:`snnrl.exact.gates.GateMeter.counts`) under the names ``layer{i}.mul``, ``layer{i}.add``,
``layer{i}.relu``, ``head.mul``, ``head.add`` and ``squash``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from snnrl.exact.bits import constant_planes, decode, encode, encode_broadcast, lane_bits
from snnrl.exact.floats import float_add_planes, float_mul_planes, relu_planes
from snnrl.exact.gates import GateMeter, lane_mask
from snnrl.exact.tanh import tanh_planes

__all__ = ["ExactLayer", "ExactNetwork"]

_ONE_BITS, _HALF_BITS = 0x3F800000, 0x3F000000


@dataclass(frozen=True)
class ExactLayer:
    """One linear layer's constants as bit planes: ``weight [32, in, W]`` (row ``i`` holds ``W[:, i]`` across
    the output lanes) and ``bias [32, 1, W]``."""

    name: str
    in_features: int
    out_features: int
    weight: np.ndarray
    bias: np.ndarray
    relu: bool

    @classmethod
    def from_linear(cls, name: str, weight: torch.Tensor, bias: torch.Tensor | None, *, relu: bool) -> "ExactLayer":
        w = weight.detach().to(torch.float32)
        b = torch.zeros(w.shape[0]) if bias is None else bias.detach().to(torch.float32)
        return cls(name, w.shape[1], w.shape[0], encode(w.t().contiguous()), encode(b.reshape(1, -1)), relu)


def _fan_out(planes: np.ndarray, n: int) -> np.ndarray:
    """``[32, B, W]`` planes of ``n`` values per row -> ``[32, B·n, 1]``: value ``(b, i)`` on every lane of row
    ``b·n + i`` (the wiring from one layer's outputs to the next layer's multipliers)."""
    bits = lane_bits(planes, n)                                    # [32, B, n]
    return encode_broadcast(bits.reshape(bits.shape[0], -1))


class ExactNetwork:
    """Gate-level evaluation of a ReLU MLP with tanh-squashed, rescaled outputs.

    Parameters
    ----------
    layers
        Hidden layers (with ReLU) followed by the output layer (without), as :class:`ExactLayer`.
    action_low, action_high
        Action bounds (float32).
    """

    def __init__(self, layers: list[ExactLayer], *, action_low: torch.Tensor, action_high: torch.Tensor) -> None:
        if not layers or layers[-1].relu or not all(layer.relu for layer in layers[:-1]):
            raise ValueError("ExactNetwork needs ReLU hidden layers followed by one output layer without ReLU.")
        self.layers = layers
        low = action_low.detach().to(torch.float32).reshape(1, -1)
        span = torch.sub(action_high.detach().to(torch.float32).reshape(1, -1), low)   # constant folding
        if low.shape[1] != layers[-1].out_features:
            raise ValueError(f"action bounds have {low.shape[1]} entries for {layers[-1].out_features} outputs.")
        self._low, self._span = encode(low), encode(span)
        self._weights_for_batch: dict[tuple[str, int], np.ndarray] = {}

    @property
    def obs_dim(self) -> int:
        return self.layers[0].in_features

    @property
    def action_dim(self) -> int:
        return self.layers[-1].out_features

    def _weight_rows(self, layer: ExactLayer, batch: int) -> np.ndarray:
        key = (layer.name, batch)
        if key not in self._weights_for_batch:
            w = layer.weight
            self._weights_for_batch = {k: v for k, v in self._weights_for_batch.items() if k[1] == batch}
            self._weights_for_batch[key] = np.ascontiguousarray(
                np.broadcast_to(w[:, None], (32, batch) + w.shape[1:]).reshape(32, batch * w.shape[1], w.shape[2]))
        return self._weights_for_batch[key]

    def _linear(self, layer: ExactLayer, operand: np.ndarray, batch: int, metering: bool,
                ops: dict[str, torch.Tensor]) -> np.ndarray:
        n = layer.in_features
        mul_meter = GateMeter(lane_mask(batch * n, layer.out_features), enabled=metering)
        products = float_mul_planes(mul_meter, operand, self._weight_rows(layer, batch))
        products = products.reshape(32, batch, n, products.shape[-1]).transpose(0, 2, 1, 3)   # [32, n, B, W]
        valid = lane_mask(batch, layer.out_features)
        quiet = GateMeter(valid, enabled=False)
        partial = np.empty_like(products)                      # partial[:, i] = (..((p0 + p1) + p2) .. + p_i)
        partial[:, 0] = products[:, 0]
        for i in range(1, n):
            partial[:, i] = float_add_planes(quiet, partial[:, i - 1], products[:, i])
        out = float_add_planes(quiet, partial[:, n - 1], layer.bias)
        if metering:
            # Count the n additions in one vectorised replay of the same circuit on the same operands (the
            # sequential pass above ran unmetered): identical gates, so identical counts.
            width = out.shape[-1]
            addends = np.concatenate([products[:, 1:], np.broadcast_to(layer.bias[:, None], (32, 1, batch, width))],
                                     axis=1)

            def rows(x: np.ndarray) -> np.ndarray:                  # [32, n, B, W] -> [32, B·n, W], batch-major
                return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(32, batch * n, width)

            add_meter = GateMeter(lane_mask(batch * n, layer.out_features))
            replay = float_add_planes(add_meter, rows(partial), rows(addends)).reshape(32, batch, n, width)
            expected = np.concatenate([partial[:, 1:], out[:, None]], axis=1).transpose(0, 2, 1, 3)
            if not np.array_equal(replay & valid[:, None], expected & valid[:, None]):
                raise RuntimeError("metering replay of the sequential sums differs from the sums: a bug in "
                                   "snnrl.exact; please report it.")
            ops[f"{layer.name}.mul"], ops[f"{layer.name}.add"] = mul_meter.counts(batch), add_meter.counts(batch)
        return out

    def decide(self, obs: torch.Tensor, *, metering: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Actions ``[B, action_dim]`` for ``obs [B, obs_dim]`` (float32) and the per-circuit counts
        ``{name: int64 [B, 4]}`` (empty without ``metering``)."""
        if obs.dim() != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"expected observations [B, {self.obs_dim}], got {tuple(obs.shape)}.")
        batch = obs.shape[0]
        ops: dict[str, torch.Tensor] = {}
        x = encode(obs.to(torch.float32))
        width = self.obs_dim
        for layer in self.layers:
            acc = self._linear(layer, _fan_out(x, width), batch, metering, ops)
            if layer.relu:
                meter = GateMeter(lane_mask(batch, layer.out_features), enabled=metering)
                acc = relu_planes(meter, acc)
                if metering:
                    ops[f"{layer.name}.relu"] = meter.counts(batch)
            x, width = acc, layer.out_features
        meter = GateMeter(lane_mask(batch, self.action_dim), enabled=metering)
        t = tanh_planes(meter, x)
        scaled = float_mul_planes(meter, float_add_planes(meter, t, constant_planes(_ONE_BITS, 32)),
                                  constant_planes(_HALF_BITS, 32))
        actions = float_add_planes(meter, self._low, float_mul_planes(meter, scaled, self._span))
        if metering:
            ops["squash"] = meter.counts(batch)
        return decode(actions, self.action_dim), ops
