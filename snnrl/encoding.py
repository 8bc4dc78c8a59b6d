"""Turning static inputs into ``[T, B, ...]`` sequences.

* :func:`repeat_over_time` — direct (analog current) coding: the same input at every timestep.
* :func:`rate_encode` — Bernoulli (Poisson-like) spike coding of values in [0, 1].
"""

from __future__ import annotations

import torch

__all__ = ["check_timesteps", "repeat_over_time", "rate_encode"]


def check_timesteps(timesteps: int) -> int:
    """Return ``timesteps`` as an int, raising a clear error unless it is an integer >= 1."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1 (the number of simulation steps T), got "
                         f"{timesteps!r}. Use e.g. timesteps=4.")
    return timesteps


def repeat_over_time(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """``[B, ...]`` -> ``[T, B, ...]`` by repeating ``x`` (a view, no copy).

    >>> repeat_over_time(torch.zeros(2, 3), 4).shape
    torch.Size([4, 2, 3])
    """
    t = check_timesteps(timesteps)
    return x.unsqueeze(0).expand(t, *x.shape)


def rate_encode(x: torch.Tensor, timesteps: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli spike trains ``[T, B, ...]`` with firing probability ``clamp(x, 0, 1)`` per timestep."""
    t = check_timesteps(timesteps)
    p = x.clamp(0, 1).unsqueeze(0).expand(t, *x.shape)
    return torch.bernoulli(p, generator=generator)
