"""Aggregating continual-learning runs over seeds, and writing JSON, CSV and accuracy-matrix heatmaps."""

from __future__ import annotations

import csv
import io
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["aggregate_runs", "write_continual_reports", "heatmap_png", "SUMMARY_KEYS"]

SUMMARY_KEYS = ("class_il_accuracy", "task_il_accuracy", "class_il_forgetting", "class_il_bwt", "task_il_forgetting",
                "wall_s")


def aggregate_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std (over seeds) of every summary number and of the accuracy matrices."""
    if not runs:
        raise ValueError("no runs to aggregate")
    out: dict[str, Any] = {"seeds": [r["config"]["seed"] for r in runs], "n_runs": len(runs)}
    for key in SUMMARY_KEYS:
        values = np.array([r[key] for r in runs], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std()), "values": values.tolist()}
    for key in ("class_il_matrix", "task_il_matrix"):
        stack = np.array([r[key] for r in runs], dtype=float)
        out[key] = {"mean": stack.mean(0).tolist(), "std": stack.std(0).tolist()}
    return out


def heatmap_png(matrices: dict[str, Sequence[Sequence[float]]], title: str) -> bytes:
    """One annotated heatmap per accuracy matrix (rows: after training experience i; columns: experience j)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_continual_reports(out_dir: str | Path, groups: dict[str, list[dict[str, Any]]]) -> dict[str, Path]:
    """Write ``summary.json`` / ``summary.csv`` (one row per group of seeds) and one heatmap PNG per group."""
    from snnrl.results import package_versions

    out = Path(out_dir)
    rows, document = [], {"schema_version": 1, "kind": "snnrl-continual-summary", "versions": package_versions(),
                          "machine": {"python": platform.python_version(), "platform": platform.platform()},
                          "groups": {}}
    paths: dict[str, Path] = {}
    for label, runs in groups.items():
        agg = aggregate_runs(runs)
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
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    paths["json"] = atomic_write_json(out / "summary.json", document)
    paths["csv"] = atomic_write_text(out / "summary.csv", buffer.getvalue())
    return paths
