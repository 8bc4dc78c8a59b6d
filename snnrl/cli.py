"""The ``snnrl`` command line.

Option defaults are read from the config dataclasses (the one source of every default); sub-commands load their
side (stable-baselines3, gymnasium, Avalanche) only when they run, so ``snnrl --help`` imports torch and nothing
heavier.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def _cmd_train_teacher(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from snnrl.agents.teachers import TEACHER_SPECS, train_teacher

    if args.name not in TEACHER_SPECS:
        known = ", ".join(sorted(TEACHER_SPECS))
        print(f"error: unknown teacher {args.name!r}; known teachers: {known}", file=sys.stderr)
        return 2
    spec = TEACHER_SPECS[args.name]
    if args.seed is not None:
        spec = replace(spec, seed=args.seed)
    progress = train_teacher(spec, workdir=args.workdir, max_steps=args.steps,
                             checkpoint_every=args.checkpoint_every)
    print(f"{spec.name}: {progress.steps} steps, best return {progress.best_return:.1f} "
          f"± {progress.best_return_std:.1f} at step {progress.best_step}")
    return 0


def _cmd_export_teacher(args: argparse.Namespace) -> int:
    from snnrl.agents.zoo import export_teacher

    entry = export_teacher(args.name, workdir=args.workdir, require_target=not args.force)
    print(f"{args.name}: exported, return {entry['return_mean']:.1f} ± {entry['return_std']:.1f} "
          f"over {entry['eval_episodes']} episodes -> snnrl/zoo/{entry['file']}")
    return 0


def _load_actor(teacher: str, env: str | None):
    """``(actor, name, env id)`` of a zoo teacher by name, or of a user's SB3 zip (with ``env``)."""
    from pathlib import Path

    if teacher.endswith(".zip") or Path(teacher).is_file():
        if not env:
            raise SystemExit("error: an SB3 zip needs --env ENV_ID (SB3 files do not record the env id)")
        import stable_baselines3 as sb3

        from snnrl.agents.actor import actor_from_sb3

        for algo in ("TD3", "SAC", "PPO", "A2C", "DDPG"):
            try:
                model = getattr(sb3, algo).load(teacher, device="cpu")
                break
            except Exception:  # noqa: BLE001 - try the next algorithm
                continue
        else:
            raise SystemExit(f"error: {teacher} is not a loadable TD3/SAC/PPO/A2C/DDPG zip")
        return actor_from_sb3(model, env_id=env), Path(teacher).stem, env
    from snnrl.agents.zoo import load_teacher

    actor, entry = load_teacher(teacher)
    return actor, teacher, env or entry["env_id"]


def _backend_arg(args: argparse.Namespace):
    """The backend of ``--backend/--workers/--address``; ``None`` for the plain in-process run."""
    from snnrl.backends import make_backend

    if args.backend == "local" and args.workers == 1 and not args.address:
        return None
    try:
        return make_backend(args.backend, workers=args.workers, address=args.address)
    except (ValueError, ImportError) as exc:
        raise SystemExit(f"error: {exc}") from None


def _is_policy_file(path: str) -> bool:
    """A snnrl spiking-policy file (``snnrl convert``) rather than an SB3 zip or a zoo name."""
    from pathlib import Path

    if not Path(path).is_file() or path.endswith(".zip"):
        return False
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a torch file: let the usual loaders report it
        return False
    return isinstance(blob, dict) and blob.get("format") == "snnrl-spiking-policy"


def _evaluate_policy_file(path: str, args: argparse.Namespace) -> int:
    """Every T of a spiking-policy file beside the ANN (when its teacher is in the zoo) and the zero action."""
    from pathlib import Path

    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy, ConstantPolicy, load_policy_set
    from snnrl.agents.zoo import list_teachers, load_teacher
    from snnrl.io import ArtifactError, atomic_write_json
    from snnrl.reports.fidelity import significant
    from snnrl.sweeps.fidelity import episode_stats
    from snnrl.sweeps.statistics import fidelity_score
    from snnrl.tables import format_table

    try:
        policies, meta = load_policy_set(path)
    except ArtifactError as exc:
        raise SystemExit(f"error: {exc}") from None
    env_id = args.env or meta.get("env_id")
    if not env_id:
        raise SystemExit(f"error: {path} does not record its environment; give --env ENV_ID")
    first = next(iter(policies.values()))
    teacher = meta.get("teacher")
    ann_actor = load_teacher(teacher)[0] if teacher in list_teachers() else None

    def stats(policy) -> dict:
        episodes = run_episodes(policy, env_id, episodes=args.episodes, seed=args.seed,
                                teacher=None if ann_actor is None else AnnPolicy(ann_actor, metering=False))
        return episode_stats(episodes, None)

    reference = stats(ConstantPolicy(first.actor.action_dim, first.actor.obs_dim))
    rows = {"zero action": reference}
    if ann_actor is not None:
        rows["ANN"] = stats(AnnPolicy(ann_actor))
    for t, policy in policies.items():
        rows[f"SNN T={t} ({policy.meta.get('recipe', '?')})"] = stats(policy)
    ann = rows.get("ANN")
    table = [[name, f"{significant(r['return_mean'])} ± {significant(r['return_std'], 2)}",
              "–" if ann is None or fidelity_score(r["return_mean"], ann["return_mean"], reference["return_mean"])
              is None else f"{100 * fidelity_score(r['return_mean'], ann['return_mean'], reference['return_mean']):.1f}%",
              "–" if r["energy_per_decision_pj"] is None else f"{r['energy_per_decision_pj'] / 1000:.1f}"]
             for name, r in rows.items()]
    print(f"{path} on {env_id}: {args.episodes} episodes per row (seeds {args.seed}..{args.seed + args.episodes - 1})")
    print(format_table(table, ["policy", "return", "fidelity", "nJ/decision"]))
    out = Path(args.out or f"runs/evaluate-{Path(path).stem}") / "policy_results.json"
    atomic_write_json(out, {"kind": "snnrl-policy-evaluation", "schema_version": 1, "policy_file": str(path),
                            "env_id": env_id, "seed": args.seed, "episodes": args.episodes, "meta": meta,
                            "rows": rows})
    print(f"wrote {out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    files = [t for t in args.teachers if _is_policy_file(t)]
    if files:
        if len(args.teachers) > 1:
            raise SystemExit("error: evaluate one spiking-policy file at a time (without other teachers)")
        return _evaluate_policy_file(files[0], args)

    from snnrl.agents.conversion import ConversionConfig
    from snnrl.reports.conversion import format_summary, write_reports
    from snnrl.sweeps.evaluator import SweepTarget, run_sweeps
    from snnrl.sweeps.jobs import SweepConfig
    from snnrl.sweeps.statistics import summarise

    try:
        config = SweepConfig(timesteps=tuple(args.timesteps), alphas=tuple(args.alphas), episodes=args.episodes,
                             seed=args.seed, reset_on_episode_start=not args.carry_across_episodes, exact=args.exact,
                             conversion=ConversionConfig(threshold_method=args.threshold,
                                                         calibration_steps=args.calibration_steps, seed=args.seed,
                                                         threshold_scale=args.threshold_scale))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    targets = [SweepTarget(name, actor, env_id)
               for actor, name, env_id in (_load_actor(teacher, args.env) for teacher in args.teachers)]
    backend = _backend_arg(args)
    try:
        sweeps = run_sweeps(targets, config, backend=backend, progress=not args.no_progress)
    finally:
        if backend is not None:
            backend.close()
    for target, (results, calibration) in zip(targets, sweeps):
        name, env_id = target.name, target.env_id
        out = Path(args.out) / name if args.out and len(targets) > 1 else Path(args.out or f"runs/evaluate-{name}")
        paths = write_reports(out, results, teacher=name, env_id=env_id, config=config, calibration=calibration)
        print(f"{name} on {env_id}: {args.episodes} episodes per row "
              f"(seeds {args.seed}..{args.seed + args.episodes - 1})")
        print(format_summary(summarise(results)))
        for r in (r for r in results if r.job.kind == "exact"):
            print(f"exact SNN: return {r.returns.mean():.1f} ± {r.returns.std():.1f}, "
                  f"{r.energy_per_decision_pj / 1e6:.3f} uJ per decision, max |action - ANN| "
                  f"{max(float(abs(e.action_errors).max()) for e in r.episodes):.3g}")
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from snnrl.agents.policy import save_policy_set
    from snnrl.encoding import check_timesteps
    from snnrl.sweeps.fidelity import convert_tuned

    out = Path(args.out)
    try:
        for t in args.timesteps:
            if t < 1:
                raise ValueError(f"--timesteps {t}: T must be an integer >= 1 (e.g. --timesteps 4 8).")
            check_timesteps(t)
        if args.tuning_episodes < 1:
            raise ValueError(f"--tuning-episodes must be >= 1, got {args.tuning_episodes}.")
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if out.exists() and not args.force:
        raise SystemExit(f"error: --out {out} exists; give another path or --force to replace it")
    if out.parent and not out.parent.exists():
        raise SystemExit(f"error: --out {out}: folder {out.parent} does not exist; create it first")
    actor, name, env_id = _load_actor(args.model, args.env)
    print(f"converting {name} ({env_id}) for T = {' '.join(map(str, args.timesteps))}; tuning on episodes seeded "
          f"{args.tuning_seed}..{args.tuning_seed + args.tuning_episodes - 1}", flush=True)
    policies, meta = convert_tuned(actor, env_id, args.timesteps, tuning_seed=args.tuning_seed,
                                   tuning_episodes=args.tuning_episodes, progress=lambda line: print(line, flush=True))
    path = save_policy_set(out, policies, {"teacher": name, **meta})
    print(f"wrote {path}: load it with SpikingPolicy.load(path, timesteps=T) or `snnrl evaluate {path}`")
    return 0


def _cmd_continual(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from snnrl.continual.experiment import ContinualConfig
    from snnrl.reports.continual import format_continual_summary, write_continual_reports
    from snnrl.sweeps.continual import continual_grid, run_continual_grid

    benchmark = args.benchmark if args.benchmark.startswith("split-") else f"split-{args.benchmark}"
    out = Path(args.out or f"runs/continual-{benchmark}")
    try:
        base = ContinualConfig(
            benchmark=benchmark, strategy=args.strategy[0], backbone=args.backbone, buffer_size=args.buffer_size[0],
            timesteps=args.timesteps, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            n_experiences=args.experiences, train_per_class=args.train_per_class, test_per_class=args.test_per_class,
            ce_mode=args.ce_mode, data_root=args.data_root, staer_alignment=not args.no_alignment,
            staer_expansion_contraction=not args.no_expansion, staer_beta=args.staer_beta,
            staer_alpha1=args.staer_alpha1, staer_alpha2=args.staer_alpha2, derpp_alpha=args.derpp_alpha,
            derpp_beta=args.derpp_beta, ahsar=args.ahsar, neuron=args.neuron)
        if args.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {args.seeds}.")
        tasks = continual_grid(base, strategies=args.strategy, buffer_sizes=args.buffer_size,
                               seeds=range(args.first_seed, args.first_seed + args.seeds), out_dir=out, tag=args.tag,
                               resume=not args.restart, progress=not args.no_progress)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    backend = _backend_arg(args)
    if backend is not None:   # Avalanche's interactive logger only in this process
        tasks = [(label, replace(task, progress=False)) for label, task in tasks]

    def report(label: str, task, result: dict) -> None:
        print(f"{label} seed {task.config.seed}: class-IL {100 * result['class_il_accuracy']:.2f}  task-IL "
              f"{100 * result['task_il_accuracy']:.2f}  ({result['wall_s']:.0f} s)", flush=True)

    try:
        groups = run_continual_grid(tasks, backend=backend, progress=backend is not None and not args.no_progress,
                                    on_run=report)
    finally:
        if backend is not None:
            backend.close()
    paths = write_continual_reports(out, groups)
    print(format_continual_summary(groups))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_energy_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from snnrl.reports.energy import (format_energy_summary, load_energy_episodes, summarise_energy,
                                      write_energy_report)
    from snnrl.io import ArtifactError

    try:
        rows, context = load_energy_episodes(args.results)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = Path(context["source"])
    paths = write_energy_report(Path(args.out) if args.out else source.parent, rows, title=context["title"])
    print(f"{context['title']}: {len(rows)} episodes ({rows[0]['profile']})")
    print(format_energy_summary(summarise_energy(rows)))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _add_backend_args(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("where the sweep runs (snnrl.backends)")
    group.add_argument("--backend", choices=["local", "ray"], default="local",
                       help=f"local: this machine (default); ray: a Ray cluster, one task per {what[:-1]} "
                            "(pip install snnrl[ray])")
    group.add_argument("--workers", type=int, default=1,
                       help=f"local: processes running {what} in parallel (default 1: in this process); "
                            "ray without --address: CPUs of the local Ray instance")
    group.add_argument("--address", default=None,
                       help="Ray cluster to join (e.g. ray://HEAD:10001 or auto); default: a local instance")


def _keyword_default(function, name: str):
    import inspect

    return inspect.signature(function).parameters[name].default


def build_parser() -> argparse.ArgumentParser:
    """The parser; option defaults come from the config dataclasses (and ``train_teacher``'s signature)."""
    from snnrl.agents.conversion import ConversionConfig
    from snnrl.agents.teachers import train_teacher
    from snnrl.continual.configs import NEURONS, STRATEGIES
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.sweeps.jobs import SweepConfig

    parser = argparse.ArgumentParser(prog="snnrl", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in this process (default 1: the same numbers on any machine and backend, "
                             "since multi-threaded matmuls sum in another order)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the toolkit's main demo on embedded defaults")
    demo.add_argument("--core", action="store_true", help="the core demo (spiking stack on digits) instead")
    demo.set_defaults(func=lambda a: __import__("snnrl.demo", fromlist=["main"]).main(["--core"] if a.core else []))

    teach = sub.add_parser("train-teacher", help="train (or resume) an SB3 teacher of the zoo")
    teach.add_argument("name", help="zoo name, e.g. td3-hopper")
    teach.add_argument("--steps", type=int, default=None, help="override the step budget")
    teach.add_argument("--seed", type=int, default=None)
    teach.add_argument("--workdir", default=None, help="checkpoint directory (default $SNNRL_HOME/teachers/NAME)")
    teach.add_argument("--checkpoint-every", type=int, default=_keyword_default(train_teacher, "checkpoint_every"),
                       help="environment steps between checkpoints (default %(default)s)")
    teach.set_defaults(func=_cmd_train_teacher)

    export = sub.add_parser("export-teacher", help="evaluate a trained teacher and add it to the zoo")
    export.add_argument("name")
    export.add_argument("--workdir", default=None)
    export.add_argument("--force", action="store_true", help="export even if below the target return")
    export.set_defaults(func=_cmd_export_teacher)

    ev = sub.add_parser("evaluate", help="ANN vs SNN vs SNN+CRPI over T and alpha, with energy reports")
    ev.add_argument("teachers", nargs="+", metavar="teacher",
                    help="zoo names (e.g. td3-hopper td3-walker2d), paths to SB3 .zip files (then give --env), or "
                         "one spiking-policy file of `snnrl convert`")
    ev.add_argument("--env", default=None, help="gymnasium id (required for an SB3 zip)")
    ev.add_argument("--timesteps", type=int, nargs="+", default=list(SweepConfig.timesteps),
                    help="IF timesteps per decision (default %(default)s)")
    ev.add_argument("--alphas", type=float, nargs="+", default=list(SweepConfig.alphas),
                    help="CRPI strengths; each T also runs without CRPI (default %(default)s)")
    ev.add_argument("--episodes", type=int, default=SweepConfig.episodes,
                    help="seeded episodes per row (default %(default)s)")
    ev.add_argument("--seed", type=int, default=SweepConfig.seed,
                    help="first episode seed; episode i uses SEED+i (default %(default)s)")
    ev.add_argument("--threshold", choices=["max", "percentile"], default=ConversionConfig.threshold_method,
                    help="threshold calibration rule (default %(default)s)")
    ev.add_argument("--calibration-steps", type=int, default=ConversionConfig.calibration_steps,
                    help="environment steps of ANN rollouts to calibrate thresholds on (default %(default)s)")
    ev.add_argument("--threshold-scale", type=float, default=ConversionConfig.threshold_scale,
                    help="multiply the calibrated thresholds (default %(default)s; below 1 clips rare peaks for a "
                         "finer rate resolution, tune per task on episodes you do not report)")
    ev.add_argument("--carry-across-episodes", action="store_true",
                    help="keep the CRPI carry across episodes (the reference code's behaviour)")
    ev.add_argument("--exact", action="store_true",
                    help="also evaluate the bit-exact gate-level conversion (slow: about 2 decisions/s)")
    ev.add_argument("--out", default=None,
                    help="output directory (default runs/evaluate-NAME; with several teachers OUT/NAME)")
    ev.add_argument("--no-progress", action="store_true")
    _add_backend_args(ev, "jobs")
    ev.set_defaults(func=_cmd_evaluate)

    cv = sub.add_parser("convert", help="convert a teacher into a spiking-policy file, recipe tuned per T")
    cv.add_argument("model", help="zoo name (e.g. td3-hopper) or an SB3 .zip (then give --env)")
    cv.add_argument("--env", default=None, help="gymnasium id (required for an SB3 zip)")
    cv.add_argument("--timesteps", type=int, nargs="+", default=[4, 8],
                    help="IF timesteps per decision to build a policy for (default %(default)s)")
    cv.add_argument("--tuning-seed", type=int, default=100,
                    help="first episode seed of the tuning episodes; report on other seeds (default %(default)s)")
    cv.add_argument("--tuning-episodes", type=int, default=30, help="tuning episodes per candidate (default %(default)s)")
    cv.add_argument("--out", required=True, help="the policy file to write (e.g. hopper-snn.pt)")
    cv.add_argument("--force", action="store_true", help="replace --out if it exists")
    cv.set_defaults(func=_cmd_convert)

    er = sub.add_parser("energy-report", help="energy report (JSON, CSV, plots) from evaluation results")
    er.add_argument("results", help="results.json of `snnrl evaluate` (or its directory), or an energy-records file")
    er.add_argument("--out", default=None, help="output directory (default: next to the results file)")
    er.set_defaults(func=_cmd_energy_report)

    cl = sub.add_parser("continual", help="class-incremental benchmark with a spiking backbone (Avalanche)")
    cl.add_argument("--benchmark", default=ContinualConfig.benchmark,
                    help="split-mnist, split-fashion-mnist, split-digits, split-cifar10, split-cifar100")
    cl.add_argument("--strategy", nargs="+", default=[ContinualConfig.strategy], choices=list(STRATEGIES),
                    help="strategies of the grid (default %(default)s)")
    cl.add_argument("--buffer-size", type=int, nargs="+", default=[ContinualConfig.buffer_size],
                    help="replay buffer sizes of the grid (default %(default)s; naive runs once)")
    cl.add_argument("--backbone", default=ContinualConfig.backbone, choices=["mlp", "conv", "resnet19"],
                    help="spiking backbone (default %(default)s)")
    cl.add_argument("--neuron", default=ContinualConfig.neuron, choices=list(NEURONS),
                    help="hidden neuron of the backbone (default %(default)s)")
    cl.add_argument("--timesteps", type=int, default=ContinualConfig.timesteps,
                    help="simulation steps per sample (default %(default)s)")
    cl.add_argument("--epochs", type=int, default=ContinualConfig.epochs,
                    help="epochs per experience (default %(default)s)")
    cl.add_argument("--batch-size", type=int, default=ContinualConfig.batch_size,
                    help="training mini-batch size (default %(default)s)")
    cl.add_argument("--lr", type=float, default=ContinualConfig.lr, help="AdamW learning rate (default %(default)s)")
    cl.add_argument("--experiences", type=int, default=ContinualConfig.n_experiences,
                    help="experiences; the classes are split evenly (default %(default)s)")
    cl.add_argument("--seeds", type=int, default=1, help="number of seeds (default %(default)s)")
    cl.add_argument("--first-seed", type=int, default=0, help="first seed (default %(default)s)")
    cl.add_argument("--train-per-class", type=int, default=ContinualConfig.train_per_class,
                    help="subsample the training set to N images per class (quick runs; default: all)")
    cl.add_argument("--test-per-class", type=int, default=ContinualConfig.test_per_class,
                    help="subsample the test set to N images per class (quick runs; default: all)")
    cl.add_argument("--ce-mode", choices=["mean", "per_timestep"], default=ContinualConfig.ce_mode,
                    help="cross-entropy of the time-averaged logits or per timestep (default %(default)s)")
    cl.add_argument("--staer-beta", type=float, default=ContinualConfig.staer_beta,
                    help="STAER alignment weight beta (default %(default)s)")
    cl.add_argument("--staer-alpha1", type=float, default=ContinualConfig.staer_alpha1,
                    help="STAER temporal-contraction weight (default %(default)s)")
    cl.add_argument("--staer-alpha2", type=float, default=ContinualConfig.staer_alpha2,
                    help="STAER temporal-expansion weight (default %(default)s)")
    cl.add_argument("--derpp-alpha", type=float, default=ContinualConfig.derpp_alpha,
                    help="DER++ logit-matching weight (default %(default)s)")
    cl.add_argument("--derpp-beta", type=float, default=ContinualConfig.derpp_beta,
                    help="DER++ buffer cross-entropy weight (default %(default)s)")
    cl.add_argument("--no-alignment", action="store_true", help="STAER ablation: drop the Soft-DTW term")
    cl.add_argument("--no-expansion", action="store_true", help="STAER ablation: no temporal expansion/contraction")
    cl.add_argument("--ahsar", action="store_true", help="AHSAR homeostasis (threshold regulation) during training")
    cl.add_argument("--tag", default="", help="suffix for the run labels (e.g. for ablations)")
    cl.add_argument("--data-root", default=None, help="folder with user-provided data (CIFAR)")
    cl.add_argument("--out", default=None, help="output directory (default runs/continual-BENCHMARK)")
    cl.add_argument("--restart", action="store_true", help="ignore existing checkpoints")
    cl.add_argument("--no-progress", action="store_true")
    _add_backend_args(cl, "runs")
    cl.set_defaults(func=_cmd_continual)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        print(f"error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
