"""Energy reports: per-episode energy records summarised per policy, as JSON, CSV and PNG plots.

The input is a list of episode rows, one per evaluated episode, each naming its ``policy`` (a label such as
``"SNN T=8 CRPI a=1"``) and holding the episode's energy record (see
:class:`~snnrl.hardware.episode.EpisodeEnergyRecorder`; the env wrapper :class:`~snnrl.envs.ClosedLoop` puts the
same record in ``info["energy"]``). Rows come from

* a conversion sweep's ``results.json`` (``snnrl evaluate``, ``benchmarks/conversion_fidelity.py``), or
* an energy-records file written by :func:`write_energy_records` from records a user collected with
  :class:`~snnrl.envs.ClosedLoop`.

:func:`write_energy_report` writes ``energy_report.json`` (per-policy summary: energy per decision and per
episode, synaptic operations, spikes per decision and per layer), ``energy_episodes.csv`` (one row per episode)
and three plots: ``energy_per_decision.png`` (energy of every decision over an episode), ``spikes_per_layer.png``
and ``energy_bars.png`` (energy per decision per policy, ANN vs SNN, with the ratio to the ANN).
``snnrl energy-report RESULTS`` runs it on a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.io import ArtifactError, atomic_write_bytes, atomic_write_json, atomic_write_text
from snnrl.reports.output import csv_text, figure_png, pyplot
from snnrl.reports.schema import (ENERGY_RECORDS_KIND, ENERGY_REPORT_KIND, ENERGY_REPORT_SCHEMA_VERSION,
                                  SWEEP_KIND)
from snnrl.sweeps.jobs import EvalJob
from snnrl.tables import format_table

__all__ = ["episode_row", "load_energy_episodes", "write_energy_records",
           "summarise_energy", "format_energy_summary", "write_energy_report"]

_ROW_KEYS = ("policy", "seed", "steps", "energy_pj", "energy_per_decision_pj", "macs", "accumulates", "spikes")


def episode_row(policy: str, record: Mapping[str, Any], *, seed: int | None = None) -> dict[str, Any]:
    """One flat report row from an episode's energy record (``info["energy"]``) and a policy label."""
    try:
        ops = record["synaptic_ops"]
        return {"policy": str(policy), "seed": seed, "steps": int(record["steps"]),
                "energy_pj": float(record["energy_pj"]),
                "energy_per_decision_pj": float(record["energy_per_decision_pj"]),
                "macs": int(ops["macs"]), "accumulates": int(ops["accumulates"]), "spikes": int(record["spikes"]),
                "spikes_per_layer": {str(k): int(v) for k, v in dict(record.get("spikes_per_layer", {})).items()},
                "energy_per_step_pj": [float(v) for v in record.get("energy_per_step_pj", [])],
                "profile": str(record.get("profile", ""))}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an energy record (as ClosedLoop puts in info['energy']): {exc!r}") from None


def _sweep_label(episode: Mapping[str, Any]) -> str:
    """The job label of a sweep episode (files written before labels were stored rebuild it from the job)."""
    if "label" in episode:
        return str(episode["label"])
    return EvalJob(episode["policy"], episode.get("timesteps"), episode.get("alpha")).label


def _rows_from_sweep(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    traces = doc.get("energy_traces", {})
    rows, seen = [], set()
    for e in doc["episodes"]:
        label = _sweep_label(e)
        row = {"policy": label, "seed": e.get("seed"), "steps": int(e["length"]), "energy_pj": float(e["energy_pj"]),
               "energy_per_decision_pj": float(e["energy_per_decision_pj"]), "macs": int(e["macs"]),
               "accumulates": int(e["accumulates"]), "spikes": int(e["spikes"]),
               "spikes_per_layer": dict(e.get("spikes_per_layer", {})), "energy_per_step_pj": [],
               "profile": str(doc.get("profile", ""))}
        if label not in seen and label in traces:  # the trace of each policy's first episode
            row["energy_per_step_pj"] = [float(v) for v in traces[label]]
        seen.add(label)
        rows.append(row)
    return rows


def load_energy_episodes(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Episode rows and a little context (``title``) from a sweep ``results.json`` or an energy-records file.

    ``path`` may also be a directory holding ``results.json``.

    Raises
    ------
    ArtifactError
        Missing, truncated or corrupt file, or a JSON document that holds no energy records.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file; give a results.json of `snnrl evaluate` (or its directory) or "
                            "an energy-records file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable JSON file ({exc}); it is truncated or corrupt, re-run the "
                            "evaluation that wrote it.") from None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    try:
        if kind == SWEEP_KIND:
            rows = _rows_from_sweep(doc)
            title = f"{doc.get('teacher', '?')} ({doc.get('env_id', '?')})"
        elif kind == ENERGY_RECORDS_KIND:
            if doc.get("schema_version") != ENERGY_REPORT_SCHEMA_VERSION:
                raise ArtifactError(f"{path}: energy-records schema version {doc.get('schema_version')!r}, this snnrl "
                                    f"reads {ENERGY_REPORT_SCHEMA_VERSION}.")
            rows = [episode_row(e["policy"], e["record"], seed=e.get("seed")) for e in doc["episodes"]]
            title = str(doc.get("title", path.stem))
        else:
            raise ArtifactError(f"{path}: holds no energy records (kind {kind!r}); expected a results.json of "
                                f"`snnrl evaluate` ({SWEEP_KIND!r}) or an energy-records file ({ENERGY_RECORDS_KIND!r}).")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{path}: malformed energy records ({exc!r}); re-run the evaluation that wrote it.") from None
    if not rows:
        raise ArtifactError(f"{path}: holds no episodes.")
    return rows, {"title": title, "source": str(path)}


def write_energy_records(path: str | os.PathLike[str], episodes: Sequence[tuple[str, Mapping[str, Any]]], *,
                         title: str = "energy records") -> Path:
    """Save ``(policy label, info["energy"] record)`` pairs for :func:`load_energy_episodes` (atomic write)."""
    rows = [{"policy": str(label), "record": dict(record)} for label, record in episodes]
    for r in rows:
        episode_row(r["policy"], r["record"])  # validate before writing
    return atomic_write_json(path, {"schema_version": ENERGY_REPORT_SCHEMA_VERSION, "kind": ENERGY_RECORDS_KIND,
                                    "title": title, "episodes": rows})


def summarise_energy(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per policy (in first-seen order): episodes, steps, energy per decision / episode, ops and spikes."""
    order = list(dict.fromkeys(r["policy"] for r in rows))
    ann = next((p for p in order if p.upper().startswith("ANN")), None)
    out = []
    for policy in order:
        mine = [r for r in rows if r["policy"] == policy]
        steps = sum(r["steps"] for r in mine)
        per_decision = np.array([r["energy_per_decision_pj"] for r in mine])
        layers: dict[str, float] = {}
        for r in mine:
            for layer, spikes in r["spikes_per_layer"].items():
                layers[layer] = layers.get(layer, 0.0) + spikes
        out.append({
            "policy": policy, "episodes": len(mine), "steps": steps,
            "energy_per_decision_pj": float(per_decision.mean()), "energy_per_decision_pj_std": float(per_decision.std()),
            "energy_per_episode_pj": float(np.mean([r["energy_pj"] for r in mine])),
            "macs_per_decision": sum(r["macs"] for r in mine) / max(1, steps),
            "accumulates_per_decision": sum(r["accumulates"] for r in mine) / max(1, steps),
            "spikes_per_decision": sum(r["spikes"] for r in mine) / max(1, steps),
            "spikes_per_layer_per_decision": {k: v / max(1, steps) for k, v in layers.items()},
            "profile": mine[0]["profile"],
        })
    if ann is not None:
        ann_e = next(s["energy_per_decision_pj"] for s in out if s["policy"] == ann)
        for s in out:
            s["energy_ratio_to_ann"] = s["energy_per_decision_pj"] / ann_e if ann_e else None
    return out


def format_energy_summary(summary: Sequence[Mapping[str, Any]]) -> str:
    """The per-policy summary as a text table."""
    rows = [[s["policy"], s["episodes"], s["steps"], s["energy_per_decision_pj"] / 1000,
             s["energy_per_episode_pj"] / 1e6, s["macs_per_decision"], s["accumulates_per_decision"],
             s["spikes_per_decision"], "-" if s.get("energy_ratio_to_ann") is None else f"{s['energy_ratio_to_ann']:.3f}"]
            for s in summary]
    return format_table(rows, ["policy", "episodes", "steps", "nJ/decision", "uJ/episode", "MACs/dec", "ACs/dec",
                               "spikes/dec", "vs ANN"])


def _colors(n: int) -> list[Any]:
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "turbo")
    return [cmap(i if n <= 10 else i / max(1, n - 1)) for i in range(n)]


def _legend_outside(ax: Any, n: int) -> None:
    ax.legend(fontsize=7, ncol=1 if n <= 16 else 2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _plot_traces(rows: Sequence[Mapping[str, Any]], title: str) -> bytes:
    plt = pyplot()
    traced, seen = [], set()  # the first traced episode of each policy
    for r in rows:
        if r["energy_per_step_pj"] and r["policy"] not in seen:
            seen.add(r["policy"])
            traced.append(r)
    fig, ax = plt.subplots(figsize=(7 + (1.5 if len(traced) <= 16 else 3), 4), dpi=120)
    for r, color in zip(traced, _colors(len(traced))):
        ax.plot(np.arange(1, len(r["energy_per_step_pj"]) + 1), np.asarray(r["energy_per_step_pj"]) / 1000,
                lw=0.9, color=color,
                label=f"{r['policy']} (seed {r['seed']})" if r["seed"] is not None else r["policy"])
    if not traced:
        ax.text(0.5, 0.5, "no per-decision traces in this file", ha="center", va="center", transform=ax.transAxes)
    else:
        _legend_outside(ax, len(traced))
    ax.set_xlabel("decision (env step) in the episode")
    ax.set_ylabel("energy per decision (nJ)")
    ax.set_title(f"energy per decision over an episode: {title}", fontsize=9)
    ax.grid(alpha=0.3)
    return figure_png(fig)


def _plot_spikes(summary: Sequence[Mapping[str, Any]], title: str) -> bytes:
    plt = pyplot()
    spiking = [s for s in summary if s["spikes_per_layer_per_decision"]]
    layers = list(dict.fromkeys(k for s in spiking for k in s["spikes_per_layer_per_decision"]))
    fig, ax = plt.subplots(figsize=(7 + (1.5 if len(spiking) <= 16 else 3), 4), dpi=120)
    if not spiking:
        ax.text(0.5, 0.5, "no spiking policy in this file", ha="center", va="center", transform=ax.transAxes)
    width = 0.8 / max(1, len(spiking))
    for i, (s, color) in enumerate(zip(spiking, _colors(len(spiking)))):
        x = np.arange(len(layers)) + (i - (len(spiking) - 1) / 2) * width
        ax.bar(x, [s["spikes_per_layer_per_decision"].get(k, 0.0) for k in layers], width, label=s["policy"],
               color=color)
    ax.set_xticks(np.arange(len(layers)), layers)
    ax.set_xlabel("spiking layer")
    ax.set_ylabel("spikes per decision")
    ax.set_title(f"spikes per layer: {title}", fontsize=9)
    if spiking:
        _legend_outside(ax, len(spiking))
    ax.grid(alpha=0.3, axis="y")
    return figure_png(fig)


def _plot_bars(summary: Sequence[Mapping[str, Any]], title: str) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(min(14.0, max(5.0, 0.45 * len(summary) + 2)), 4.5), dpi=120)
    x = np.arange(len(summary))
    colors = ["tab:grey" if s["policy"].upper().startswith("ANN") else "tab:blue" for s in summary]
    ax.bar(x, [s["energy_per_decision_pj"] / 1000 for s in summary], 0.7, color=colors,
           yerr=[s["energy_per_decision_pj_std"] / 1000 for s in summary], capsize=3)
    for xi, s in zip(x, summary):
        if s.get("energy_ratio_to_ann") is not None:
            ax.annotate(f"{s['energy_ratio_to_ann']:.2f}x", (xi, s["energy_per_decision_pj"] / 1000),
                        textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7)
    ax.set_xticks(x, [s["policy"] for s in summary], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("energy per decision (nJ)")
    ax.set_title(f"ANN vs SNN energy per decision: {title}\n{summary[0]['profile']}; ratio to the ANN above each bar",
                 fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return figure_png(fig)


def write_energy_report(out_dir: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], *,
                        title: str = "") -> dict[str, Path]:
    """Write the report files (module docstring) into ``out_dir``; returns their paths by role."""
    if not rows:
        raise ValueError("write_energy_report needs at least one episode row.")
    out = Path(out_dir)
    summary = summarise_energy(rows)
    paths = {"energy_json": out / "energy_report.json", "energy_csv": out / "energy_episodes.csv",
             "energy_trace_plot": out / "energy_per_decision.png", "spikes_plot": out / "spikes_per_layer.png",
             "energy_bars_plot": out / "energy_bars.png"}
    atomic_write_json(paths["energy_json"], {"schema_version": ENERGY_REPORT_SCHEMA_VERSION,
                                             "kind": ENERGY_REPORT_KIND, "title": title, "summary": summary})
    atomic_write_text(paths["energy_csv"], csv_text(rows, list(_ROW_KEYS) + ["profile"]))
    atomic_write_bytes(paths["energy_trace_plot"], _plot_traces(rows, title))
    atomic_write_bytes(paths["spikes_plot"], _plot_spikes(summary, title))
    atomic_write_bytes(paths["energy_bars_plot"], _plot_bars(summary, title))
    return paths
