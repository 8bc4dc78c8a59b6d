"""Tuning on a validation split for the standard protocol: choose the spiking strategies' optimizer, learning rate,
STAER's alignment and logit-replay weights and the timesteps on held-out training images, never on the test set.

Rule (written into the result): every candidate runs spiking STAER at buffer 200 on ``--benchmark`` in validation
mode (:func:`snnrl.continual.benchmarks.class_incremental` ``validation=0.1``: 10 % of every class's training images
held out and used as the evaluation stream, the test set never read), seeds ``--seeds`` (default: seed 0 only);
the candidate with the highest mean validation class-IL accuracy wins (ties: the earlier candidate, the library
default first). ``--stage 2`` then starts from the stage-1 winner recorded in ``tuning.json`` and tries one change
at a time (the hidden neuron, the LIF decay, per-timestep cross-entropy, a faster rate), the winner itself re-run
first, under the same rule; it adds its rows to the file and replaces the choice. Its changes move validation
accuracy by less than the spread between seeds (about one point), so it runs on three seeds (``--seeds 3``).
``--stage 3`` does the same from the stage-2 choice with the rehearsal changes (the class-balanced buffer refilled
after every experience, a cosine schedule for SGD); ``--stage 4`` tries those of them not yet in the stage-3
choice again from it (coordinate ascent: a second change that helped alone is tried on top of the first).
``--stage 5`` tries slower rates from the stage-4 choice (its rate times each of :data:`STAGE5_LR_FACTORS`): the
cosine schedule and the class-balanced buffer changed the training the rate had been chosen for.
``--stage 6`` adds DER++'s logit replay beside the alignment (``staer_logit_alpha``, 0.1 or 0.5) to the stage-5
choice, the choice itself re-run first.
``--buffer-stage 500`` then tunes the larger buffer on its own, as the DER paper tunes every buffer size: the same
rule with spiking STAER at that buffer, one change at a time (:data:`BUFFER_STAGE_CHANGES`) from the last stage's
choice (re-run first), on seeds ``--seeds``; the winner's changes are stored as ``chosen_by_buffer`` in the file's
summary and used for every one of our runs at that buffer (the ANN twins keep their own rate).
``--twin`` then chooses the ANN twins' own learning rate under the same rule, with the twin (the chosen settings,
the neurons replaced by ReLUs) in place of the spiking backbone: the choice's rate, then the other rates of
:data:`TWIN_RATES`, on seeds ``--seeds``; a candidate run that diverges (its loss or output NaN or infinite)
scores 0. ReLU logits are unbounded where spike-count logits are not, so a rate tuned for the spiking backbone can
make the twin diverge; each backbone then gets its own rate, both chosen on validation.
``benchmarks/continual_standard.py`` then runs ER, DER++ and STAER with the choice on the test set.

Writes ``benchmarks/results/continual-standard/<benchmark>/tuning.json``.

Usage::

    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --stage 2 --seeds 3
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --stage 3 --seeds 3
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --stage 4 --seeds 3
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --stage 5 --seeds 3
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --stage 6 --seeds 3
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --twin --seeds 3
    .venv/bin/python benchmarks/continual_tuning.py --benchmark split-mnist --buffer-stage 500 --seeds 3
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from snnrl.io import snnrl_home

RESULTS = Path(__file__).resolve().parent / "results" / "continual-standard"
WORK = snnrl_home() / "runs" / "continual-tuning"
KNOBS = ("optimizer", "lr", "staer_beta", "staer_alpha1", "timesteps")   # the ContinualConfig fields tuned (stage 1)
STAGE2_KNOBS = KNOBS + ("neuron", "lif_beta", "ce_mode")
_DEFAULT = {"optimizer": "adamw", "lr": 3e-3, "staer_beta": 1e-4, "staer_alpha1": 0.5, "timesteps": 4}
CANDIDATES = [{**_DEFAULT, **change} for change in (   # the first is the library default
    {}, {"lr": 1e-3}, {"optimizer": "sgd", "lr": 0.03}, {"optimizer": "sgd", "lr": 0.1}, {"optimizer": "sgd", "lr": 0.3},
    {"staer_beta": 0.1}, {"optimizer": "sgd", "lr": 0.1, "staer_beta": 0.1},
    # around SGD 0.1 / beta 0.1: a stronger alignment, a faster rate, a stronger logit replay, finer rate coding
    {"optimizer": "sgd", "lr": 0.1, "staer_beta": 0.3}, {"optimizer": "sgd", "lr": 0.1, "staer_beta": 1.0},
    {"optimizer": "sgd", "lr": 0.3, "staer_beta": 0.1}, {"optimizer": "sgd", "lr": 0.1, "staer_beta": 0.1,
                                                         "staer_alpha1": 1.0},
    {"optimizer": "sgd", "lr": 0.1, "staer_beta": 0.1, "timesteps": 8})]
STAGE2_CHANGES = ({}, {"neuron": "plif"}, {"neuron": "selfpred-lif"}, {"lif_beta": 0.8}, {"lif_beta": 1.0},
                  {"ce_mode": "per_timestep"}, {"lr": 0.3})
"""Stage 2: one change at a time from the stage-1 winner (first: the winner itself, re-run)."""
STAGE3_KNOBS = STAGE2_KNOBS + ("buffer_update",)
STAGE3_CHANGES = ({}, {"buffer_update": "class-balanced"}, {"optimizer": "sgd-cosine"})
"""Stage 3: one rehearsal change at a time from the stage-2 choice (first: the choice itself, re-run)."""
STAGE5_LR_FACTORS = (0.5, 0.3)
"""Stage 5: the rate of the stage-4 choice times each factor (after the choice itself, re-run)."""
TWIN_RATES = (0.1, 0.05, 0.03, 0.01)
"""``--twin``: the ANN twins' candidate rates (the spiking choice's own is tried first)."""
STAGE6_KNOBS = STAGE3_KNOBS + ("staer_logit_alpha",)
STAGE6_CHANGES = ({}, {"staer_logit_alpha": 0.1}, {"staer_logit_alpha": 0.5})
"""Stage 6: DER++'s logit replay beside the alignment, from the stage-5 choice (first: the choice itself, re-run)."""
BUFFER_STAGE_CHANGES = ({}, {"lr": "x2"}, {"staer_beta": 0.3}, {"staer_logit_alpha": 1.0},
                        {"buffer_update": "reservoir"})
"""``--buffer-stage``: one change at a time from the last stage's choice at the larger buffer (first: the choice
itself, re-run; ``"x2"``: twice the choice's rate): a larger buffer replays more and forgets less, which can want a
faster rate, a stronger alignment or logit replay, or the DER paper's reservoir buffer."""
STAGE_KNOBS = {1: KNOBS, 2: STAGE2_KNOBS, 3: STAGE3_KNOBS, 4: STAGE3_KNOBS, 5: STAGE3_KNOBS, 6: STAGE6_KNOBS}
VALIDATION = 0.1


def _tag(config, defaults: dict) -> str:
    """Run-folder suffix naming every knob that differs from ``defaults``."""
    tag = f"-lr{config.lr:g}-beta{config.staer_beta:g}"
    tag += (f"-a{config.staer_alpha1:g}" if config.staer_alpha1 != _DEFAULT["staer_alpha1"] else "") + (
        f"-T{config.timesteps}" if config.timesteps != _DEFAULT["timesteps"] else "")
    return tag + ("-tsce" if config.ce_mode == "per_timestep" else "")   # the neuron and its decay: config.label


def _run_tasks(tasks: list, workers: int, **kwargs) -> dict[str, list[dict]]:
    """Run ``continual_grid`` tasks on ``workers`` processes (``kwargs`` to ``run_continual_grid``), printing each
    run's validation accuracy; returns the runs grouped by label."""
    from snnrl.backends import LocalBackend
    from snnrl.sweeps.continual import run_continual_grid

    backend = LocalBackend(workers=workers)
    try:
        return run_continual_grid(tasks, backend=backend, **kwargs, on_run=lambda label, task, r: print(
            f"{label} seed {task.config.seed}: validation class-IL {100 * r['class_il_accuracy']:.2f}"
            f"{' (diverged)' if r.get('diverged') else ''} ({r['wall_s']:.0f} s)", flush=True))
    finally:
        backend.close()


def main(argv: list[str] | None = None) -> int:
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.results import load_result, write_result
    from snnrl.sweeps.continual import continual_grid

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="split-mnist")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--work-dir", type=Path, default=WORK)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--stage", type=int, choices=(1, 2, 3, 4, 5, 6), default=1,
                   help="1: the coarse grid; 2-6: one change at a time from the previous stage's choice in the "
                        "--out file")
    p.add_argument("--twin", action="store_true",
                   help="choose the ANN twins' learning rate from the choice in the --out file (after the stages)")
    p.add_argument("--buffer-stage", type=int, default=None, metavar="SIZE",
                   help="tune the buffer SIZE on its own from the choice in the --out file (after the stages)")
    args = p.parse_args(argv)
    out = args.out or RESULTS / args.benchmark / "tuning.json"
    if args.buffer_stage is not None:
        if args.stage != 1 or args.twin:
            p.error("--buffer-stage: leave --stage and --twin out; it starts from the last stage's choice")
        if args.buffer_stage < 1 or args.buffer_stage == 200:
            p.error(f"--buffer-stage: expected a buffer size other than the stages' 200, got {args.buffer_stage}")
        if not out.exists():
            p.error(f"--buffer-stage: no {out}; run the stages first (`benchmarks/continual_tuning.py --benchmark "
                    f"{args.benchmark}`)")
        return _tune_buffer(args, out)
    if args.twin:
        if args.stage != 1:
            p.error(f"--twin: leave --stage out (got {args.stage}); --twin starts from the last stage's choice")
        if not out.exists():
            p.error(f"--twin: no {out}; run the stages first (`benchmarks/continual_tuning.py --benchmark "
                    f"{args.benchmark}`)")
        return _tune_twin(args, out)
    earlier = None
    if args.stage > 1:
        if not out.exists():
            p.error(f"--stage {args.stage}: no {out}; run stage 1 first (`benchmarks/continual_tuning.py "
                    f"--benchmark {args.benchmark}`)")
        earlier = load_result(out, benchmark="continual-tuning")
        done = earlier["config"].get("stages", 1)
        if done != args.stage - 1:
            p.error(f"--stage {args.stage}: {out} holds stage {done}; run --stage {done + 1} next")
        if args.stage == 2:
            first = max(earlier["raw"]["candidates"], key=lambda r: r["mean"])   # stage 1's winner (rerunnable)
        else:
            first = earlier["summary"]["chosen"]
        # a knob an older file did not tune ran at the library default
        winner = {k: first.get(k, getattr(ContinualConfig, k)) for k in STAGE_KNOBS[args.stage]}
        if args.stage == 2:
            changes = STAGE2_CHANGES
        elif args.stage == 5:
            changes = [{}] + [{"lr": float(f"{winner['lr'] * f:.6g}")} for f in STAGE5_LR_FACTORS]
        elif args.stage == 6:
            changes = list(STAGE6_CHANGES)
        else:
            changes = [{}] + [c for c in STAGE3_CHANGES[1:] if any(
                winner[k] != v for k, v in c.items())]                # stage 4: those not yet in the choice
        if len(changes) == 1:
            p.error(f"--stage {args.stage}: the stage-{args.stage - 1} choice already holds every change")
        candidates = [{**winner, **change} for change in changes]
    else:
        candidates = CANDIDATES
    torch.set_num_threads(1)
    base = ContinualConfig(benchmark=args.benchmark, strategy="staer", buffer_size=200, validation=VALIDATION)
    tasks = []
    for candidate in candidates:
        config = replace(base, **candidate)
        tasks += continual_grid(config, strategies=["staer"], buffer_sizes=[200], seeds=range(args.seeds),
                                out_dir=args.work_dir / args.benchmark, tag=_tag(config, _DEFAULT))
    groups = _run_tasks(tasks, args.workers)
    rows = []
    for candidate, label in zip(candidates, groups):
        runs = groups[label]
        accs = [r["class_il_accuracy"] for r in runs]
        rows.append({"label": label, **candidate, "validation_class_il": accs, "mean": sum(accs) / len(accs),
                     "wall_s": [r["wall_s"] for r in runs]})
    best = max(rows, key=lambda r: r["mean"])          # max keeps the first of equal means
    knobs = STAGE_KNOBS[args.stage]
    rule = ("highest mean validation class-IL of spiking STAER at buffer 200 (held-out 10% of the training images; "
            "test set never read); ties: the earlier candidate")
    raw = {"candidates": rows}
    seeds = {"seeds": list(range(args.seeds))}
    kept = False
    if earlier is not None:
        rule = (earlier["config"]["rule"] + f"; stage {args.stage}: the same rule over one change at a time from the "
                f"stage-{args.stage - 1} {'winner' if args.stage == 2 else 'choice'} (re-run first), on seeds "
                f"0-{args.seeds - 1}")
        kept = best is rows[0]                       # the earlier choice stands: so does its twins' rate

        def carried(key: str) -> bool:               # a new choice drops the twins' rate (chosen for the old one)
            return kept or not key.startswith("twin")

        raw = {**{k: v for k, v in earlier["raw"].items() if carried(k)}, f"stage{args.stage}_candidates": rows}
        seeds = {**{k: v for k, v in earlier["config"].items()
                    if (k.endswith("seeds") or k == "twin_rule") and carried(k)},
                 f"stage{args.stage}_seeds": seeds["seeds"]}
    twin = {k: v for k, v in earlier["summary"].items() if k.startswith("twin")} if kept else {}
    write_result(out, benchmark="continual-tuning",
                 config={"benchmark": args.benchmark, "strategy": "staer", "buffer_size": 200,
                         "validation": VALIDATION, **seeds, "stages": args.stage, "rule": rule},
                 seed=0, raw=raw,
                 summary={"chosen": {k: best[k] for k in knobs},
                          "chosen_validation_class_il": best["mean"], **twin})
    for r in rows:
        print(f"{r['label']:40s} {100 * r['mean']:.2f}")
    print("chosen:", {k: best[k] for k in knobs}, f"-> {out}")
    return 0


def _tune_twin(args: argparse.Namespace, out: Path) -> int:
    """``--twin``: the ANN twins' rate under the stages' rule; adds ``twin_chosen`` to the file's summary."""
    from snnrl.continual.configs import LIF_BETA
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.results import load_result, write_result
    from snnrl.sweeps.continual import continual_grid, run_continual_task_or_diverged

    earlier = load_result(out, benchmark="continual-tuning")
    chosen = earlier["summary"]["chosen"]
    rates = [chosen["lr"]] + [lr for lr in TWIN_RATES if lr != chosen["lr"]]
    torch.set_num_threads(1)
    base = replace(ContinualConfig(benchmark=args.benchmark, strategy="staer", buffer_size=200,
                                   validation=VALIDATION, **chosen), neuron="relu", lif_beta=LIF_BETA)
    tasks = []
    for lr in rates:
        config = replace(base, lr=lr)
        tasks += continual_grid(config, strategies=["staer"], buffer_sizes=[200], seeds=range(args.seeds),
                                out_dir=args.work_dir / args.benchmark, tag=_tag(config, _DEFAULT))
    groups = _run_tasks(tasks, args.workers, run=run_continual_task_or_diverged)
    rows = []
    for lr, (label, runs) in zip(rates, groups.items()):
        accs = [r["class_il_accuracy"] for r in runs]
        rows.append({"label": label, "lr": lr, "validation_class_il": accs, "mean": sum(accs) / len(accs),
                     "diverged": [bool(r.get("diverged")) for r in runs], "wall_s": [r["wall_s"] for r in runs]})
    best = max(rows, key=lambda r: r["mean"])          # max keeps the first of equal means
    rule = ("the same rule over the rate (" + ", ".join(f"{lr:g}" for lr in rates)
            + f") with the twin (ReLUs) as the backbone, on seeds 0-{args.seeds - 1}; a diverged run scores 0")
    write_result(out, benchmark="continual-tuning",
                 config={**earlier["config"], "twin_rule": rule, "twin_seeds": list(range(args.seeds))}, seed=0,
                 raw={**earlier["raw"], "twin_candidates": rows},
                 summary={**earlier["summary"], "twin_chosen": {"lr": best["lr"]},
                          "twin_chosen_validation_class_il": best["mean"]})
    for r in rows:
        print(f"{r['label']:40s} {100 * r['mean']:.2f}")
    print("ANN twins' rate:", best["lr"], f"-> {out}")
    return 0


def _tune_buffer(args: argparse.Namespace, out: Path) -> int:
    """``--buffer-stage``: one change at a time at that buffer; adds ``chosen_by_buffer`` to the file's summary."""
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.results import load_result, write_result
    from snnrl.sweeps.continual import continual_grid

    earlier = load_result(out, benchmark="continual-tuning")
    chosen = earlier["summary"]["chosen"]
    size = args.buffer_stage
    changes = [{k: (float(f"{chosen['lr'] * 2:.6g}") if v == "x2" else v) for k, v in c.items()}
               for c in BUFFER_STAGE_CHANGES]
    changes = [c for c in changes if not c or any(chosen.get(k) != v for k, v in c.items())]
    torch.set_num_threads(1)
    base = ContinualConfig(benchmark=args.benchmark, strategy="staer", buffer_size=size, validation=VALIDATION,
                           **chosen)
    tasks = []
    for change in changes:
        config = replace(base, **change)
        tasks += continual_grid(config, strategies=["staer"], buffer_sizes=[size], seeds=range(args.seeds),
                                out_dir=args.work_dir / args.benchmark, tag=_tag(config, _DEFAULT))
    groups = _run_tasks(tasks, args.workers)
    rows = []
    for change, (label, runs) in zip(changes, groups.items()):
        accs = [r["class_il_accuracy"] for r in runs]
        rows.append({"label": label, "change": change, "validation_class_il": accs, "mean": sum(accs) / len(accs),
                     "wall_s": [r["wall_s"] for r in runs]})
    best = max(rows, key=lambda r: r["mean"])          # max keeps the first of equal means
    rule = (f"the same rule with spiking STAER at buffer {size} over one change at a "
            f"time from the last stage's choice (re-run first), on seeds 0-{args.seeds - 1}; the winner's changes "
            f"apply to all our runs at buffer {size}")
    by_buffer = {**earlier["summary"].get("chosen_by_buffer", {}), str(size): best["change"]}
    write_result(out, benchmark="continual-tuning",
                 config={**earlier["config"], f"buffer{size}_rule": rule,
                         f"buffer{size}_seeds": list(range(args.seeds))}, seed=0,
                 raw={**earlier["raw"], f"buffer{size}_candidates": rows},
                 summary={**earlier["summary"], "chosen_by_buffer": by_buffer,
                          f"buffer{size}_chosen_validation_class_il": best["mean"]})
    for r in rows:
        print(f"{r['label']:40s} {100 * r['mean']:.2f}")
    print(f"buffer {size}:", best["change"] or "the choice unchanged", f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
