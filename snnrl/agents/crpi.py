"""CRPI: cross-step residual potential initialisation (arXiv 2601.21778).

A converted policy runs ``T`` IF timesteps per decision. Without CRPI every decision starts from
``V_0 = θ/2``, so the spike count's quantisation error has the same sign decision after decision and the
closed loop drifts. With CRPI the residual of decision ``k`` seeds decision ``k+1``::

    V_start(k+1) = V₀ + c(k+1)                               (V₀ = θ/2: the fresh start)
    Δ            = V_end(k) − V_start(k)                     (net charge left by decision k)
    c(k+1)       = clip(α · max(Δ, −n·θ), −θ/2, θ/2)

``n`` is the neuron's spike count during decision ``k`` (the reference code's floor) unless a fixed
``floor_spikes`` is given. ``α ∈ [0, 1]`` (``α = 0`` is plain conversion, ``α = 1`` full carry-over).

The carry is zeroed at episode start by default. ``reset_on_episode_start=False`` keeps it across episodes,
the behaviour methods notes attribute to the reference code. (In our reading of the reference's MuJoCo
``convert.py`` the extra ``reset_model`` call at episode start zeroes the carry anyway, because the second
of the two consecutive resets sees ``V − V_start = 0``; the flag reproduces the literal carry-over.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["CRPIConfig", "next_carry", "start_potential"]


@dataclass(frozen=True)
class CRPIConfig:
    """CRPI parameters.

    Attributes
    ----------
    alpha
        Fraction of the residual carried to the next decision, in [0, 1].
    floor_spikes
        Floor of the residual in units of θ; ``None`` uses the neuron's spike count of the decision (reference).
    reset_on_episode_start
        Zero the carry when an episode starts (default); ``False`` carries it across episodes.
    """

    alpha: float = 1.0
    floor_spikes: float | None = None
    reset_on_episode_start: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"CRPI alpha must lie in [0, 1], got {self.alpha}.")
        if self.floor_spikes is not None and self.floor_spikes < 0:
            raise ValueError(f"CRPI floor_spikes must be >= 0 (or None for the spike count), got {self.floor_spikes}.")


def start_potential(v_init: torch.Tensor, carry: torch.Tensor) -> torch.Tensor:
    """``V_start = V₀ + c``: ``V₀`` is the neuron's fresh start, ``θ/2`` after plain conversion (the copies of a
    population start staggered, :mod:`snnrl.agents.population`)."""
    return v_init + carry


def next_carry(v_start: torch.Tensor, v_end: torch.Tensor, spike_count: torch.Tensor, theta: torch.Tensor,
               config: CRPIConfig, *, half: torch.Tensor | None = None) -> torch.Tensor:
    """The carry ``c`` for the next decision from one decision's start / end potentials and spike count.

    ``half`` is ``0.5 * θ`` when already computed (as :func:`start_potential` may have).
    """
    delta = v_end - v_start
    n = spike_count if config.floor_spikes is None else torch.full_like(spike_count, config.floor_spikes)
    floored = torch.maximum(delta, -n * theta)
    if config.alpha != 1.0:                       # 1.0 * x == x exactly
        floored = config.alpha * floored
    half = 0.5 * theta if half is None else half
    return torch.clamp(floored, -half, half)      # == max(min(x, θ/2), −θ/2) as −θ/2 < θ/2
