"""The conversion-sweep report: a text table, ``results.json`` (schema ``snnrl-conversion-sweep``), CSV files, the
return-ratio plot and the per-episode energy report (:mod:`snnrl.reports.energy`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from snnrl.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from snnrl.reports.energy import episode_row, write_energy_report
from snnrl.reports.fidelity import significant
from snnrl.reports.output import csv_text, figure_png, pyplot
from snnrl.reports.schema import SWEEP_KIND, SWEEP_SCHEMA_VERSION
from snnrl.results import machine_info, package_versions
from snnrl.sweeps.jobs import JobResult, SweepConfig
from snnrl.sweeps.statistics import summarise
from snnrl.tables import format_table

__all__ = ["format_summary", "write_reports"]


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _sig(value: float | None) -> str:
    return "-" if value is None else significant(value)


def _std(value: float | None) -> str:
    return "-" if value is None else significant(value, 2)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_summary(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a text table: returns in 4 significant digits, fidelity (share of the ANN's margin over the
    zero action) when the sweep ran the zero-action reference; the "oracle" column picks alpha on these episodes."""
    rows = [[s["timesteps"], f"{_sig(s['ann_return'])} ± {_std(s['ann_return_std'])}",
             _sig(s.get("zero_return")),
             f"{_sig(s['snn_return'])} ± {_std(s['snn_return_std'])}",
             f"{_sig(s['crpi_best_return'])} ± {_std(s['crpi_best_return_std'])} (a={s['crpi_best_alpha']})",
             f"{_sig(s['crpi_alpha1_return'])} ± {_std(s['crpi_alpha1_return_std'])}",
             _pct(s.get("fidelity_snn")), _pct(s.get("fidelity_crpi_alpha1")), _pct(s.get("fidelity_crpi_best")),
             _fmt(s["lag1_snn"], 2), _fmt(s["lag1_crpi_best"], 2),
             _fmt(s["energy_snn_pj"] and s["energy_snn_pj"] / 1000, 1), _fmt(s["energy_ann_pj"] / 1000, 1)]
            for s in summary]
    return format_table(rows, ["T", "ANN", "zero", "SNN", "SNN+CRPI oracle", "SNN+CRPI a=1", "fid. SNN",
                               "fid. CRPI a=1", "fid. oracle", "lag1 SNN", "lag1 CRPI", "SNN nJ/dec", "ANN nJ/dec"])


def _plot(summary: Sequence[dict[str, Any]], results: Sequence[JobResult], title: str) -> bytes:
    plt = pyplot()
    ann_mean = float(next(r for r in results if r.job.kind == "ann").returns.mean())
    ts = [s["timesteps"] for s in summary]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(ts, [s["ratio_snn"] for s in summary], "o-", label="SNN (no CRPI)")
    ax.plot(ts, [s["ratio_crpi_best"] for s in summary], "s-", label="SNN + CRPI (best alpha)")
    a1 = [s["crpi_alpha1_return"] / ann_mean if s["crpi_alpha1_return"] is not None and ann_mean else None
          for s in summary]
    if any(v is not None for v in a1):
        ax.plot(ts, a1, "^--", label="SNN + CRPI (alpha = 1)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(0.95, color="grey", lw=0.8, ls=":", label="95% of ANN")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.set_xlabel("timesteps T per decision")
    ax.set_ylabel("return / ANN return")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure_png(fig)


def write_reports(out_dir: str | Path, results: Sequence[JobResult], *, teacher: str, env_id: str,
                  config: SweepConfig, calibration: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, ``summary.csv``, ``return_ratio.png`` and the energy report.

    The energy report (:func:`snnrl.reports.energy.write_energy_report`) adds ``energy_report.json``,
    ``energy_episodes.csv`` and its plots; ``results.json`` keeps every episode and, per job, the energy of each
    decision of its first episode (``energy_traces``), so ``snnrl energy-report`` can redraw them.
    """
    out = Path(out_dir)
    ann_mean = float(next(r for r in results if r.job.kind == "ann").returns.mean())
    rows = [r.row(ann_mean) for r in results]
    summary = summarise(results)
    episodes = [{"policy": r.job.kind, "label": r.job.label, "timesteps": r.job.timesteps, "alpha": r.job.alpha,
                 "seed": e.seed, "return": e.episode_return, "length": e.length, "energy_pj": e.energy["energy_pj"],
                 "energy_per_decision_pj": e.energy["energy_per_decision_pj"], "spikes": e.energy["spikes"],
                 "accumulates": e.energy["synaptic_ops"]["accumulates"], "macs": e.energy["synaptic_ops"]["macs"],
                 "action_error_rms": e.action_error_rms, "action_error_lag1": e.action_error_lag1,
                 "spikes_per_layer": e.energy["spikes_per_layer"]}
                for r in results for e in r.episodes]
    traces = {r.job.label: [round(v, 1) for v in r.episodes[0].energy["energy_per_step_pj"]] for r in results}
    document = {
        "schema_version": SWEEP_SCHEMA_VERSION, "kind": SWEEP_KIND, "teacher": teacher, "env_id": env_id,
        "config": asdict(config), "calibration": calibration, "versions": package_versions(),
        "machine": machine_info(), "profile": results[0].episodes[0].energy["profile"], "summary": summary,
        "jobs": rows, "episodes": episodes, "energy_traces": traces, **(extra or {}),
    }
    paths = {"json": out / "results.json", "csv": out / "results.csv", "summary": out / "summary.csv",
             "plot": out / "return_ratio.png"}
    atomic_write_json(paths["json"], document)
    atomic_write_text(paths["csv"], csv_text(rows))
    atomic_write_text(paths["summary"], csv_text(summary))
    atomic_write_bytes(paths["plot"], _plot(summary, results, f"{teacher} ({env_id})"))
    energy_rows = [episode_row(r.job.label, e.energy, seed=e.seed) for r in results for e in r.episodes
                   if r.job.kind != "zero"]                              # the reference takes no decisions
    paths.update(write_energy_report(out, energy_rows, title=f"{teacher} ({env_id})"))
    return paths
