"""The arithmetic exact mode reproduces, written as plain torch float32 operations in a fixed order.

``torch.nn.Linear`` sums through BLAS in an unspecified order (blocked, vectorised, maybe fused), so no gate
circuit can promise bit-identity with it. Exact mode's definition of a layer is instead
:func:`sequential_linear`: for every output ``j``,

    ``acc = x_0·W_j0;  acc = acc + x_i·W_ji  for i = 1 .. n−1 (in index order);  y_j = acc + b_j``

with every ``·`` and ``+`` one IEEE-754 float32 operation rounded to nearest even (``torch.mul`` /
``torch.add``; no fused multiply-add). :func:`reference_actor_forward` chains these layers with ``torch.relu``,
the tanh of :func:`snnrl.exact.tanh.tanh_reference` and the teacher's action scaling
``low + 0.5·(tanh + 1)·(high − low)`` (same operation order as :meth:`TeacherActor.squash`). The gate-level
policy (:mod:`snnrl.exact.policy`) reproduces this function bit for bit.

Example
-------
>>> import torch
>>> x, w, b = torch.randn(2, 5), torch.randn(3, 5), torch.randn(3)
>>> y = sequential_linear(x, w, b)
>>> bool(torch.allclose(y, torch.nn.functional.linear(x, w, b), atol=1e-5))
True
"""

from __future__ import annotations

import torch
from torch import nn

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import ConversionError, check_convertible
from snnrl.exact.tanh import tanh_reference

__all__ = ["check_exact_convertible", "sequential_linear", "squash_reference", "reference_actor_forward", "ulp_distance"]


def check_exact_convertible(actor: TeacherActor) -> list[nn.Linear]:
    """The hidden ``Linear`` layers of ``actor`` after checking exact mode supports it (else
    :class:`~snnrl.agents.conversion.ConversionError`)."""
    layers = check_convertible(actor)
    if actor.info.squash != "tanh":
        raise ConversionError(f"exact mode supports tanh-squashed actors (TD3/SAC), got squash={actor.info.squash!r}. "
                              "Use rate conversion (snnrl.agents.conversion.convert_actor) for this actor.")
    if actor.obs_mean is not None:
        raise ConversionError("exact mode does not implement observation normalisation (it needs float division "
                              "and square root circuits); got an actor with obs_mean/obs_var. Export the teacher "
                              "without VecNormalize, or use rate conversion.")
    for index, layer in enumerate([*layers, actor.head]):
        if layer.weight.dtype != torch.float32:
            raise ConversionError(f"layer {index} has {layer.weight.dtype} weights; exact mode is float32. "
                                  "Convert the actor with actor.float() first.")
    return layers


def sequential_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x [B, n] @ weight[m, n]^T + bias[m]`` summed in index order, one float32 operation at a time."""
    if x.dtype != torch.float32 or weight.dtype != torch.float32:
        raise TypeError(f"sequential_linear is float32 arithmetic; got x {x.dtype}, weight {weight.dtype}.")
    if x.dim() != 2 or weight.dim() != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"expected x [B, n] and weight [m, n], got {tuple(x.shape)} and {tuple(weight.shape)}.")
    acc = torch.mul(x[:, 0:1], weight[:, 0])
    for i in range(1, x.shape[1]):
        acc = torch.add(acc, torch.mul(x[:, i:i + 1], weight[:, i]))
    return acc if bias is None else torch.add(acc, bias)


def squash_reference(pre_action: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``low + 0.5·(tanh(pre) + 1)·(high − low)`` with :func:`tanh_reference`, in the teacher's operation order."""
    span = torch.sub(high, low)
    return torch.add(low, torch.mul(torch.mul(torch.add(tanh_reference(pre_action), 1.0), 0.5), span))


def reference_actor_forward(actor: TeacherActor, obs: torch.Tensor) -> torch.Tensor:
    """Actions of a ReLU :class:`~snnrl.agents.actor.TeacherActor` (tanh squash, no observation normalisation)
    under exact mode's arithmetic: :func:`sequential_linear` layers, ``relu``, :func:`squash_reference`."""
    layers = check_exact_convertible(actor)
    x = obs.to(torch.float32)
    with torch.no_grad():
        for layer in layers:
            x = torch.relu(sequential_linear(x, layer.weight, layer.bias))
        pre = sequential_linear(x, actor.head.weight, actor.head.bias)
        return squash_reference(pre, actor.action_low, actor.action_high)


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in units in the last place between float32 tensors (0 for equal bits; ``±0`` are 0 apart)."""
    def ordered(t: torch.Tensor) -> torch.Tensor:
        i = t.contiguous().view(torch.int32).to(torch.int64)
        return torch.where(i < 0, -(i & 0x7FFFFFFF), i)
    return (ordered(a) - ordered(b)).abs()
