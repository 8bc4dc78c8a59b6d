"""The fidelity-protocol report (:mod:`snnrl.sweeps.fidelity`): a versioned JSON document per teacher, a text
table with raw returns in significant digits and fidelity scores, and a plot of fidelity against ``T``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snnrl.io import atomic_write_json
from snnrl.reports.output import figure_png, pyplot
from snnrl.reports.schema import FIDELITY_KIND, FIDELITY_SCHEMA_VERSION
from snnrl.results import machine_info, package_versions
from snnrl.tables import format_table

__all__ = ["ROW_ORDER", "ROW_TITLES", "write_fidelity_document", "format_fidelity", "fidelity_plot_png",
           "significant"]

ROW_ORDER = ("plain", "crpi", "mse", "bias", "qcfs", "spiking", "recipe")
ROW_TITLES = {"plain": "plain conversion", "crpi": "CRPI alone (α tuned)", "mse": "MSE thresholds",
              "bias": "bias calibration", "qcfs": "QCFS distillation", "spiking": "spiking distillation",
              "recipe": "recipe (tuned)"}


def significant(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits (``-3.62`` and ``-3.89`` stay apart; ``2602.6`` -> ``2603``)."""
    if value is None:
        return "–"
    text = f"{value:.{digits}g}"
    return f"{float(text):.0f}" if "e" in text else text


def write_fidelity_document(path: str | os.PathLike[str], doc: Mapping[str, Any], *, teacher: str,
                            extra: Mapping[str, Any] | None = None) -> Path:
    """Write one teacher's protocol results (atomic; kind ``snnrl-fidelity-protocol``)."""
    return atomic_write_json(path, {"schema_version": FIDELITY_SCHEMA_VERSION, "kind": FIDELITY_KIND,
                                    "teacher": teacher, **doc, "versions": package_versions(),
                                    "machine": machine_info(), **(extra or {})})


def format_fidelity(doc: Mapping[str, Any], *, teacher: str) -> str:
    """Per ``T`` and row: the recipe, return mean ± std, fidelity, episodes to the time limit, lag-1, energy."""
    ann, ref = doc["ann"], doc["reference"]
    rows = [["ANN", "-", "", f"{significant(ann['return_mean'])} ± {significant(ann['return_std'], 2)}", "100%",
             ann["full_episodes"], _fmt(ann["action_error_lag1"]), _nj(ann["energy_per_decision_pj"])],
            ["zero action", "-", "", f"{significant(ref['return_mean'])} ± {significant(ref['return_std'], 2)}",
             "0%", ref["full_episodes"], "–", "–"]]
    for block in doc["per_timesteps"]:
        for name in (n for n in ROW_ORDER if n in block["rows"]):      # a protocol may report fewer ablation rows
            r = block["rows"][name]
            rows.append([ROW_TITLES[name], block["timesteps"], r["recipe"],
                         f"{significant(r['return_mean'])} ± {significant(r['return_std'], 2)}",
                         "–" if r["fidelity"] is None else f"{100 * r['fidelity']:.1f}%", r["full_episodes"],
                         _fmt(r["action_error_lag1"]), _nj(r["energy_per_decision_pj"])])
    title = (f"{teacher} ({doc['env_id']}): {doc['config']['episodes']} episodes per row, seeds "
             f"{doc['config']['seed']}-{doc['config']['seed'] + doc['config']['episodes'] - 1}; knobs tuned on seeds "
             f"{doc['config']['tuning_seed']}-{doc['config']['tuning_seed'] + doc['config']['tuning_episodes'] - 1}")
    return title + "\n" + format_table(rows, ["row", "T", "recipe", "return", "fidelity", "full", "lag-1",
                                              "nJ/decision"])


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _nj(value: float | None) -> str:
    return "–" if value is None else f"{value / 1000:.1f}"


def fidelity_plot_png(docs: Sequence[Mapping[str, Any]], *, rows: Sequence[str] = ("plain", "crpi", "recipe")) -> bytes:
    """One panel per row kind: fidelity against ``T`` for every teacher (``docs``: protocol documents)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 4), dpi=120, sharey=True, squeeze=False)
    for ax, name in zip(axes[0], rows):
        for doc in docs:
            ts = [b["timesteps"] for b in doc["per_timesteps"]]
            values = [b["rows"][name]["fidelity"] for b in doc["per_timesteps"]]
            ax.plot(ts, [float("nan") if v is None else 100 * v for v in values], "o-", label=doc["teacher"])
        ax.axhline(100, color="grey", lw=0.8)
        ax.axhline(99, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ts = sorted({b["timesteps"] for doc in docs for b in doc["per_timesteps"]})
        ax.set_xticks(ts, [str(t) for t in ts])
        ax.set_xlabel("timesteps T per decision")
        ax.set_title(ROW_TITLES[name], fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("fidelity % (ANN = 100, zero action = 0)")
    axes[0][-1].legend(fontsize=7)
    return figure_png(fig)
