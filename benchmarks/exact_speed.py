"""Exact mode's speed: decisions per second of the gate-level actor at batch 1 and batched, metering on and off.

The issue on the spike-driven engine asks to move the exact mode's gate circuits onto a faster evaluation only where
a bit-parallel one makes them at least 100x faster. Every gate is already evaluated bit-parallel (:mod:`snnrl.exact.
gates`: one uint64 word carries 64 lanes, a layer's outputs side by side), so what batching more decisions into the
same words buys is the measure: this script times :class:`snnrl.exact.ExactSpikingPolicy` on observations of a zoo
teacher at batch 1 and at ``--batch`` (one call), each the median of ``--repeats`` calls after a warm-up call, 1
torch thread, with the ANN's ``predict`` on the same observations for scale (median of ``--repeats`` rounds of 100
calls). Writes ``benchmarks/results/speed/exact_speed.json``.

Usage: ``.venv/bin/python benchmarks/exact_speed.py [--teacher td3-invertedpendulum] [--batch 64] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from _timing import time_interleaved  # benchmarks/_timing.py (script directory)

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "exact_speed.json"


def _median_s(fn, repeats: int, calls: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` rounds of ``calls`` calls, after one warm-up call."""
    return statistics.median(time_interleaved({"fn": fn}, rounds=repeats, calls=calls, warmup=1)["fn"])


def main(argv: list[str] | None = None) -> int:
    from snnrl.agents.policy import AnnPolicy
    from snnrl.agents.zoo import load_teacher
    from snnrl.exact import convert_exact
    from snnrl.exact.benchmark import collect_observations
    from snnrl.results import write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="td3-invertedpendulum")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    for flag, value in (("--batch", args.batch), ("--repeats", args.repeats)):
        if value < 1:
            p.error(f"{flag} {value}: must be >= 1.")
    torch.set_num_threads(1)
    actor, entry = load_teacher(args.teacher)
    obs = collect_observations(actor, entry["env_id"], steps=args.batch, seed=0).numpy()
    ann = AnnPolicy(actor, metering=False)
    rows = []
    for metering in (False, True):
        exact = convert_exact(actor, metering=metering)
        for batch in (1, args.batch):
            x = obs[:batch]
            seconds = _median_s(lambda x=x: exact.predict(x), args.repeats)
            ann_s = _median_s(lambda x=x: ann.predict(x), args.repeats, calls=100)
            rows.append({"metering": metering, "batch": batch, "seconds_per_call": seconds,
                         "decisions_per_s": batch / seconds, "ann_decisions_per_s": batch / ann_s})
            print(f"metering {metering!s:5s} batch {batch:3d}: {batch / seconds:8.2f} decisions/s "
                  f"(ANN {batch / ann_s:,.0f})", flush=True)
    plain = {r["batch"]: r["decisions_per_s"] for r in rows if not r["metering"]}
    summary = {"teacher": args.teacher, "batch": args.batch,
               "batched_over_batch1_throughput": plain[args.batch] / plain[1],
               "decisions_per_s_batch1": plain[1], "decisions_per_s_batched": plain[args.batch],
               "bar": 100.0, "meets_bar": plain[args.batch] / plain[1] >= 100.0}
    write_result(args.out, benchmark="exact_speed", config={"teacher": args.teacher, "batch": args.batch,
                                                           "repeats": args.repeats, "threads": 1},
                 seed=0, raw=rows, summary=summary)
    print(f"batched / batch-1 throughput: {summary['batched_over_batch1_throughput']:.1f}x -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
