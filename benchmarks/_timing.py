"""Timing shared by the speed benchmarks: interleaved rounds on a noisy machine, ratios from the same rounds."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["time_interleaved", "paired_ratio", "stateful_predict"]


def time_interleaved(candidates: dict[str, Callable[[], Any]], *, rounds: int, calls: int, seed: int = 0,
                     warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one value per round (blocks of ``calls`` calls, shuffled order).

    Each candidate is first called ``warmup`` times (caches, lazy compilation).
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    order = list(candidates)
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            fn = candidates[name]
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls)
    return times


def paired_ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over rounds of ``times[num] / times[den]``."""
    return float(np.median(np.asarray(times[num]) / np.asarray(times[den])))


def stateful_predict(policy: Any, obs: np.ndarray, *, cycle: bool = False) -> Callable[[], Any]:
    """A closure calling ``policy.predict`` with its recurrent state, as an evaluation loop does: on ``obs`` every
    call, or with ``cycle`` on one row of ``obs`` after the other (a single environment's changing observations)."""
    state = None
    index = 0

    def call() -> Any:
        nonlocal state, index
        if cycle:
            x = obs[index]
            index = (index + 1) % len(obs)
        else:
            x = obs
        action, state = policy.predict(x, state)
        return action
    return call
