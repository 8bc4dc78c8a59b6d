"""The ``snnrl`` command line.

Sub-commands load their side lazily, so ``snnrl --help`` stays fast and the core never imports
stable-baselines3 or Avalanche.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snnrl", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the toolkit's main demo on embedded defaults")
    demo.set_defaults(func=lambda a: __import__("snnrl.demo", fromlist=["main"]).main())

    teach = sub.add_parser("train-teacher", help="train (or resume) an SB3 teacher of the zoo")
    teach.add_argument("name", help="zoo name, e.g. td3-hopper")
    teach.add_argument("--steps", type=int, default=None, help="override the step budget")
    teach.add_argument("--seed", type=int, default=None)
    teach.add_argument("--workdir", default=None, help="checkpoint directory (default $SNNRL_HOME/teachers/NAME)")
    teach.add_argument("--checkpoint-every", type=int, default=25_000)
    teach.set_defaults(func=_cmd_train_teacher)

    export = sub.add_parser("export-teacher", help="evaluate a trained teacher and add it to the zoo")
    export.add_argument("name")
    export.add_argument("--workdir", default=None)
    export.add_argument("--force", action="store_true", help="export even if below the target return")
    export.set_defaults(func=_cmd_export_teacher)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
