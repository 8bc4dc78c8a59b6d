"""Surrogate gradients for the spike non-linearity.

Forward, every surrogate is the Heaviside step ``H(x) = 1[x >= 0]`` applied to ``x = V - θ``. Backward, the
step's zero-almost-everywhere derivative is replaced by a smooth pseudo-derivative ``σ'(x)``:

==============  ======================================================  ===========================
name            ``σ'(x)``                                               default
==============  ======================================================  ===========================
``atan``        ``α / 2 / (1 + (π/2 · α · x)²)``                        ``α = 2`` (snnTorch default)
``sigmoid``     ``α · sig(α x) · (1 − sig(α x))``                       ``α = 4``
``fast_sigmoid````1 / (1 + k·|x|)²``                                    ``k = 25``
``triangle``    ``max(0, 1 − |x| / w) / w``                             ``w = 1``
==============  ======================================================  ===========================

Example
-------
>>> import torch
>>> x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
>>> ATan()(x)
tensor([0., 1., 1.], grad_fn=<_SurrogateSpikeBackward>)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Surrogate", "ATan", "Sigmoid", "FastSigmoid", "Triangle", "heaviside", "surrogate_from_name"]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``1[x >= 0]`` in the dtype of ``x``."""
    return (x >= 0).to(x.dtype)


class _SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: "Surrogate") -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: a Heaviside forward with the pseudo-derivative :meth:`derivative` backward."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not x.requires_grad:
            return heaviside(x)
        return _SurrogateSpike.apply(x, self)


@dataclass(frozen=True)
class ATan(Surrogate):
    """Arc-tangent surrogate: ``σ'(x) = α/2 / (1 + (π/2·α·x)²)``."""

    alpha: float = 2.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x).pow(2))


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Sigmoid surrogate: ``σ'(x) = α·sig(αx)·(1 − sig(αx))``."""

    alpha: float = 4.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        sig = torch.sigmoid(self.alpha * x)
        return self.alpha * sig * (1 - sig)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Fast-sigmoid surrogate (SuperSpike): ``σ'(x) = 1 / (1 + k·|x|)²``."""

    slope: float = 25.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 / (1 + self.slope * x.abs()).pow(2)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle surrogate of unit area: ``σ'(x) = max(0, 1 − |x|/w) / w``."""

    width: float = 1.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1 - x.abs() / self.width, min=0) / self.width


_BY_NAME = {"atan": ATan, "sigmoid": Sigmoid, "fast_sigmoid": FastSigmoid, "triangle": Triangle}


def surrogate_from_name(name: str) -> Surrogate:
    """The surrogate called ``name`` with its default parameter (``atan``, ``sigmoid``, ...)."""
    try:
        return _BY_NAME[name]()
    except KeyError:
        raise ValueError(f"Unknown surrogate {name!r}; expected one of {sorted(_BY_NAME)}.") from None
