"""The ``snnrl`` command line.

Option defaults are read from the config dataclasses (the one source of every default); sub-commands load their
side (stable-baselines3, gymnasium, Avalanche) only when they run, so ``snnrl --help`` imports torch and nothing
heavier.

Bad input never costs work: every option is checked when it is parsed (its ``type=``) or, where it needs a file or
another option, before the first episode, epoch or training step. A bad value is one line on stderr naming the flag,
the value and the fix, with exit code 2; ``-v`` adds the traceback. Output folders (``--out``) are checked, locked
and recorded before any work (:mod:`snnrl.reports.run_folder`): a second run of the same command resumes, another
command's folder is refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(Exception):
    """Bad input found before any work: printed as one line on stderr, exit code 2."""

    def __init__(self, message: str, *, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), raised as :class:`UsageError` for :func:`main` to print."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)


# -- option types: each checks one value when it is parsed ---------------------------------------------------------

def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value
    return parse


def _float_in(low: float, high: float = math.inf, *, open_low: bool = False,
              open_high: bool = False) -> Callable[[str], float]:
    bounds = f"> {low:g}" if open_low else f">= {low:g}"
    if high != math.inf:
        bounds = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if open_low else value >= low)
                and (value < high if open_high else value <= high)):
            raise argparse.ArgumentTypeError(f"expected a finite number {bounds}, got {text!r}")
        return value
    return parse


_POSITIVE = _int_at_least(1)
_NON_NEGATIVE = _int_at_least(0)
_UNIT = _float_in(0.0, 1.0)
_WEIGHT = _float_in(0.0)
_RATE = _float_in(0.0, open_low=True)
_FRACTION = _float_in(0.0, 1.0, open_low=True, open_high=True)


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no file {text!r}; give the path of an existing file")
    return text


def _existing_path(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"no file or folder {text!r}; give an existing path")
    return text


def _existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"no folder {text!r}; give an existing folder")
    return text


def _writable_dir(text: str) -> str:
    """A folder that exists or can be created: not a file, under a writable existing folder."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; give a folder")
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} cannot be written ({ancestor} is not a writable folder); give a "
                                         "writable folder")
    return text


def _writable_file(text: str) -> str:
    """A file path whose folder exists and is writable (the file itself may exist: see ``--force``)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file path (e.g. policy.pt)")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: folder {folder} is not writable; give a writable path")
    return text


def _env_id(text: str) -> str:
    import difflib

    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids snnrl/<Task>Pixels-v5)

    if text not in gym.registry:
        close = difflib.get_close_matches(text, list(gym.registry), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "e.g. Hopper-v5 (see gymnasium.registry)"
        raise argparse.ArgumentTypeError(f"unknown gymnasium environment {text!r}; {hint}")
    return text


def _known(names: Callable[[], Sequence[str]], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        known = list(names())
        if text not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; known: {', '.join(sorted(known))}")
        return text
    return parse


def _teacher_names() -> list[str]:
    from snnrl.agents.teachers import TEACHER_SPECS

    return list(TEACHER_SPECS)


def _teacher_input(text: str) -> str:
    """A zoo name, an SB3 zip or a spiking-policy file."""
    if Path(text).is_file():
        return text
    if text.endswith((".zip", ".pt")):
        raise argparse.ArgumentTypeError(f"no file {text!r}; give the path of an existing SB3 zip or policy file")
    from snnrl.agents.zoo import list_teachers

    known = sorted(list_teachers())
    if text not in known:
        raise argparse.ArgumentTypeError(f"unknown teacher {text!r}: not a file, and the zoo has {', '.join(known)}")
    return text


def _benchmark(text: str) -> str:
    from snnrl.continual.datasets import DATASET_NAMES

    name = text.lower().removeprefix("split-")
    if name not in DATASET_NAMES:
        raise argparse.ArgumentTypeError(f"unknown benchmark {text!r}; known: "
                                         f"{', '.join('split-' + n for n in DATASET_NAMES)}")
    return f"split-{name}"


def _label(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(f"{text!r} may hold only letters, digits, '.', '_' and '-' (it names "
                                         "folders)")
    return text


# -- errors of the library, in the flags' words ---------------------------------------------------------------------

#: Config fields whose flag has another name (the rest are the flag with '-' for '_').
_FIELD_FLAGS = {"threshold_method": "--threshold", "n_experiences": "--experiences", "root": "--data-root",
                "alpha": "--alphas", "staer_alignment": "--no-alignment",
                "staer_expansion_contraction": "--no-expansion"}


def _in_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """``message`` with the Python names of config fields replaced by their flags (``threshold_scale`` ->
    ``--threshold-scale``)."""
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    flags.update({k: v for k, v in _FIELD_FLAGS.items()})
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, flags), key=len, reverse=True)) + r")(?=\s*(=|must|\())")
    return pattern.sub(lambda m: flags[m.group(1)], message)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _root_cause(exc: BaseException) -> BaseException:
    """The first error of a chain (a backend's TaskError wraps the task's own error)."""
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    return exc


# -- sub-commands --------------------------------------------------------------------------------------------------

#: Options that change how a run is shown or where it runs, not its results: left out of the run record, so a rerun
#: with another of them still resumes.
_NOT_RESULTS = frozenset({"func", "parser", "command", "verbose", "no_progress", "backend", "workers", "address", "overwrite",
                          "tensorboard", "restart"})


def _run_record(args: argparse.Namespace, inputs: Sequence[str] = ()) -> dict[str, Any]:
    """The command and its result-changing options (with the SHA-256 of every input file), for the run folder."""
    from snnrl.io import sha256_file

    options = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_RESULTS}
    files = {str(p): sha256_file(p) for p in inputs if Path(p).is_file()}
    return {"command": args.command, "options": options, "input_sha256": files}


def _open_folder(path: str | Path, args: argparse.Namespace, inputs: Sequence[str] = (), *, overwrite: bool = False):
    from snnrl.reports.run_folder import RunFolder, RunFolderError

    try:
        return RunFolder.open(path, record=_run_record(args, inputs), overwrite=overwrite or args.overwrite)
    except RunFolderError as exc:
        raise UsageError(str(exc)) from exc


def _check_backend(args: argparse.Namespace) -> None:
    if args.address and args.backend != "ray":
        raise UsageError(f"--address {args.address!r} joins a Ray cluster: give it with --backend ray, or drop it")


def _backend_arg(args: argparse.Namespace):
    """The backend of ``--backend/--workers/--address``; ``None`` for the plain in-process run."""
    from snnrl.backends import make_backend

    _check_backend(args)
    if args.backend == "local" and args.workers == 1:
        return None
    try:
        return make_backend(args.backend, workers=args.workers, address=args.address)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--backend {args.backend}: {_one_line(exc)}") from exc


def _tensorboard(args: argparse.Namespace, *parts: str):
    """A ``SummaryWriter`` under ``--tensorboard DIR/parts`` (``None`` without the option)."""
    if not args.tensorboard:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(Path(args.tensorboard, *parts)))


def _cmd_train_teacher(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from snnrl.agents.teachers import TEACHER_SPECS, train_teacher

    spec = TEACHER_SPECS[args.name]
    if args.seed is not None:
        spec = replace(spec, seed=args.seed)
    progress = train_teacher(spec, workdir=args.workdir, max_steps=args.steps, checkpoint_every=args.checkpoint_every,
                             report=lambda line: print(line, flush=True))
    print(f"{spec.name}: {progress.steps} steps, best return {progress.best_return:.1f} "
          f"± {progress.best_return_std:.1f} at step {progress.best_step}")
    return 0


def _cmd_export_teacher(args: argparse.Namespace) -> int:
    from snnrl.agents.teachers import default_workdir
    from snnrl.agents.zoo import export_teacher

    work = Path(args.workdir) if args.workdir else default_workdir(args.name)
    if not (work / "best_actor.pt").is_file():
        flag = f"--workdir {work}" if args.workdir else f"the default work folder {work}"
        raise UsageError(f"{flag} holds no trained actor (best_actor.pt); train first: snnrl train-teacher "
                         f"{args.name}" + (f" --workdir {work}" if args.workdir else ""))
    try:
        entry = export_teacher(args.name, workdir=work, require_target=not args.force)
    except ValueError as exc:   # below the target return
        raise UsageError(f"{_one_line(exc)} (or give --force)") from exc
    print(f"{args.name}: exported, return {entry['return_mean']:.1f} ± {entry['return_std']:.1f} "
          f"over {entry['eval_episodes']} episodes -> snnrl/zoo/{entry['file']}")
    return 0


def _load_actor(teacher: str, env: str | None, vecnormalize: str | None = None):
    """``(actor, name, env id)`` of a zoo teacher by name, or of a user's SB3 zip (with ``env``); checks that the
    actor fits the environment."""
    from snnrl.agents.zoo import TeacherLoadError, load_sb3_teacher, load_teacher

    if Path(teacher).is_file():
        if not env:
            raise UsageError(f"{teacher} is an SB3 zip: give --env ENV_ID (SB3 files do not record the env id)")
        try:
            return load_sb3_teacher(teacher, env_id=env, vecnormalize=vecnormalize), Path(teacher).stem, env
        except TeacherLoadError as exc:
            raise UsageError(_one_line(exc)) from exc
    if vecnormalize:
        raise UsageError(f"--vecnormalize {vecnormalize}: zoo teacher {teacher} carries its own normalisation; give "
                         "--vecnormalize with an SB3 zip only")
    actor, entry = load_teacher(teacher)
    if env and env != entry["env_id"]:
        import gymnasium as gym

        import snnrl.envs  # noqa: F401  (registers the pixel ids)

        probe = gym.make(env)
        shapes = (probe.observation_space.shape, getattr(probe.action_space, "shape", None))
        probe.close()
        if shapes != (actor.obs_shape, (actor.action_dim,)):
            raise UsageError(f"--env {env}: teacher {teacher} acts in {entry['env_id']} (observation {actor.obs_shape}, "
                             f"action {actor.action_dim}), {env} has observation {shapes[0]}, action {shapes[1]}; "
                             "give a matching --env or drop it")
    return actor, teacher, env or entry["env_id"]


def _is_policy_file(path: str) -> bool:
    """A snnrl spiking-policy file (``snnrl convert``) rather than an SB3 zip or a zoo name."""
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
    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy, ConstantPolicy, load_policy_set
    from snnrl.agents.zoo import list_teachers, load_teacher
    from snnrl.io import ArtifactError, atomic_write_json
    from snnrl.reports.fidelity import significant
    from snnrl.sweeps.fidelity import episode_stats
    from snnrl.sweeps.statistics import fidelity_score
    from snnrl.tables import format_table

    for flag in ("vecnormalize", "exact"):
        if getattr(args, flag):
            raise UsageError(f"--{flag} applies to a sweep of a teacher, not to a spiking-policy file; drop it")
    try:
        policies, meta = load_policy_set(path)
    except ArtifactError as exc:
        raise UsageError(_one_line(exc)) from exc
    env_id = args.env or meta.get("env_id")
    if not env_id:
        raise UsageError(f"{path} does not record its environment; give --env ENV_ID")
    first = next(iter(policies.values()))
    teacher = meta.get("teacher")
    ann_actor = load_teacher(teacher)[0] if teacher in list_teachers() else None
    folder = _open_folder(args.out or f"runs/evaluate-{Path(path).stem}", args, [path])
    writer = _tensorboard(args, Path(path).stem)

    def stats(policy) -> dict:
        episodes = run_episodes(policy, env_id, episodes=args.episodes, seed=args.seed,
                                teacher=None if ann_actor is None else AnnPolicy(ann_actor, metering=False))
        return episode_stats(episodes, None)

    with folder:
        a = first.actor
        reference = stats(ConstantPolicy(a.action_dim, a.obs_dim, obs_shape=a.obs_shape))
        rows = {"zero action": reference}
        if ann_actor is not None:
            rows["ANN"] = stats(AnnPolicy(ann_actor))
        for t, policy in policies.items():
            rows[f"SNN T={t} ({policy.meta.get('recipe', '?')})"] = stats(policy)
        if writer is not None:
            for step, (name, r) in enumerate(rows.items()):
                _log_job(writer, name, r["return_mean"], r["energy_per_decision_pj"], step)
            writer.close()
        ann = rows.get("ANN")
        table = [[name, f"{significant(r['return_mean'])} ± {significant(r['return_std'], 2)}",
                  "–" if ann is None or fidelity_score(r["return_mean"], ann["return_mean"], reference["return_mean"])
                  is None else
                  f"{100 * fidelity_score(r['return_mean'], ann['return_mean'], reference['return_mean']):.1f}%",
                  "–" if r["energy_per_decision_pj"] is None else f"{r['energy_per_decision_pj'] / 1000:.1f}"]
                 for name, r in rows.items()]
        print(f"{path} on {env_id}: {args.episodes} episodes per row "
              f"(seeds {args.seed}..{args.seed + args.episodes - 1})")
        print(format_table(table, ["policy", "return", "fidelity", "nJ/decision"]))
        out = folder.path / "policy_results.json"
        atomic_write_json(out, {"kind": "snnrl-policy-evaluation", "schema_version": 1, "policy_file": str(path),
                                "env_id": env_id, "seed": args.seed, "episodes": args.episodes, "meta": meta,
                                "rows": rows})
    print(f"wrote {out}")
    return 0


def _log_job(writer: Any, label: str, return_mean: float, energy_pj: float | None, step: int) -> None:
    """One evaluated job as TensorBoard scalars: ``return/LABEL`` and ``energy_per_decision_pj/LABEL``."""
    writer.add_scalar(f"return/{label}", return_mean, step)
    if energy_pj is not None:
        writer.add_scalar(f"energy_per_decision_pj/{label}", energy_pj, step)
    writer.flush()


def _job_file(index: int, job: Any) -> str:
    return f"{index:02d}-{re.sub(r'[^A-Za-z0-9.]+', '-', job.label).strip('-')}.json"


def _sweep_target(target: Any, folder: Path, config: Any, args: argparse.Namespace, backend: Any):
    """One teacher's sweep into ``folder``: each job's result is written (atomically) as it finishes, jobs found
    there from an interrupted run of the same command are read back instead of run. Returns ``(results,
    calibration)``."""
    import json

    from snnrl.io import atomic_write_json
    from snnrl.sweeps.evaluator import run_sweeps
    from snnrl.sweeps.jobs import JobResult

    jobs = config.jobs()
    files = {job: folder / "jobs" / _job_file(i, job) for i, job in enumerate(jobs)}
    done = {job: JobResult.from_json(json.loads(path.read_text(encoding="utf-8")))
            for job, path in files.items() if path.is_file()}
    writer = _tensorboard(args, target.name)
    step = {job: i for i, job in enumerate(jobs)}

    def log(result: Any) -> None:
        if writer is not None:
            _log_job(writer, result.job.label, float(result.returns.mean()), result.energy_per_decision_pj,
                     step[result.job])

    def finished(result: Any) -> None:
        atomic_write_json(files[result.job], result.to_json())
        log(result)

    for result in done.values():   # read back from an interrupted run: logged, not written again
        log(result)
    calibration_file = folder / "calibration.json"
    remaining = [job for job in jobs if job not in done]
    if done:
        print(f"{target.name}: resuming, {len(done)} of {len(jobs)} jobs done in {folder}", flush=True)
    if remaining or not calibration_file.is_file():
        [(results, calibration)] = run_sweeps([target], config, jobs=remaining, backend=backend,
                                              progress=not args.no_progress, on_job=finished)
        done.update({r.job: r for r in results})
        atomic_write_json(calibration_file, calibration)
    if writer is not None:
        writer.close()
    return [done[job] for job in jobs], json.loads(calibration_file.read_text(encoding="utf-8"))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    files = [t for t in args.teachers if _is_policy_file(t)]
    if files:
        if len(args.teachers) > 1:
            raise UsageError("evaluate one spiking-policy file at a time (without other teachers)")
        return _evaluate_policy_file(files[0], args)

    from snnrl.agents.conversion import ConversionConfig
    from snnrl.reports.conversion import format_summary, write_reports
    from snnrl.reports.run_folder import unique_names
    from snnrl.sweeps.evaluator import SweepTarget
    from snnrl.sweeps.jobs import SweepConfig
    from snnrl.sweeps.statistics import summarise

    try:
        config = SweepConfig(timesteps=tuple(args.timesteps), alphas=tuple(args.alphas), episodes=args.episodes,
                             seed=args.seed, reset_on_episode_start=not args.carry_across_episodes, exact=args.exact,
                             conversion=ConversionConfig(threshold_method=args.threshold,
                                                         calibration_steps=args.calibration_steps, seed=args.seed,
                                                         threshold_scale=args.threshold_scale))
    except ValueError as exc:
        raise UsageError(_in_flags(_one_line(exc), args.parser)) from exc
    _check_backend(args)
    if args.vecnormalize and len(args.teachers) > 1:
        raise UsageError(f"--vecnormalize {args.vecnormalize} belongs to one SB3 zip; evaluate that zip on its own")
    loaded = [_load_actor(teacher, args.env, args.vecnormalize) for teacher in args.teachers]
    names = unique_names([name for _, name, _ in loaded])
    targets = [SweepTarget(name, actor, env_id) for (actor, _, env_id), name in zip(loaded, names)]
    inputs = [*args.teachers, *([args.vecnormalize] if args.vecnormalize else [])]
    if args.out:
        roots = [_open_folder(args.out, args, inputs)]
        dirs = [roots[0].path] if len(targets) == 1 else [roots[0].path / name for name in names]
    else:
        roots = [_open_folder(f"runs/evaluate-{name}", args, inputs) for name in names]
        dirs = [root.path for root in roots]
    backend = _backend_arg(args)
    try:
        for target, out in zip(targets, dirs):
            results, calibration = _sweep_target(target, out, config, args, backend)
            paths = write_reports(out, results, teacher=target.name, env_id=target.env_id, config=config,
                                  calibration=calibration)
            print(f"{target.name} on {target.env_id}: {args.episodes} episodes per row "
                  f"(seeds {args.seed}..{args.seed + args.episodes - 1})")
            print(format_summary(summarise(results)))
            for r in (r for r in results if r.job.kind == "exact"):
                print(f"exact SNN: return {r.returns.mean():.1f} ± {r.returns.std():.1f}, "
                      f"{r.energy_per_decision_pj / 1e6:.3f} uJ per decision, max |action - ANN| "
                      f"{max(float(abs(e.action_errors).max()) for e in r.episodes):.3g}")
            print("wrote " + ", ".join(str(p) for p in paths.values()))
    finally:
        if backend is not None:
            backend.close()
        for root in roots:
            root.close()
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from snnrl.agents.policy import save_policy_set
    from snnrl.sweeps.fidelity import convert_tuned

    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} exists; give another path or --force to replace it")
    actor, name, env_id = _load_actor(args.model, args.env, args.vecnormalize)
    print(f"converting {name} ({env_id}) for T = {' '.join(map(str, args.timesteps))}; tuning on episodes seeded "
          f"{args.tuning_seed}..{args.tuning_seed + args.tuning_episodes - 1}", flush=True)
    policies, meta = convert_tuned(actor, env_id, args.timesteps, tuning_seed=args.tuning_seed,
                                   tuning_episodes=args.tuning_episodes, calibration_steps=args.calibration_steps,
                                   progress=lambda line: print(line, flush=True))
    path = save_policy_set(out, policies, {"teacher": name, **meta})
    print(f"wrote {path}: load it with SpikingPolicy.load(path, timesteps=T) or `snnrl evaluate {path}`")
    return 0


def _cmd_continual(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from snnrl.continual.datasets import DatasetError, load_dataset
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.reports.continual import format_continual_summary, write_continual_reports
    from snnrl.sweeps.continual import continual_grid, run_continual_grid

    out = Path(args.out or f"runs/continual-{args.benchmark}")
    try:
        base = ContinualConfig(
            benchmark=args.benchmark, strategy=args.strategy[0], backbone=args.backbone,
            buffer_size=args.buffer_size[0], timesteps=args.timesteps, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, n_experiences=args.experiences,
            train_per_class=args.train_per_class, test_per_class=args.test_per_class, ce_mode=args.ce_mode,
            data_root=args.data_root, staer_alignment=not args.no_alignment,
            staer_expansion_contraction=not args.no_expansion, staer_beta=args.staer_beta,
            staer_alpha1=args.staer_alpha1, staer_alpha2=args.staer_alpha2,
            staer_logit_alpha=args.staer_logit_alpha, derpp_alpha=args.derpp_alpha,
            derpp_beta=args.derpp_beta, ahsar=args.ahsar, neuron=args.neuron, lif_beta=args.lif_beta,
            optimizer=args.optimizer, validation=args.validation, buffer_update=args.buffer_update)
        tasks = continual_grid(base, strategies=args.strategy, buffer_sizes=args.buffer_size,
                               seeds=range(args.first_seed, args.first_seed + args.seeds), out_dir=out, tag=args.tag,
                               resume=not args.restart, progress=not args.no_progress,
                               tensorboard_dir=args.tensorboard)
    except ValueError as exc:
        raise UsageError(_in_flags(_one_line(exc), args.parser)) from exc
    try:   # the data must be there before a run starts (cached: the runs in this process reuse it)
        classes = load_dataset(args.benchmark, root=args.data_root).num_classes
    except (DatasetError, ValueError) as exc:
        raise UsageError(f"--benchmark {args.benchmark}: {_in_flags(_one_line(exc), args.parser)}") from exc
    if classes % args.experiences:
        raise UsageError(f"--experiences {args.experiences}: {args.benchmark} has {classes} classes, which do not "
                         "split evenly; give a divisor of the class count")
    _check_backend(args)
    folder = _open_folder(out, args, overwrite=args.restart)
    backend = _backend_arg(args)
    if backend is not None:   # Avalanche's interactive logger only in this process
        tasks = [(label, replace(task, progress=False)) for label, task in tasks]

    def report(label: str, task, result: dict) -> None:
        print(f"{label} seed {task.config.seed}: class-IL {100 * result['class_il_accuracy']:.2f}  task-IL "
              f"{100 * result['task_il_accuracy']:.2f}  ({result['wall_s']:.0f} s)", flush=True)

    with folder:
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
    from snnrl.io import ArtifactError
    from snnrl.reports.energy import (format_energy_summary, load_energy_episodes, summarise_energy,
                                      write_energy_report)

    try:
        rows, context = load_energy_episodes(args.results)
    except ArtifactError as exc:
        raise UsageError(_one_line(exc)) from exc
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
    group.add_argument("--workers", type=_POSITIVE, default=1,
                       help=f"local: processes running {what} in parallel (default 1: in this process); "
                            "ray without --address: CPUs of the local Ray instance")
    group.add_argument("--address", default=None,
                       help="Ray cluster to join (e.g. ray://HEAD:10001 or auto; with --backend ray); default: a "
                            "local instance")


def _add_output_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--out", type=_writable_dir, default=None,
                        help=f"output folder (default {default}); checked and locked before any work, a rerun of the "
                             "same command resumes in it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of another command in --out (default: refuse a non-empty --out "
                             "that another command wrote)")
    parser.add_argument("--tensorboard", type=_writable_dir, default=None, metavar="DIR",
                        help="also log the results as TensorBoard event files under DIR (off by default)")


def _keyword_default(function, name: str):
    import inspect

    return inspect.signature(function).parameters[name].default


def build_parser() -> argparse.ArgumentParser:
    """The parser; option defaults come from the config dataclasses (and ``train_teacher``'s signature)."""
    from snnrl.agents.conversion import ConversionConfig
    from snnrl.agents.teachers import train_teacher
    from snnrl.continual.configs import BUFFER_UPDATES, NEURONS, OPTIMIZERS, STRATEGIES
    from snnrl.continual.experiment import ContinualConfig
    from snnrl.sweeps.jobs import SweepConfig

    parser = _Parser(prog="snnrl", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress at INFO level, and print the traceback of an error")
    parser.add_argument("--threads", type=_POSITIVE, default=1,
                        help="torch threads in this process (default 1: the same numbers on any machine and backend, "
                             "since multi-threaded matmuls sum in another order)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func, parser=p)
        return p

    demo = command("demo", lambda a: __import__("snnrl.demo", fromlist=["main"]).main(["--core"] if a.core else []),
                   "run the toolkit's main demo on embedded defaults")
    demo.add_argument("--core", action="store_true", help="the core demo (spiking stack on digits) instead")

    teach = command("train-teacher", _cmd_train_teacher, "train (or resume) an SB3 teacher of the zoo")
    teach.add_argument("name", type=_known(_teacher_names, "teacher"), help="zoo name, e.g. td3-hopper")
    teach.add_argument("--steps", type=_POSITIVE, default=None, help="override the step budget")
    teach.add_argument("--seed", type=_NON_NEGATIVE, default=None,
                       help="seed of the algorithm and environment (default: the teacher spec's)")
    teach.add_argument("--workdir", type=_writable_dir, default=None,
                       help="checkpoint directory (default $SNNRL_HOME/teachers/NAME); a rerun resumes there")
    teach.add_argument("--checkpoint-every", type=_POSITIVE, default=_keyword_default(train_teacher, "checkpoint_every"),
                       help="environment steps between checkpoints (default %(default)s)")

    export = command("export-teacher", _cmd_export_teacher, "evaluate a trained teacher and add it to the zoo")
    export.add_argument("name", type=_known(_teacher_names, "teacher"), help="zoo name of the trained teacher")
    export.add_argument("--workdir", type=_existing_dir, default=None,
                        help="its training folder (default $SNNRL_HOME/teachers/NAME)")
    export.add_argument("--force", action="store_true", help="export even if below the target return")

    ev = command("evaluate", _cmd_evaluate, "ANN vs SNN vs SNN+CRPI over T and alpha, with energy reports")
    ev.add_argument("teachers", nargs="+", metavar="teacher", type=_teacher_input,
                    help="zoo names (e.g. td3-hopper td3-walker2d), paths to SB3 .zip files (then give --env), or "
                         "one spiking-policy file of `snnrl convert`")
    ev.add_argument("--env", type=_env_id, default=None, help="gymnasium id (required for an SB3 zip)")
    ev.add_argument("--vecnormalize", type=_existing_file, default=None, metavar="PATH",
                    help="the VecNormalize statistics saved with an SB3 zip (folded into the first layer)")
    ev.add_argument("--timesteps", type=_POSITIVE, nargs="+", default=list(SweepConfig.timesteps),
                    help="IF timesteps per decision (default %(default)s)")
    ev.add_argument("--alphas", type=_UNIT, nargs="+", default=list(SweepConfig.alphas),
                    help="CRPI strengths in [0, 1]; each T also runs without CRPI (default %(default)s)")
    ev.add_argument("--episodes", type=_POSITIVE, default=SweepConfig.episodes,
                    help="seeded episodes per row (default %(default)s)")
    ev.add_argument("--seed", type=_NON_NEGATIVE, default=SweepConfig.seed,
                    help="first episode seed; episode i uses SEED+i (default %(default)s)")
    ev.add_argument("--threshold", choices=["max", "percentile"], default=ConversionConfig.threshold_method,
                    help="threshold calibration rule (default %(default)s)")
    ev.add_argument("--calibration-steps", type=_POSITIVE, default=ConversionConfig.calibration_steps,
                    help="environment steps of ANN rollouts to calibrate thresholds on (default %(default)s)")
    ev.add_argument("--threshold-scale", type=_RATE, default=ConversionConfig.threshold_scale,
                    help="multiply the calibrated thresholds (default %(default)s; below 1 clips rare peaks for a "
                         "finer rate resolution, tune per task on episodes you do not report)")
    ev.add_argument("--carry-across-episodes", action="store_true",
                    help="keep the CRPI carry across episodes (the reference code's behaviour)")
    ev.add_argument("--exact", action="store_true",
                    help="also evaluate the bit-exact gate-level conversion (slow: about 2 decisions/s)")
    _add_output_args(ev, "runs/evaluate-NAME; with several teachers one subfolder OUT/NAME per teacher")
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_backend_args(ev, "jobs")

    cv = command("convert", _cmd_convert, "convert a teacher into a spiking-policy file, recipe tuned per T")
    cv.add_argument("model", type=_teacher_input, help="zoo name (e.g. td3-hopper) or an SB3 .zip (then give --env)")
    cv.add_argument("--env", type=_env_id, default=None, help="gymnasium id (required for an SB3 zip)")
    cv.add_argument("--vecnormalize", type=_existing_file, default=None, metavar="PATH",
                    help="the VecNormalize statistics saved with an SB3 zip (folded into the first layer)")
    cv.add_argument("--timesteps", type=_POSITIVE, nargs="+", default=[4, 8],
                    help="IF timesteps per decision to build a policy for (default %(default)s)")
    cv.add_argument("--tuning-seed", type=_NON_NEGATIVE, default=100,
                    help="first episode seed of the tuning episodes; report on other seeds (default %(default)s)")
    cv.add_argument("--tuning-episodes", type=_POSITIVE, default=30,
                    help="tuning episodes per candidate (default %(default)s)")
    cv.add_argument("--calibration-steps", type=_POSITIVE, default=10_000,
                    help="teacher steps whose states calibrate (default %(default)s; fewer for pixel teachers, "
                         "whose frames are 63.5k values each)")
    cv.add_argument("--out", type=_writable_file, required=True, help="the policy file to write (e.g. hopper-snn.pt)")
    cv.add_argument("--force", action="store_true", help="replace --out if it exists")

    er = command("energy-report", _cmd_energy_report, "energy report (JSON, CSV, plots) from evaluation results")
    er.add_argument("results", type=_existing_path,
                    help="results.json of `snnrl evaluate` (or its directory), or an energy-records file")
    er.add_argument("--out", type=_writable_dir, default=None,
                    help="output directory (default: next to the results file)")

    cl = command("continual", _cmd_continual, "class-incremental benchmark with a spiking backbone (Avalanche)")
    cl.add_argument("--benchmark", type=_benchmark, default=ContinualConfig.benchmark,
                    help="split-mnist, split-fashion-mnist, split-digits, split-cifar10, split-cifar100 "
                         "(default %(default)s)")
    cl.add_argument("--strategy", nargs="+", default=[ContinualConfig.strategy], choices=list(STRATEGIES),
                    help="strategies of the grid (default %(default)s)")
    cl.add_argument("--buffer-size", type=_POSITIVE, nargs="+", default=[ContinualConfig.buffer_size],
                    help="replay buffer sizes of the grid (default %(default)s; naive runs once)")
    cl.add_argument("--buffer-update", choices=list(BUFFER_UPDATES), default=ContinualConfig.buffer_update,
                    help="reservoir: every batch offered (the DER paper); class-balanced: refilled after every "
                         "experience, equal slots per class seen (Avalanche's DER) (default %(default)s)")
    cl.add_argument("--backbone", default=ContinualConfig.backbone, choices=["mlp", "conv", "resnet19"],
                    help="spiking backbone (default %(default)s)")
    cl.add_argument("--neuron", default=ContinualConfig.neuron, choices=list(NEURONS),
                    help="hidden neuron of the backbone (default %(default)s)")
    cl.add_argument("--lif-beta", type=_UNIT, default=ContinualConfig.lif_beta,
                    help="membrane decay of the LIF-based neurons, V <- beta V + I (1: integrate-and-fire; "
                         "default %(default)s)")
    cl.add_argument("--timesteps", type=_POSITIVE, default=ContinualConfig.timesteps,
                    help="simulation steps per sample (default %(default)s)")
    cl.add_argument("--epochs", type=_POSITIVE, default=ContinualConfig.epochs,
                    help="epochs per experience (default %(default)s)")
    cl.add_argument("--batch-size", type=_POSITIVE, default=ContinualConfig.batch_size,
                    help="training mini-batch size (default %(default)s)")
    cl.add_argument("--lr", type=_RATE, default=ContinualConfig.lr,
                    help="learning rate of --optimizer (default %(default)s; the DER paper's SGD rate is 0.1)")
    cl.add_argument("--optimizer", choices=list(OPTIMIZERS), default=ContinualConfig.optimizer,
                    help="adamw: cosine restarts per experience (the STAER reference); sgd: constant rate (the DER "
                         "paper); sgd-cosine: SGD with cosine restarts (default %(default)s)")
    cl.add_argument("--validation", type=_FRACTION, default=ContinualConfig.validation, metavar="FRACTION",
                    help="tuning mode: hold out FRACTION of every class's training images and evaluate on them "
                         "instead of the test set (default: report on the test set)")
    cl.add_argument("--experiences", type=_POSITIVE, default=ContinualConfig.n_experiences,
                    help="experiences; the classes are split evenly (default %(default)s)")
    cl.add_argument("--seeds", type=_POSITIVE, default=1, help="number of seeds (default %(default)s)")
    cl.add_argument("--first-seed", type=_NON_NEGATIVE, default=0, help="first seed (default %(default)s)")
    cl.add_argument("--train-per-class", type=_POSITIVE, default=ContinualConfig.train_per_class,
                    help="subsample the training set to N images per class (quick runs; default: all)")
    cl.add_argument("--test-per-class", type=_POSITIVE, default=ContinualConfig.test_per_class,
                    help="subsample the test set to N images per class (quick runs; default: all)")
    cl.add_argument("--ce-mode", choices=["mean", "per_timestep"], default=ContinualConfig.ce_mode,
                    help="cross-entropy of the time-averaged logits or per timestep (default %(default)s)")
    cl.add_argument("--staer-beta", type=_WEIGHT, default=ContinualConfig.staer_beta,
                    help="STAER alignment weight beta (default %(default)s)")
    cl.add_argument("--staer-alpha1", type=_WEIGHT, default=ContinualConfig.staer_alpha1,
                    help="STAER temporal-contraction weight (default %(default)s)")
    cl.add_argument("--staer-alpha2", type=_WEIGHT, default=ContinualConfig.staer_alpha2,
                    help="STAER temporal-expansion weight (default %(default)s)")
    cl.add_argument("--staer-logit-alpha", type=_WEIGHT, default=ContinualConfig.staer_logit_alpha,
                    help="STAER: weight of DER++'s logit replay beside the alignment (default %(default)s: off)")
    cl.add_argument("--derpp-alpha", type=_WEIGHT, default=ContinualConfig.derpp_alpha,
                    help="DER++ logit-matching weight (default %(default)s)")
    cl.add_argument("--derpp-beta", type=_WEIGHT, default=ContinualConfig.derpp_beta,
                    help="DER++ buffer cross-entropy weight (default %(default)s)")
    cl.add_argument("--no-alignment", action="store_true", help="STAER ablation: drop the Soft-DTW term")
    cl.add_argument("--no-expansion", action="store_true", help="STAER ablation: no temporal expansion/contraction")
    cl.add_argument("--ahsar", action="store_true", help="AHSAR homeostasis (threshold regulation) during training")
    cl.add_argument("--tag", type=_label, default="", help="suffix for the run labels (e.g. for ablations)")
    cl.add_argument("--data-root", type=_existing_dir, default=None, help="folder with user-provided data (CIFAR)")
    _add_output_args(cl, "runs/continual-BENCHMARK")
    cl.add_argument("--restart", action="store_true",
                    help="ignore existing checkpoints (and replace another command's results in --out)")
    cl.add_argument("--no-progress", action="store_true", help="no progress output")
    _add_backend_args(cl, "runs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snnrl ARGS``; returns the exit code (2: bad input, told in one line on stderr; 1: a failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") for a in argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(_one_line(f"{exc.prog}: error: {exc}"), file=sys.stderr)
        return 2
    except SystemExit as exc:   # --help, --version
        return int(exc.code or 0)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    prog = f"snnrl {args.command}"
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        if verbose:
            traceback.print_exc()
        print(_one_line(f"{prog}: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, the traceback behind -v
        if verbose:
            traceback.print_exc()
        cause = _root_cause(exc)
        print(_one_line(f"{prog}: error: {type(cause).__name__}: {cause}") + " (run with -v for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
