"""The continual-learning report: per group of seeds (:func:`~snnrl.sweeps.continual.aggregate_runs`) a text table,
``summary.json`` (schema ``snnrl-continual-summary``), ``summary.csv`` and accuracy-matrix heatmaps."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from snnrl.reports.output import csv_text, figure_png, pyplot
from snnrl.reports.schema import CONTINUAL_SUMMARY_KIND, CONTINUAL_SUMMARY_SCHEMA_VERSION
from snnrl.results import package_versions
from snnrl.sweeps.continual import SUMMARY_KEYS, aggregate_runs
from snnrl.tables import format_table

__all__ = ["format_continual_summary", "write_continual_reports", "heatmap_png"]


def format_continual_summary(groups: dict[str, list[dict[str, Any]]]) -> str:
    """One row per group: seeds, class-IL / task-IL accuracy, forgetting and BWT (mean ± std, in %), wall time."""
    rows = []
    for label, runs in groups.items():
        if not runs:
            rows.append([label, 0, *["(diverged)"] * 4, ""])
            continue
        agg = aggregate_runs(runs)

        def fmt(key: str, scale: float = 100) -> str:
            return f"{scale * agg[key]['mean']:.2f} ± {scale * agg[key]['std']:.2f}"

        rows.append([label, len(runs), fmt("class_il_accuracy"), fmt("task_il_accuracy"),
                     fmt("class_il_forgetting"), fmt("class_il_bwt"), fmt("wall_s", 1)])
    return format_table(rows, ["run", "seeds", "class-IL %", "task-IL %", "forgetting %", "BWT %", "wall s"])


def heatmap_png(matrices: dict[str, Sequence[Sequence[float]]], title: str) -> bytes:
    """One annotated heatmap per accuracy matrix (rows: after training experience i; columns: experience j)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), dpi=120, squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        a = np.asarray(matrix, dtype=float) * 100
        image = ax.imshow(a, vmin=0, vmax=100, cmap="viridis")
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                ax.text(j, i, f"{a[i, j]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if a[i, j] < 60 else "black")
        ax.set_xlabel("evaluated experience j")
        ax.set_ylabel("after training experience i")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(a.shape[1]))
        ax.set_yticks(range(a.shape[0]))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="accuracy %")
    fig.suptitle(title, fontsize=10)
    return figure_png(fig)


def write_continual_reports(out_dir: str | Path, groups: dict[str, list[dict[str, Any]]],
                            diverged: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Path]:
    """Write ``summary.json`` / ``summary.csv`` (one row per group of seeds) and one heatmap PNG per group.

    ``diverged`` lists, per group, the runs that stopped with
    :class:`~snnrl.continual.strategies.TrainingDiverged` (``seed``, ``error``, ``wall_s``): they are left out of
    the group's means and recorded beside them; a group whose every run diverged keeps only that record."""
    out = Path(out_dir)
    rows, document = [], {"schema_version": CONTINUAL_SUMMARY_SCHEMA_VERSION,
                          "kind": CONTINUAL_SUMMARY_KIND, "versions": package_versions(),
                          "machine": {"python": platform.python_version(), "platform": platform.platform()},
                          "groups": {}}
    paths: dict[str, Path] = {}
    diverged = diverged or {}
    for label, runs in groups.items():
        failed = diverged.get(label, [])
        if not runs:
            if not failed:
                raise ValueError(f"group {label!r} has no runs.")
            document["groups"][label] = {"n_runs": 0, "diverged": failed}
            continue
        agg = aggregate_runs(runs)
        if failed:
            agg = {**agg, "diverged": failed}
        cfg = runs[0]["config"]
        document["groups"][label] = {"config": {k: v for k, v in cfg.items() if k != "seed"}, **agg}
        rows.append({"group": label, "benchmark": cfg["benchmark"], "strategy": cfg["strategy"],
                     "buffer_size": cfg["buffer_size"], "backbone": cfg["backbone"], "seeds": len(runs),
                     **{f"{k}_mean": agg[k]["mean"] for k in SUMMARY_KEYS},
                     **{f"{k}_std": agg[k]["std"] for k in SUMMARY_KEYS}})
        png = out / f"heatmap-{label}.png"
        atomic_write_bytes(png, heatmap_png({"class-IL accuracy": agg["class_il_matrix"]["mean"],
                                             "task-IL accuracy": agg["task_il_matrix"]["mean"]},
                                            f"{label}: mean over {len(runs)} seed(s)"))
        paths[f"heatmap-{label}"] = png
    paths["json"] = atomic_write_json(out / "summary.json", document)
    paths["csv"] = atomic_write_text(out / "summary.csv", csv_text(rows))
    return paths
