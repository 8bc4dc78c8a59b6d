"""Statistics of a conversion sweep: per ``T``, the ANN, the SNN without CRPI and SNN+CRPI (best ``alpha`` and
``alpha = 1``), with return ratios, lag-1 autocorrelations of the action error and energy per decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from snnrl.sweeps.jobs import JobResult

__all__ = ["summarise", "fidelity_score"]


def fidelity_score(snn_return: float, ann_return: float, reference_return: float) -> float | None:
    """The share of the ANN's margin over a reference policy that the SNN keeps:
    ``(R_snn − R_ref) / (R_ann − R_ref)`` (1 = as good as the ANN, 0 = no better than the reference), right for any
    reward sign and scale; ``None`` when the ANN is no better than the reference.

    >>> fidelity_score(-3.89, -3.62, -40.0)       # Reacher-like negative returns: slightly worse than the ANN
    0.99257...
    >>> fidelity_score(2900.0, 3000.0, 0.0)
    0.9666...
    """
    margin = ann_return - reference_return
    if not margin > 0:
        return None
    return (snn_return - reference_return) / margin


def summarise(results: Sequence[JobResult]) -> list[dict[str, Any]]:
    """Per ``T``: ANN, SNN, SNN+CRPI (best alpha and alpha=1), lag-1 autocorrelations and energy; with a ``zero``
    job the fidelity scores (:func:`fidelity_score`) as well. "best" picks alpha on the reported episodes themselves
    (an oracle; :mod:`snnrl.sweeps.fidelity` tunes on other seeds)."""
    ann = next(r for r in results if r.job.kind == "ann")
    ann_mean = float(ann.returns.mean())
    zero = next((r for r in results if r.job.kind == "zero"), None)
    zero_mean = None if zero is None else float(zero.returns.mean())

    def fidelity(r: JobResult | None) -> float | None:
        return None if r is None or zero_mean is None else fidelity_score(float(r.returns.mean()), ann_mean, zero_mean)

    rows = []
    for t in sorted({r.job.timesteps for r in results if r.job.timesteps is not None}):
        plain = next((r for r in results if r.job.kind == "snn" and r.job.timesteps == t), None)
        crpi = [r for r in results if r.job.kind == "snn+crpi" and r.job.timesteps == t]
        best = max(crpi, key=lambda r: r.returns.mean()) if crpi else None
        full = next((r for r in crpi if r.job.alpha == 1.0), None)
        rows.append({
            "timesteps": t, "ann_return": ann_mean, "ann_return_std": float(ann.returns.std()),
            "snn_return": None if plain is None else float(plain.returns.mean()),
            "snn_return_std": None if plain is None else float(plain.returns.std()),
            "crpi_best_alpha": None if best is None else best.job.alpha,
            "crpi_best_return": None if best is None else float(best.returns.mean()),
            "crpi_best_return_std": None if best is None else float(best.returns.std()),
            "crpi_alpha1_return": None if full is None else float(full.returns.mean()),
            "crpi_alpha1_return_std": None if full is None else float(full.returns.std()),
            "lag1_snn": None if plain is None else plain.lag1,
            "lag1_crpi_best": None if best is None else best.lag1,
            "lag1_crpi_alpha1": None if full is None else full.lag1,
            "ratio_snn": None if plain is None else float(plain.returns.mean()) / ann_mean,
            "ratio_crpi_best": None if best is None else float(best.returns.mean()) / ann_mean,
            "zero_return": zero_mean, "fidelity_snn": fidelity(plain), "fidelity_crpi_best": fidelity(best),
            "fidelity_crpi_alpha1": fidelity(full),
            "energy_ann_pj": ann.energy_per_decision_pj,
            "energy_snn_pj": None if plain is None else plain.energy_per_decision_pj,
            "energy_crpi_best_pj": None if best is None else best.energy_per_decision_pj,
        })
    return rows
