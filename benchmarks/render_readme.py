"""Render the README's result tables (and summary plots) from the committed result files.

Every number in the README's results section comes from a file under ``benchmarks/results/`` (or the zoo's
manifest): this script rewrites the blocks between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
markers, and draws ``benchmarks/results/plots/*.png``. ``--check`` only compares (exit 1 when the README is out of
date); the test suite runs it, so a README number can not drift from its results file.

Usage::

    .venv/bin/python benchmarks/render_readme.py           # rewrite README blocks and plots
    .venv/bin/python benchmarks/render_readme.py --check   # exit 1 if a block differs
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from snnrl.continual.configs import BUFFER_UPDATE, LIF_NEURONS
from snnrl.reports.schema import FIDELITY_KIND

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- results:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _missing(what: str, command: str) -> str:
    return f"_Not measured yet: run `{command}` ({what})._\n"


def zoo() -> str:
    manifest = _load(ROOT / "snnrl" / "zoo" / "manifest.json")["teachers"]
    rows = [[f"`{name}`", e["algo"] if "state_teacher" not in e else f"{e['algo']} from `{e['state_teacher']}`",
             e["env_id"], f"{e['steps'] // 1000}k" if "steps" in e else f"{e['frames'] // 1000}k frames",
             f"{e['return_mean']:.1f} ± {e['return_std']:.1f}", _num(e["target_return"], 0)]
            for name, e in manifest.items()]
    return _table(["teacher", "algorithm", "env", "steps", "return (10 episodes)", "target"], rows)


def pixel_teachers() -> str:
    path = RESULTS / "pixel_teachers.json"
    if not path.exists():
        return _missing("pixel teachers", "benchmarks/pixel_teachers.py")
    doc = _load(path)
    rows = [[f"`{name}`", r["env_id"], f"`{r['state_teacher']}`", f"{r['pixel_return_mean']:.4g}",
             f"{r['state_return_mean']:.4g}", f"{sum(r['zero_returns']) / len(r['zero_returns']):.4g}", _pct(r["share_of_margin"]),
             "yes" if r["passed"] else "no", "-" if r["distillation_wall_s"] is None else f"{r['distillation_wall_s']:.0f}"]
            for name, r in doc["raw"].items()]
    return (f"{doc['config']['eval_episodes']} episodes seeded {doc['config']['eval_seed']}+, the CNN on frames and its "
            f"state teacher on the states, from the same initial states; zoo bar: {doc['config']['rule']} "
            f"(`{path.relative_to(ROOT)}`).\n\n"
            + _table(["CNN", "pixel env", "state teacher", "CNN return", "state return", "zero action",
                      "share of margin", "in the zoo",
                      "distillation s"], rows))


def pixel_fit() -> str:
    path = RESULTS / "pixel_fit.json"
    if not path.exists():
        return _missing("pixel fit settings", "benchmarks/pixel_fit.py")
    doc = _load(path)
    c, chosen = doc["config"], doc["summary"]["chosen"]
    rows = [[f"`{name}`" + (" (chosen)" if name == chosen else ""), r["config"]["epochs"], r["config"]["lr"],
             r["config"]["lr_schedule"], r["config"]["state_weight"], r["config"]["shift"],
             ", ".join(f"{n} {k}/{s}" for n, k, s in zip(r["config"]["channels"], r["config"]["kernels"],
                                                      r["config"]["strides"])) + f"; {r['config']['hidden']}",
             f"{r['train_mse_first_1500']:.4f}", f"**{r['validation_mse']:.4f}**" if name == chosen
             else f"{r['validation_mse']:.4f}", f"{r['fit_s']:.0f}"] for name, r in doc["raw"].items()]
    return (f"`{c['teacher']}` on {c['env_id']}: each candidate fits a fresh CNN on {c['train_frames']:,} frames "
            f"(episodes seeded {c['train_seed']:,}+) and is scored on {c['validation_frames']:,} other frames "
            f"(seeded {c['validation_seed']:,}+), the state teacher acting with action noise {c['action_noise']:g}; "
            f"rule: {c['rule']} (`{path.relative_to(ROOT)}`).\n\n"
            + _table(["fit", "epochs", "lr", "schedule", "state loss weight", "shift (px)",
                      "convs (channels kernel/stride); Linear",
                      "train MSE", "validation MSE", "fit s"], rows))


def _calibration_label(doc: dict) -> str:
    """'' for the reference calibration, else e.g. ' θ×0.6' (thresholds scaled after calibration)."""
    scale = doc["config"]["conversion"].get("threshold_scale", 1.0)
    return "" if scale == 1.0 else f" θ×{scale:g}"


def conversion(folder: str = "conversion") -> str:
    files = sorted((RESULTS / folder).glob("*/results.json"))
    if not files:
        return _missing("conversion fidelity", "benchmarks/conversion_fidelity.py")
    blocks = []
    for path in files:
        doc = _load(path)
        rows = [[s["timesteps"], f"{s['ann_return']:.0f} ± {s['ann_return_std']:.0f}",
                 f"{s['snn_return']:.0f} ± {s['snn_return_std']:.0f}",
                 f"{s['crpi_best_return']:.0f} ± {s['crpi_best_return_std']:.0f} (α={s['crpi_best_alpha']:g})",
                 f"{s['crpi_alpha1_return']:.0f} ± {s['crpi_alpha1_return_std']:.0f}",
                 f"{100 * s['ratio_crpi_best']:.1f}%", _num(s["lag1_snn"], 2), _num(s["lag1_crpi_best"], 2),
                 _num(s["lag1_crpi_alpha1"], 2), _num(s["energy_snn_pj"] / 1000, 1), _num(s["energy_ann_pj"] / 1000, 1)]
                for s in doc["summary"]]
        episodes = doc["config"]["episodes"]
        blocks.append(f"**{doc['teacher']}{_calibration_label(doc)}** ({doc['env_id']}, {episodes} episodes per cell, "
                      f"`{path.relative_to(ROOT)}`)\n\n" + _table(
                          ["T", "ANN", "SNN", "SNN+CRPI oracle α (picked on these episodes)", "SNN+CRPI α=1",
                           "oracle/ANN", "lag-1 SNN", "lag-1 CRPI oracle", "lag-1 CRPI α=1", "SNN nJ/decision",
                           "ANN nJ/decision"], rows))
    return "\n".join(blocks)


def _fidelity_docs(folder: str = "fidelity") -> list[dict]:
    docs = [_load(p) for p in sorted((RESULTS / folder).glob("*.json"))]
    return [d for d in docs if d.get("kind") == FIDELITY_KIND]     # not the budget or action-noise files beside them


def _setting(key: str, value: Any) -> str:
    """``"lr 0.1"``: a tuned knob and its value, floats in their shortest form."""
    return f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _sig(value: float | None) -> str:
    if value is None:
        return "–"
    text = f"{value:.4g}"
    return f"{float(text):.0f}" if "e" in text else text


def fidelity(folder: str = "fidelity", command: str = "benchmarks/conversion_fidelity.py --protocol") -> str:
    docs = _fidelity_docs(folder)
    if not docs:
        return _missing("the tuned fidelity protocol", f".venv/bin/python {command}")
    rows = []
    for doc in docs:
        ann, ref = doc["ann"], doc["reference"]
        for block in doc["per_timesteps"]:
            r = block["rows"]
            rows.append([f"`{doc['teacher']}`", block["timesteps"], f"{_sig(ann['return_mean'])}",
                         f"{_sig(ref['return_mean'])}", f"{_pct(r['plain']['fidelity'])} ({_sig(r['plain']['return_mean'])})",
                         f"{_pct(r['crpi']['fidelity'])} (α={r['crpi']['alpha']:g})",
                         f"**{_pct(r['recipe']['fidelity'])}** ({_sig(r['recipe']['return_mean'])})",
                         f"`{r['recipe']['recipe']}`", f"{r['recipe']['full_episodes']}/{doc['config']['episodes']}",
                         _num(r["plain"]["action_error_lag1"], 2), _num(r["recipe"]["action_error_lag1"], 2),
                         _num(r["recipe"]["energy_per_decision_pj"] / 1000, 1),
                         _num(ann["energy_per_decision_pj"] / 1000, 1)])
    config = docs[0]["config"]
    head = (f"{config['episodes']} episodes per cell on seeds {config['seed']}–{config['seed'] + config['episodes'] - 1}; "
            f"every knob tuned on seeds {config['tuning_seed']}–{config['tuning_seed'] + config['tuning_episodes'] - 1} "
            f"({_tuning_rules(docs)}). Fidelity = (R_SNN − R_zero) / "
            "(R_ANN − R_zero), R_zero the zero action on the same seeds; returns in 4 significant digits.\n\n")
    return head + _table(["teacher", "T", "ANN", "zero action", "plain", "CRPI alone", "recipe", "recipe chosen",
                          "recipe full episodes", "lag-1 plain", "lag-1 recipe", "recipe nJ/dec", "ANN nJ/dec"], rows)


def _by_teacher(docs: list[dict], key) -> str:
    """``key(doc)`` if every document shares it, else each value followed by the teachers it holds for."""
    groups: dict[str, list[str]] = {}
    for doc in docs:
        groups.setdefault(key(doc), []).append(f"`{doc['teacher']}`")
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{value} for {', '.join(teachers)}" for value, teachers in groups.items())


def _budget(doc: dict) -> str:
    d = doc["config"]["distillation"]
    schedule = "" if d.get("lr_schedule", "constant") == "constant" else f" ({d['lr_schedule']} schedule)"
    return (f"{d['rounds']} DAgger rounds of {d['rollout_steps']:,} rollout steps and {d['epochs']} epochs, "
            f"lr {d['lr']:g}{schedule}")


def _tuning_rules(docs: list[dict]) -> str:
    """The tuning rule each document was measured under (its JSON's ``tuning_rule``), naming the teachers when the
    table mixes files of two rules; likewise the recipe's candidates (``recipe_candidates``; absent in files that
    predate the QCFS candidates) and the distillation budget (``config.distillation``)."""
    rules = {doc["tuning_rule"] for doc in docs}
    text = ("rule: " if len(rules) == 1 else "rules: ") + _by_teacher(docs, lambda doc: doc["tuning_rule"])
    for part, what in (("qcfs", "the QCFS-distilled actors"), ("pop", "the populations")):
        having = [f"`{d['teacher']}`" for d in docs
                  if any(p.startswith(part) for c in d.get("recipe_candidates", []) for p in c.split("+"))]
        if having and len(having) < len(docs):
            text += (f"; the recipe's candidates include {what} for {', '.join(having)} only, the other files "
                     "predate them")
        elif having:
            text += f"; the recipe's candidates include {what}"
    budgets = {_budget(doc) for doc in docs}
    return text + ("; distillation " if len(budgets) == 1 else "; distillation budgets: ") + _by_teacher(docs, _budget)


PIXEL_FIDELITY = ("benchmarks/conversion_fidelity.py --protocol pixel-td3-invertedpendulum pixel-td3-reacher "
                  "--timesteps 4 8 16 "
                  "--tuning-episodes 10 --ablation plain --calibration-steps 2000 --out benchmarks/results/pixel-fidelity")
"""The pixel teachers' protocol as run (tuning budget 10 episodes per candidate; rows plain, CRPI, recipe)."""


def fidelity_ablation() -> str:
    docs = _fidelity_docs()
    if not docs:
        return _missing("the tuned fidelity protocol", ".venv/bin/python benchmarks/conversion_fidelity.py --protocol")
    names = ("plain", "crpi", "mse", "bias", "qcfs", "spiking", "population", "recipe")
    rows = [[f"`{doc['teacher']}`", block["timesteps"],
             *[_pct(block["rows"][n]["fidelity"]) if n in block["rows"] else "–" for n in names]]
            for doc in docs for block in doc["per_timesteps"]]
    return (_table(["teacher", "T", "plain", "CRPI (α tuned)", "MSE thresholds", "bias calibration (max θ)",
                    "QCFS distillation", "spiking distillation", "population of 2 (MSE θ at 2T)", "recipe (tuned)"],
                   rows)
            + "\n– : the file predates the population row.\n")


def action_noise() -> str:
    path = RESULTS / "fidelity" / "action_noise.json"
    if not path.exists():
        return _missing("action noise", "benchmarks/action_noise.py")
    doc = _load(path)
    cfg = doc["config"]
    shown = (4, 8)
    rows = []
    for t in doc["summary"]:
        fixed = [r for r in t["rows"] if r["matches_recipe_at_t"] is None]
        at = {r["matches_recipe_at_t"]: r for r in t["rows"]}
        rows.append([f"`{t['teacher']}`"] + [_pct(r["fidelity"]) for r in fixed] + [
            cell for T in shown for cell in (f"{at[T]['sigma']:.3f}", _pct(at[T]["recipe_fidelity"]),
                                             _pct(at[T]["fidelity"]))])
    return (f"The ANN with white noise ({cfg['noise']}), {cfg['episodes']} episodes on seeds {cfg['seed']}–"
            f"{cfg['seed'] + cfg['episodes'] - 1} (the protocol's reported seeds); fidelity against the protocol's "
            f"zero-action returns. The recipe's RMS error and fidelity are the protocol's (`{path.relative_to(ROOT)}`, "
            f"every T in the file).\n\n"
            + _table(["teacher"] + [f"ANN, noise {f:g} of half range" for f in cfg["sigmas"]]
                     + [c for T in shown for c in (f"T={T}: recipe's RMS error", f"T={T}: recipe",
                                                   f"T={T}: ANN, noise of that RMS")], rows))


def exact_speed() -> str:
    path = RESULTS / "speed" / "exact_speed.json"
    if not path.exists():
        return _missing("exact-mode speed", "benchmarks/exact_speed.py")
    doc = _load(path)
    s = doc["summary"]
    rows = [[r["batch"], "on" if r["metering"] else "off", f"{r['decisions_per_s']:.2f}",
             f"{r['ann_decisions_per_s']:,.0f}"] for r in doc["raw"]]
    return (f"`{s['teacher']}`, gate-level actor (`ExactSpikingPolicy.predict`), median of "
            f"{doc['config']['repeats']} calls after a warm-up call, 1 torch thread (`{path.relative_to(ROOT)}`). Batching "
            f"{s['batch']} decisions into the same words raises throughput {s['batched_over_batch1_throughput']:.1f}×"
            f" ({'meets' if s['meets_bar'] else 'below'} the issue's {s['bar']:.0f}× bar).\n\n"
            + _table(["batch", "metering", "decisions / s", "ANN decisions / s"], rows))


def distillation_budget() -> str:
    path = RESULTS / "fidelity" / "distillation_budget.json"
    if not path.exists():
        return _missing("the distillation budget", ".venv/bin/python benchmarks/distillation_budget.py")
    doc = _load(path)
    rows = [[f"`{r['teacher']}`", f"`{r['candidate']}`", _sig(r["tuning_return"]), _sig(r["ann_tuning_return"]),
             _pct(r["share"])] for r in doc["raw"]]
    return (_table(["teacher", "candidate", "tuning return (T=4, seeds 100–129)", "ANN", "share"], rows)
            + f"\nChosen (highest mean share): `{doc['summary']['chosen']}`.\n")


_RUN_DEFAULTS = {"buffer_update": BUFFER_UPDATE, "staer_logit_alpha": 0.0}
"""What a continual run recorded before a knob existed ran at."""


def _optimizer(cfg: dict) -> str:
    """A continual run's optimizer and rate as the tables print them (e.g. ``SGD 0.1``, ``SGD+cosine 0.1``)."""
    name = {"sgd": "SGD", "sgd-cosine": "SGD+cosine"}.get(cfg.get("optimizer", "adamw"), "AdamW")
    return f"{name} {cfg['lr']:g}"


def _pct_of(group: dict, key: str) -> str:
    return f"{100 * group[key]['mean']:.1f} ± {100 * group[key]['std']:.1f}"


def _continual_blocks(folder: str, what: str, script: str, title: Callable[[dict, Path], str],
                      headers: list[str], row: Callable[[str, dict], list[Any]]) -> str:
    """One table per ``benchmarks/results/FOLDER/*/summary.json``: ``title(doc, path)``, then ``row`` per group."""
    files = sorted((RESULTS / folder).glob("*/summary.json"))
    if not files:
        return _missing(what, script)
    blocks = []
    for path in files:
        doc = _load(path)
        rows = [row(label, g) for label, g in doc["groups"].items()]
        blocks.append(title(doc, path) + "\n\n" + _table(headers, rows))
    return "\n".join(blocks)


def continual(folder: str = "continual", script: str = "benchmarks/continual_learning.py") -> str:
    def title(doc: dict, path: Path) -> str:
        cfg = next(iter(doc["groups"].values()))["config"]
        subset = (f"{cfg['train_per_class']} training images per class" if cfg.get("train_per_class")
                  else "full training set")
        optimizer = _optimizer(cfg)
        return (f"**{cfg['benchmark']}** ({cfg['backbone']} backbone, T={cfg['timesteps']}, {optimizer}, {subset}, "
                f"{cfg['epochs']} epoch(s), batch {cfg['batch_size']}; `{path.relative_to(ROOT)}`)")

    def row(label: str, g: dict) -> list[Any]:
        return [label, g["n_runs"], _pct_of(g, "class_il_accuracy"), _pct_of(g, "task_il_accuracy"),
                _pct_of(g, "class_il_forgetting"), _pct_of(g, "class_il_bwt"), f"{g['wall_s']['mean']:.0f}"]

    return _continual_blocks(folder, "continual learning", script, title,
                             ["run", "seeds", "class-IL %", "task-IL %", "forgetting %", "BWT %", "wall s / run"], row)


def continual_standard() -> str:
    files = sorted((RESULTS / "continual-standard").glob("*/summary.json"))
    if not files:
        return _missing("the standard protocol with ANN twins", "benchmarks/continual_standard.py --workers 2")
    blocks = []
    for path in files:
        groups = _load(path)["groups"]
        bench = next(iter(groups.values()))["config"]["benchmark"]
        title = f"**{bench}** (full training set, 5 × 2 classes, 1 epoch, batch 10; `{path.relative_to(ROOT)}`)"
        tuning = path.parent / "tuning.json"
        stage2 = ""
        if tuning.exists():
            t = _load(tuning)
            c = t["summary"]["chosen"]
            extra = "".join(f", {name} {c[key]:g}" for key, name in (
                ("staer_alpha1", "STAER α1"), ("staer_logit_alpha", "STAER logit replay"), ("timesteps", "T"),
                ("lif_beta", "LIF β")) if key in c)
            extra += "".join(f", {name} {c[key]}" for key, name in (("neuron", "neuron"), ("ce_mode", "CE"),
                                                                    ("buffer_update", "buffer update")) if key in c)
            title += (f". Our runs' optimizer {c['optimizer']}, lr {c['lr']:g}, STAER β {c['staer_beta']:g}{extra} "
                      f"were chosen on a validation split ({t['config']['rule']}; `{tuning.relative_to(ROOT)}`)")
            for size, change in t["summary"].get("chosen_by_buffer", {}).items():
                if change:
                    title += f"; at buffer {size}, " + ", ".join(_setting(k, v) for k, v in change.items()) + (
                        " instead (chosen on the same split; the ANN twins keep their own rate)")
            stage2 = _tuning_stages(t)
            ours = next(g["config"] for label, g in groups.items() if label.startswith("snn-"))
            used = {k: ours.get(k, _RUN_DEFAULTS.get(k)) for k in c}     # older results lack newer knobs
            stale = {k: v for k, v in used.items() if v != c[k]}
            if stale:
                title += (". **This table predates that choice**: its runs used " + ", ".join(
                    f"{k} {v}" for k, v in stale.items()) + "; re-run `benchmarks/continual_standard.py` for it")
        rows, failed = [], []
        for label, g in groups.items():
            failed += [f"{label} seed {d['seed']} ({d['error'].split(';')[0]})" for d in g.get("diverged", [])]
            if not g["n_runs"]:                                         # every run diverged: the note only
                continue
            cfg = g["config"]
            optimizer = _optimizer(cfg)
            if cfg["backbone"] == "ann-mlp":
                model = f"ANN MLP {'x'.join(map(str, cfg['hidden']))}, SGD {cfg['lr']:g} (Avalanche)"
            elif cfg.get("neuron") == "relu":
                model = f"ANN twin: {cfg['backbone']} with ReLUs, T={cfg['timesteps']}, {optimizer}"
            else:
                neuron = cfg.get("neuron", "lif")
                decay = f" β={cfg['lif_beta']:g}" if neuron in LIF_NEURONS and "lif_beta" in cfg else ""
                model = f"spiking {cfg['backbone']} ({neuron}{decay}, T={cfg['timesteps']}), {optimizer}"
            twin = next((t for t in groups.values() if label.startswith("snn-") and t["n_runs"]
                         and t["config"].get("neuron") == "relu"
                         and all(t["config"].get(k) == cfg.get(k) for k in ("strategy", "buffer_size", "timesteps"))),
                        None)
            ratio = f"{g['wall_s']['mean'] / twin['wall_s']['mean']:.2f}×" if twin else ""
            seeds = f"{g['n_runs']}" + (f" (+{len(g['diverged'])} diverged)" if g.get("diverged") else "")
            rows.append([label, model, seeds, _pct_of(g, "class_il_accuracy"), _pct_of(g, "task_il_accuracy"),
                         _pct_of(g, "class_il_forgetting"), _pct_of(g, "class_il_bwt"), f"{g['wall_s']['mean']:.0f}",
                         ratio])
        blocks.append(title + "\n\n" + _table(["run", "model", "seeds", "class-IL %", "task-IL %", "forgetting %",
                                                "BWT %", "wall s / run", "time / ANN twin"], rows)
                      + (f"\nRuns that diverged (stopped with `TrainingDiverged`, left out of their row's means): "
                         + "; ".join(failed) + ".\n" if failed else "") + stage2)
    return "\n".join(blocks)


def _tuning_stages(tuning: dict) -> str:
    """Stages 2 and on of the continual tuning, a sentence each: every change from the previous stage's choice and
    its validation class-IL (mean over the stage's seeds, the stage's choice in bold), then the ANN twins' rate
    where the file holds one; empty for a stage-1 file."""
    lines = []
    for stage in range(2, tuning["config"].get("stages", 1) + 1):
        rows = tuning["raw"].get(f"stage{stage}_candidates")
        if not rows:
            continue
        base, best = rows[0], max(rows, key=lambda r: r["mean"])        # max keeps the first of equal means
        seeds = tuning["config"].get(f"stage{stage}_seeds", tuning["config"]["seeds"])
        parts = []
        for r in rows:
            change = ", ".join(_setting(k, r[k]) for k in r if r.get(k) != base.get(k)
                               and k not in ("label", "validation_class_il", "mean", "wall_s")) or (
                f"the stage-{stage - 1} {'winner' if stage == 2 else 'choice'} re-run")
            text = f"{change} {100 * r['mean']:.2f}"
            parts.append(f"**{text}**" if r is best else text)
        lines.append(f"\nStage {stage} of the tuning (one change at a time, validation class-IL %, mean over seeds "
                     f"{seeds[0]}–{seeds[-1]}): " + "; ".join(parts) + ".\n")
    for key in sorted(k for k in tuning["raw"] if k.startswith("buffer") and k.endswith("_candidates")):
        size = key[len("buffer"):-len("_candidates")]
        rows = tuning["raw"][key]
        best = max(rows, key=lambda r: r["mean"])                       # max keeps the first of equal means
        seeds = tuning["config"][f"buffer{size}_seeds"]
        parts = [(", ".join(_setting(k, v) for k, v in r["change"].items()) or "the choice re-run")
                 + f" {100 * r['mean']:.2f}" for r in rows]
        lines.append(f"\nBuffer {size} tuned on its own ({tuning['config'][f'buffer{size}_rule']}; validation "
                     f"class-IL %, mean over seeds {seeds[0]}–{seeds[-1]}): " + "; ".join(
                         f"**{t}**" if r is best else t for t, r in zip(parts, rows)) + ".\n")
    twins = tuning["raw"].get("twin_candidates")
    if twins:
        best = max(twins, key=lambda r: r["mean"])
        seeds = tuning["config"]["twin_seeds"]
        parts = [f"lr {r['lr']:g} {100 * r['mean']:.2f}" + (f" ({sum(r['diverged'])} of {len(r['diverged'])} runs "
                                                               "diverged)" if any(r["diverged"]) else "")
                 for r in twins]
        lines.append(f"\nThe ANN twins' own rate ({tuning['config']['twin_rule']}; validation "
                     f"class-IL %, mean over seeds {seeds[0]}–{seeds[-1]}): " + "; ".join(
                         f"**{t}**" if r is best else t for t, r in zip(parts, twins)) + ".\n")
    return "".join(lines)


def quantization() -> str:
    path = RESULTS / "quantization.json"
    if not path.exists():
        return _missing("quantization", "benchmarks/quantization.py")
    doc = _load(path)
    rows = []
    for r in doc["summary"]:
        fmt = (lambda v: f"{100 * v:.1f}%") if r["metric"] == "accuracy" else (lambda v: f"{v:.0f}")
        rows.append([r["network"], r["bits"], fmt(r["full_precision"]), fmt(r["naive"]), fmt(r["md_snn"]),
                     f"{r['imc_edap_x']:.2f}×", f"{r['imc_tops_per_w_x']:.2f}×", f"{r['imc_tops_per_mm2_x']:.2f}×"])
    cfg = doc["config"]
    return (f"Membranes at {cfg['membrane_bits']} bits; IMC ratios are MD-SNN vs the same network at 32-bit "
            f"weights and membranes (`{path.relative_to(ROOT)}`).\n\n"
            + _table(["network", "weight bits", "full precision", "naive PTQ", "MD-SNN", "EDAP gain", "TOPS/W gain",
                      "TOPS/mm² gain"], rows))


def homeostasis() -> str:
    path = RESULTS / "homeostasis.json"
    if not path.exists():
        return _missing("homeostasis", "benchmarks/homeostasis.py")
    doc = _load(path)
    cfg, s = doc["config"], doc["summary"]
    rows = [[mode, ", ".join("–" if e is None else str(e) for e in s[mode]["epochs_to_target"]),
             f"{100 * s[mode]['final_accuracy_mean']:.2f} ± {100 * s[mode]['final_accuracy_std']:.2f}"]
            for mode in ("off", "on")]
    return (f"{cfg['backbone']}, {cfg['train_n']} training images, {cfg['epochs']} epochs, seeds {cfg['seeds']}, "
            f"target {100 * cfg['target']:.0f}% (`{path.relative_to(ROOT)}`)\n\n"
            + _table(["AHSAR", "epochs to target (per seed)", "final test accuracy %"], rows))


def hardware() -> str:
    path = RESULTS / "hardware_models.json"
    if not path.exists():
        return _missing("hardware model anchors", "benchmarks/hardware_models.py")
    doc = _load(path)
    imc, dig = doc["raw"]["imc_vgg9"], doc["raw"]["digital_hopper"]
    rows = [[k.replace("_", " "), f"{imc['ours'][k]:.3f}", f"{imc['published'][k]:.3f}",
             f"{100 * imc['relative_error'][k]:+.1f}%"] for k in ("energy_uj", "latency_ms", "area_mm2")]
    gains = imc["ratios_32bit_vs_4bit"]
    t = dig["timesteps"]
    ann, snn = dig["measured"]["ann"], dig["measured"][f"snn_t{t}"]
    hopper = [["ANN", "-".join(map(str, dig["actor_layers"])), f"{ann['energy_per_decision_nj']:.1f}",
               f"{dig['reference_nj']['ann']:.0f}", f"{ann['macs_per_decision']:,.0f} MACs"],
              [f"SNN T={t}", "-".join(map(str, dig["actor_layers"])), f"{snn['energy_per_decision_nj']:.1f}",
               f"{dig['reference_nj']['snn_t16']:.0f}",
               f"{snn['macs_per_decision']:,.0f} MACs + {snn['accumulates_per_decision']:,.0f} ACs"],
              ["ANN from counts", "11-256-256-3", f"{dig['ann_nj_from_counts']['256-256 actor']:.1f}",
               f"{dig['reference_nj']['ann']:.0f}", "MACs × (E_mult + E_add)"]]
    return (f"SpikeSim VGG9 (T=5, 4-bit weights, 22-bit membranes) on the IMC model (`{path.relative_to(ROOT)}`):\n\n"
            + _table(["quantity", "ours", "published", "difference"], rows)
            + f"\n32-bit → 4-bit on the same model: EDAP {gains['edap']:.1f}×, TOPS/W {gains['tops_per_w']:.2f}×, "
              f"TOPS/mm² {gains['tops_per_mm2']:.2f}×.\n\n"
            + f"Digital 45 nm model, {dig['teacher']} ({dig['episodes']} episodes):\n\n"
            + _table(["policy", "actor", "nJ / decision (ours)", "reference nJ", "counts per decision"], hopper)
            + f"\nSNN/ANN energy: ours {snn['energy_per_decision_nj'] / ann['energy_per_decision_nj']:.3f}, reference "
              f"{dig['reference_nj']['snn_t16'] / dig['reference_nj']['ann']:.3f}.\n")


def backends() -> str:
    path = RESULTS / "sweep_backends.json"
    if not path.exists():
        return _missing("sweep backends", "benchmarks/sweep_backends.py")
    s = _load(path)["summary"]
    names = [k for k in s if isinstance(s[k], dict) and "same_numbers_as_local_1" in s[k]]
    rows = [[name, f"{s[name]['evaluation_s']:.1f}", f"{s[name]['continual_s']:.1f}", f"{s[name]['startup_s']:.1f}",
             _num(s[name]["same_numbers_as_local_1"])] for name in names]
    return (f"{s['evaluation_jobs']} evaluation jobs and {s['continual_runs']} continual runs on each backend; "
            f"identical numbers on all: {_num(s['identical'])} (digests {s['evaluation_digest']}, "
            f"{s['continual_digest']}; `{path.relative_to(ROOT)}`).\n\n"
            + _table(["backend", "evaluation s", "continual s", "start-up s", "same numbers as local-1"], rows))


def reliability() -> str:
    path = RESULTS / "reliability.json"
    if not path.exists():
        return _missing("reliability", "benchmarks/reliability.py")
    s = _load(path)["summary"]
    fuzz = s["loader_fuzz"]
    rows = [[name, v["tried"], v["rejected"], v["loaded"], v["passed"]] for name, v in fuzz["per_loader"].items()]
    rows.append(["**all loaders**", fuzz["bad_inputs"], sum(v["rejected"] for v in fuzz["per_loader"].values()),
                 sum(v["loaded"] for v in fuzz["per_loader"].values()), fuzz["passed"]])
    saves, crash, props, det = s["failing_saves"], s["crash_resume"], s["properties"], s["determinism"]
    return (_table(["loader", "bad inputs", "refused with the toolkit's error", "loaded a valid object", "passed"],
                   rows)
            + f"\nFailing saves that kept the good file: {saves['kept_good_file']}/{saves['cases']}. "
              f"kill -9 / resume cycles: {crash['cycles_passed']}/{crash['cycles']} ({crash['tests']} tests). "
              f"Property-based examples: {props['examples']} over {props['tests']} tests, {props['passed']} passed. "
              f"Determinism (same seed, bit-identical): {det['passed']}/{det['tests']}. "
              + (f"Command line: {s['cli_bad_values']['refused_cleanly']}/{s['cli_bad_values']['bad_values']} bad "
                 f"values over {s['cli_bad_values']['options']} options of every `snnrl` command refused cleanly (exit "
                 "code 2, one line naming the flag, before any work). " if "cli_bad_values" in s else "")
              + f"All {s['tests']} tests passed: {_num(s['all_passed'])} (`{path.relative_to(ROOT)}`).\n")


def decision_cost() -> str:
    path = RESULTS / "speed" / "decision_cost.json"
    if not path.exists():
        return _missing("decision cost", "benchmarks/decision_cost.py")
    others = sorted(path.parent.glob("decision_cost_*.json"))       # other teachers, e.g. the pixel CNNs
    return "\n".join(_decision_cost_table(p, plot=p == path) for p in [path, *others])


def _decision_cost_table(path: Path, *, plot: bool) -> str:
    doc = _load(path)
    s, cfg = doc["summary"], doc["config"]
    sj = "ours_over_spikingjelly_multistep" in s[f"batch{cfg['batches'][0]}"][f"T{cfg['timesteps'][0]}"]
    c_vs_numba = any("c_kernel_over_numba_kernel" in s[f"batch{b}"][f"T{t}"] for b in cfg["batches"]
                     for t in cfg["timesteps"])
    rows = []
    for batch in cfg["batches"]:
        for t in cfg["timesteps"]:
            r = s[f"batch{batch}"][f"T{t}"]
            rows.append([batch, t, f"{r['snn_over_ann_predict']:.2f}×", f"{r['snn_predict_over_ann_forward']:.2f}×",
                         f"{r['crpi_over_plain']:.2f}×",
                         *([f"{r['ours_over_spikingjelly_multistep']:.3f}×"] if sj else []),
                         f"{r['engine_over_torch_path']:.2f}×",
                         *([f"{r['c_kernel_over_numba_kernel']:.2f}×" if "c_kernel_over_numba_kernel" in r else "—"]
                           if c_vs_numba else []),
                         f"{r['snn_throughput_over_ann']:.2f}×"])
    cost = s["cost_model"]
    fs, ft = cost["fit_spikes"], cost["fit_timesteps"]
    net = ("-".join(map(str, cfg["net_arch"])) + " actor" if cfg.get("net_arch")
           else "CNN actor, observations " + "×".join(map(str, cfg.get("obs_shape", []))))
    check = (f"SpikingJelly's actions equal ours (max difference "
             f"{max(s['spikingjelly_max_action_difference'].values()):g})" if sj else
             "no SpikingJelly comparison (built for MLP actors); engine and torch path actions differ by at most "
             f"{s['engine_vs_torch_path_max_action_difference']:.2g}")
    return (f"{cfg['teacher']} ({net}), `SpikingPolicy.predict` on the "
            f"spike-driven engine, time per decision as ratios from one interleaved run, {cfg['threads']} torch thread; "
            f"{check} (`{path.relative_to(ROOT)}`).\n\n"
            + _table(["batch", "T", "SNN / ANN predict", "SNN predict / ANN forward", "CRPI / plain",
                      *(["ours / SpikingJelly multi-step"] if sj else []), "engine / torch path",
                      *(["C kernel / numba kernel"] if c_vs_numba else []), "SNN throughput / ANN's"], rows)
            + f"\nCost model (batch 1, T = {', '.join(map(str, cfg['sweep_timesteps']))} × threshold scale "
              f"{', '.join(f'{v:g}' for v in cfg['sweep_scales'])}): time = {fs['intercept_us']:.1f} µs + "
              f"{cost['ns_per_spike']:.1f} ns per spike (R² {fs['r2']:.3f}); a fit on T alone explains "
              f"R² {ft['r2']:.3f}"
              + (f"; both at once: {j['intercept_us']:.1f} µs + {j['ns_per_spike']:.1f} ns per spike + "
                 f"{j['ns_per_neuron_update']:.2f} ns per neuron update (T × {cost['neurons']} neurons; R² "
                 f"{j['r2']:.3f})" if (j := cost.get("fit_spikes_and_neuron_updates")) else "")
              + (". Plot: `benchmarks/results/plots/decision_cost.png`.\n" if plot else ".\n"))


def engine_agreement() -> str:
    path = RESULTS / "speed" / "engine_agreement.json"
    if not path.exists():
        return _missing("engine agreement", "benchmarks/engine_agreement.py")
    doc = _load(path)
    s, cfg = doc["summary"], doc["config"]
    rows = [[r["teacher"], "CRPI" if r["crpi"] else "plain", r["decisions"], r["decisions_disagreeing"],
             f"{r['neuron_counts_differing']}/{r['neuron_counts_compared']}", f"{r['max_action_difference']:.1e}",
             f"{r['max_action_error_vs_float64']['torch']:.1e}", f"{r['max_action_error_vs_float64']['kernel']:.1e}",
             r["op_count_mismatches"]] for r in doc["raw"]]
    return (f"Spike-driven engine vs the torch path on {s['decisions']} recorded closed-loop decisions (T="
            f"{cfg['timesteps']}): {s['neuron_counts_differing']} of {s['neuron_counts_compared']} neuron spike counts "
            f"differ; {s['decisions_disagreeing']} decisions fall outside the rule \"{cfg['rule']}\" (tolerance "
            f"{cfg['tolerance']:g}), max action difference {s['max_action_difference']:.1e}; against a float64 "
            f"evaluation of the same spikes the torch path is off by up to {s['max_action_error_vs_float64']['torch']:.1e}, "
            f"the engine by {s['max_action_error_vs_float64']['kernel']:.1e} (`{path.relative_to(ROOT)}`).\n\n"
            + _table(["teacher", "CRPI", "decisions", "outside the rule", "spike counts differing", "max abs action difference",
                      "torch vs float64", "engine vs float64", "op-count mismatches"], rows))


def sweep_cost() -> str:
    path = RESULTS / "speed" / "sweep_cost.json"
    if not path.exists():
        return _missing("sweep cost", "benchmarks/sweep_cost.py")
    doc = _load(path)
    s, cfg = doc["summary"], doc["config"]
    return (f"`{cfg['command']}`: {s['wall_s']['auto']:.1f} s on the engine against {s['wall_s']['torch']:.1f} s on the "
            f"torch path ({s['engine_over_torch_path']:.2f}×, median of {cfg['repeats']} alternating runs each); mean "
            f"returns equal on {s['jobs_with_equal_returns']}/{s['jobs']} jobs, largest difference "
            f"{s['max_abs_return_difference']:.3g} (`{path.relative_to(ROOT)}`).\n")


def counter_overhead() -> str:
    path = RESULTS / "speed" / "counter_overhead.json"
    if not path.exists():
        return _missing("counter overhead", "benchmarks/counter_overhead.py")
    s = _load(path)["summary"]
    batches = [k for k in s if k.startswith("batch")]
    rows = [[name, *[f"{s[b]['overhead_percent'][name]:.0f}%" for b in batches]]
            for name in s[batches[0]]["overhead_percent"]]
    checked = sum(s["identical_outputs_checked_decisions"].values())
    return (f"Time added by operation counting (metering on vs off); outputs identical on {checked} checked decisions "
            f"(`{path.relative_to(ROOT)}`).\n\n" + _table(["policy", *[b.replace("batch", "batch ") for b in batches]],
                                                            rows))


def fused_neurons() -> str:
    path = RESULTS / "speed" / "fused_neurons.json"
    if not path.exists():
        return _missing("fused neurons", "benchmarks/fused_neurons.py")
    doc = _load(path)
    cfg = doc["config"]
    steps = {k[1:]: row for k, row in doc["summary"].items() if k.startswith("T")}
    header = (f"One training step (forward, cross-entropy, backward, SGD) of the continual {cfg['backbone']}, batch "
              f"{cfg['batch']}, {cfg['threads']} torch thread; each ratio the median of per-round ratios in one "
              "interleaved run; fused and stepping logits equal bitwise, gradients to rounding "
              f"(`{path.relative_to(ROOT)}`).\n\n")
    return header + _table(["neuron", "T", "fused / stepping", "stepping / ANN twin", "fused / ANN twin"],
                           [[name, t, *[f"{row[name][key]:.2f}×" for key in
                                        ("fused_over_stepping", "stepping_over_twin", "fused_over_twin")]]
                            for t, row in steps.items() for name in cfg["neurons"]])


def nir_drift() -> str:
    path = RESULTS / "nir_drift.json"
    if not path.exists():
        return _missing("NIR drift", "benchmarks/nir_drift.py")
    raw = _load(path)["raw"]
    a, bb = raw["actor"], raw["backbone"]
    rows = [[r["timesteps"], f"{r['vs_nir_semantics']['max']:.2g}", f"{r['vs_plain']['mean']:.3f}",
             f"{r['vs_plain']['max']:.3f}", f"{r['vs_crpi']['mean']:.3f}", f"{r['vs_crpi']['max']:.3f}"]
            for r in a["rows"]]
    return (f"{a['teacher']} exported to NIR and re-imported by {a['peer'].capitalize()}, on {a['observations']} "
            "recorded observations; action differences in units of the action range (`"
            f"{path.relative_to(ROOT)}`). NIR's IF starts at 0, resets to 0 and has no carry, so the peer follows "
            "NIR's semantics exactly and drifts from ours (see `docs/nir.md`).\n\n"
            + _table(["T", "peer vs NIR semantics (max)", "vs ours plain (mean)", "vs ours plain (max)",
                      "vs ours CRPI (mean)", "vs ours CRPI (max)"], rows)
            + f"\nBackbone ({bb['backbone']}, T={bb['timesteps']}, {bb['samples']} samples) re-imported by "
              f"{bb['peer']}: max logit difference {bb['max_logit_diff_vs_ours']:.2f} vs ours, "
              f"{bb['max_logit_diff_vs_nir_semantics']:.2g} vs NIR semantics; top-1 agreement with ours "
              f"{bb['top1_agreement_vs_ours']:.0%}.\n")


def soft_dtw() -> str:
    path = RESULTS / "speed" / "soft_dtw.json"
    if not path.exists():
        return _missing("Soft-DTW speed", "benchmarks/soft_dtw_speed.py")
    s = _load(path)["summary"]
    shapes = [k for k in s if "x" in k and k[0].isdigit()]
    rows = [[k, f"{s[k]['ours_over_ts_class_forward']:.3f}×", f"{s[k]['ours_over_ts_class_forward_backward']:.3f}×",
             f"{s[k]['ours_over_ts_loss_forward']:.2f}×", f"{s[k]['ours_over_ts_loss_forward_backward']:.2f}×",
             f"{s['agreement'][k]['value_abs']:.1e}", f"{s['agreement'][k]['grad_abs']:.1e}"] for k in shapes]
    staer = ", ".join(f"{k.split('_')[1]}: {s[k]['ours_over_ts_loss']:.2f}×" for k in s if k.startswith("staer_"))
    return ("Our time / tslearn's (lower is faster; batch 32, 10 features, float64) against tslearn's `SoftDTW` "
            "class and its compiled `SoftDTWLossPyTorch`, with the value and gradient differences "
            f"(`{path.relative_to(ROOT)}`).\n\n"
            + _table(["lengths", "vs SoftDTW fwd", "vs SoftDTW fwd+bwd", "vs SoftDTWLossPyTorch fwd",
                      "vs SoftDTWLossPyTorch fwd+bwd", "max abs value diff", "max abs gradient diff"], rows)
            + f"\nSTAER's divergence (forward + backward, batch 10) vs SoftDTWLossPyTorch: {staer}.\n")


def continual_resnet19() -> str:
    path = RESULTS / "continual_resnet19.json"
    if not path.exists():
        return _missing("ResNet19 iteration time", "benchmarks/continual_resnet19.py")
    doc = _load(path)
    rows = [[r["timesteps"], f"{r['s_per_iteration']:.1f}", f"{r['h_per_epoch_per_experience']:.1f}",
             f"{r['days_paper_run']:.0f}"] for r in doc["raw"]]
    return (f"Spiking ResNet19 ({doc['raw'][0]['parameters']:,} parameters), STAER, batch 32 + 32 replayed, "
            f"{doc['config']['threads']} torch thread(s), data: {doc['config']['data']} "
            f"(`{path.relative_to(ROOT)}`).\n\n"
            + _table(["T", "s / iteration", "h / epoch of one experience (313 iterations)",
                      "days for the paper's 50 epochs × 5 experiences"], rows))


SECTIONS: dict[str, Callable[[], str]] = {
    "hardware": hardware,
    "zoo": zoo,
    "pixel-teachers": pixel_teachers,
    "pixel-fit": pixel_fit,
    "conversion": conversion,
    "conversion-30ep": lambda: conversion("conversion-30ep"),
    "continual": continual,
    "continual-standard": continual_standard,
    "continual-neurons": lambda: continual("continual-neurons", "benchmarks/continual_neurons.py"),
    "continual-resnet19": continual_resnet19,
    "fidelity": fidelity,
    "fidelity-ablation": fidelity_ablation,
    "pixel-fidelity": lambda: fidelity("pixel-fidelity", PIXEL_FIDELITY),
    "distillation-budget": distillation_budget,
    "action-noise": action_noise,
    "exact-speed": exact_speed,
    "quantization": quantization,
    "homeostasis": homeostasis,
    "decision-cost": decision_cost,
    "engine-agreement": engine_agreement,
    "sweep-cost": sweep_cost,
    "counter-overhead": counter_overhead,
    "fused-neurons": fused_neurons,
    "soft-dtw": soft_dtw,
    "nir-drift": nir_drift,
    "backends": backends,
    "reliability": reliability,
}


def render(text: str) -> str:
    """``text`` with every known results block re-rendered (unknown block names raise)."""
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in SECTIONS:
            raise KeyError(f"README block 'results:{name}' has no renderer; known: {sorted(SECTIONS)}")
        return match.group(1) + SECTIONS[name]() + match.group(4)

    return _BLOCK.sub(replace, text)


def plot_conversion(out: Path) -> Path | None:
    """All teachers' return ratio vs T, with and without CRPI, in one figure."""
    files = sorted((RESULTS / "conversion").glob("*/results.json"))
    if not files:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharey=True)
    for path in files:
        doc = _load(path)
        ts, label = [s["timesteps"] for s in doc["summary"]], doc["teacher"] + _calibration_label(doc)
        axes[0].plot(ts, [s["ratio_snn"] for s in doc["summary"]], "o-", label=label)
        axes[1].plot(ts, [s["ratio_crpi_best"] for s in doc["summary"]], "s-", label=label)
    for ax, title in zip(axes, ("SNN, no CRPI", "SNN + CRPI (best alpha)")):
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axhline(0.95, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("timesteps T per decision")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("return / ANN return")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    target = out / "conversion_return_ratio.png"
    fig.savefig(target)
    plt.close(fig)
    return target


def plot_fidelity(out: Path) -> Path | None:
    """Fidelity against T per teacher: plain conversion, CRPI alone and the tuned recipe."""
    docs = _fidelity_docs()
    if not docs:
        return None
    from snnrl.io import atomic_write_bytes
    from snnrl.reports.fidelity import fidelity_plot_png

    return atomic_write_bytes(out / "fidelity.png", fidelity_plot_png(docs))


def plot_decision_cost(out: Path) -> Path | None:
    """Time per decision against spikes per decision (the cost sweep), one marker per threshold scale."""
    path = RESULTS / "speed" / "decision_cost.json"
    if not path.exists():
        return None
    cost = _load(path)["summary"]["cost_model"]
    from snnrl.io import atomic_write_bytes
    from snnrl.reports.output import figure_png, pyplot

    fig, ax = pyplot().subplots(figsize=(5.5, 4), dpi=120)
    for scale in sorted({pt["scale"] for pt in cost["points"]}):
        pts = sorted((pt for pt in cost["points"] if pt["scale"] == scale), key=lambda pt: pt["spikes"])
        ax.plot([pt["spikes"] for pt in pts], [pt["median_us"] for pt in pts], "o-", label=f"thresholds x{scale:g}")
        for pt in pts:
            ax.annotate(f"T={pt['timesteps']}", (pt["spikes"], pt["median_us"]), fontsize=6,
                        textcoords="offset points", xytext=(3, -8))
    fit = cost["fit_spikes"]
    xs = [0, max(pt["spikes"] for pt in cost["points"])]
    ax.plot(xs, [fit["intercept_us"] + fit["slope_us"] * x for x in xs], color="grey", lw=0.8, ls=":",
            label=f"{cost['ns_per_spike']:.0f} ns/spike fit")
    ax.set_xlabel("spikes per decision")
    ax.set_ylabel("µs per decision (batch 1)")
    ax.set_title("spike-driven engine: cost follows spikes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return atomic_write_bytes(out / "decision_cost.png", figure_png(fig))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the README is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    rendered = render(text)
    if args.check:
        if rendered != text:
            print(f"{args.readme} is out of date with benchmarks/results/: run benchmarks/render_readme.py",
                  file=sys.stderr)
            return 1
        print("README results blocks are up to date")
        return 0
    if rendered != text:
        from snnrl.io import atomic_write_text

        atomic_write_text(args.readme, rendered)
    plot = plot_conversion(RESULTS / "plots")
    plot_fidelity(RESULTS / "plots")
    plot_decision_cost(RESULTS / "plots")
    print(f"rendered {len(_BLOCK.findall(text))} blocks into {args.readme}" + (f"; plot {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
