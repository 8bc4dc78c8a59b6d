"""Population coding of a converted actor: ``K`` copies of every hidden neuron with staggered start potentials.

An IF neuron started at ``θ/2`` and driven by a constant ``a`` for ``T`` steps passes on
``q_T(a) = θ·clip(floor(a·T/θ + ½), 0, T)/T``: ``T + 1`` levels. Replace it by ``K`` copies with the same
input weights, copy ``j`` started at ``V₀ = θ·(j + ½)/K`` and each passing on ``1/K`` of the outgoing weight. By
Hermite's identity ``Σ_j floor(x + j/K) = floor(K·x)``, the copies together pass on

    (1/K)·Σ_j θ·floor(a·T/θ + (j + ½)/K)/T = θ·floor(a·TK/θ + ½)/(TK)        for 0 ≤ a ≤ θ,

the quantisation with ``T·K + 1`` levels: what one neuron reaches in ``T·K`` timesteps, in ``T``. Deeper layers
receive spike trains rather than constant currents, where the staggered copies also spread the spikes over the
decision. The ANN computes the same function (:func:`widen_actor` is exact); the cost is ``K`` times the neurons
and spikes and about ``K²`` times the hidden-to-hidden synaptic operations, which the energy estimate counts, as
it counts every spike. The first (analog) layer is counted ``K`` times too, as built, although the copies' input
rows are identical and an implementation could compute them once.

The thresholds of a population are chosen for the quantiser it implements: MSE-optimal thresholds at ``T·K``
(:func:`~snnrl.agents.calibration.mse_thresholds`), repeated for the copies.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import ConversionError, SpikingActor, convert_actor

__all__ = ["check_copies", "widen_actor", "population_thresholds", "population_starts", "convert_population"]


def check_copies(copies: int, name: str = "copies") -> int:
    """``copies`` if it is an integer >= 1, else a ``ValueError`` naming ``name``."""
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {copies!r}.")
    return copies


def widen_actor(actor: TeacherActor, copies: int) -> TeacherActor:
    """The same function with ``copies`` copies of every hidden neuron (copy-major: neuron ``i`` of copy ``j`` is
    unit ``j·width + i``), each taking the original's input weights and passing on ``1/copies`` of its output
    weights. Only MLP actors (``Linear`` + ``ReLU``) widen; a convolution raises
    :class:`~snnrl.agents.conversion.ConversionError`."""
    k = check_copies(copies)
    if any(isinstance(m, nn.Conv2d) for m in actor.hidden.modules()):
        raise ConversionError("population coding widens MLP actors only; this actor has convolutions "
                              "(use copies=1).")
    wide = copy.deepcopy(actor)
    if k == 1:
        return wide
    first = True
    with torch.no_grad():
        for index, layer in enumerate(wide.hidden):
            if not isinstance(layer, nn.Linear):
                continue
            weight = layer.weight if first else layer.weight.repeat(1, k) / k
            new = nn.Linear(weight.shape[1], weight.shape[0] * k, bias=layer.bias is not None)
            new.weight.copy_(weight.repeat(k, 1))
            if layer.bias is not None:
                new.bias.copy_(layer.bias.repeat(k))
            wide.hidden[index] = new
            first = False
        head = nn.Linear(wide.head.in_features * k, wide.head.out_features, bias=wide.head.bias is not None)
        head.weight.copy_(wide.head.weight.repeat(1, k) / k)
        if wide.head.bias is not None:
            head.bias.copy_(wide.head.bias)
        wide.head = head
    return wide


def population_thresholds(thresholds: Sequence[torch.Tensor], widths: Sequence[int],
                          copies: int) -> list[torch.Tensor]:
    """Per-neuron thresholds ``[width]`` (or scalars) of the original layers, repeated for ``copies`` copies."""
    k = check_copies(copies)
    return [torch.as_tensor(t, dtype=torch.float32).expand(w).repeat(k) for t, w in zip(thresholds, widths)]


def population_starts(thresholds: Sequence[torch.Tensor], copies: int) -> list[torch.Tensor]:
    """Start potentials ``θ·(j + ½)/copies`` of copy ``j``, per layer (copy-major, as :func:`widen_actor`)."""
    k = check_copies(copies)
    starts = []
    for theta in thresholds:
        theta = torch.as_tensor(theta, dtype=torch.float32)
        if theta.numel() % k:
            raise ValueError(f"a layer of {theta.numel()} neurons is not {k} copies of one width.")
        offsets = (torch.arange(k, dtype=torch.float32) + 0.5) / k
        starts.append(theta * offsets.repeat_interleave(theta.numel() // k))
    return starts


def convert_population(actor: TeacherActor, thresholds: Sequence[torch.Tensor], copies: int) -> SpikingActor:
    """The :class:`~snnrl.agents.conversion.SpikingActor` of ``actor`` with ``copies`` staggered copies of every
    hidden neuron (module docstring); ``thresholds`` are per neuron of ``actor``'s layers (or scalars).
    ``copies=1`` is :func:`~snnrl.agents.conversion.convert_actor`."""
    k = check_copies(copies)
    if k == 1:
        return convert_actor(actor, list(thresholds))
    widths = [layer.out_features for layer in actor.hidden if isinstance(layer, nn.Linear)]
    snn = convert_actor(widen_actor(actor, k), population_thresholds(thresholds, widths, k))
    for neuron, start in zip(snn.neurons, population_starts(snn.thresholds, k)):
        neuron.v_init = start
    return snn
