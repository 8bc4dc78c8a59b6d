"""Speed (benchmarks.md): overhead of operation counting — the same policy and inputs with metering on vs off.

Policies (``--teacher``'s converted actor, ``T`` = ``--timesteps``): :class:`~snnrl.agents.policy.SpikingPolicy` with
plain conversion and with CRPI (on the spike-driven engine, whose counts are a by-product of the decision), and the
ANN teacher's :class:`~snnrl.agents.policy.AnnPolicy` (dense counts, counted once and broadcast); each timed call
predicts and then reads ``last_decision_ops``, as the energy recorder does. Plus a bare
:class:`~snnrl.opcount.OperationCounter` around the converted actor's forward. Before timing, a sequence of
observations is fed to a metered and an unmetered copy of each policy and their actions and recurrent states are
checked to be bit-identical. Timing is interleaved (shuffled blocks per round, medians over rounds); the overhead is
the median per-round ratio metered / unmetered minus one, in percent.

Writes ``benchmarks/results/speed/counter_overhead.json`` (:func:`snnrl.results.write_result`).

Usage::

    .venv/bin/python benchmarks/counter_overhead.py
    .venv/bin/python benchmarks/counter_overhead.py --quick
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnrl.agents.conversion import collect_activations, convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import AnnPolicy, SpikingPolicy
from snnrl.agents.zoo import load_teacher
from snnrl.opcount import OperationCounter
from snnrl.results import write_result

from _timing import paired_ratio, stateful_predict, time_interleaved  # benchmarks/_timing.py (script directory)

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "counter_overhead.json"


def check_identical(make: Callable[[bool], Any], observations: np.ndarray) -> int:
    """Feed ``observations`` (``[steps, B, obs_dim]``) to ``make(True)`` and ``make(False)``; raise unless every
    action and state is bit-identical. Returns the number of decisions compared."""
    metered, plain = make(True), make(False)
    state_m = state_p = None
    for step, obs in enumerate(observations):
        start = np.arange(len(obs)) == step % len(obs) if step % 5 == 0 else None
        action_m, state_m = metered.predict(obs, state_m, episode_start=start)
        action_p, state_p = plain.predict(obs, state_p, episode_start=start)
        if not np.array_equal(action_m.view(np.uint32), action_p.view(np.uint32)):
            raise AssertionError(f"decision {step}: metering changed the actions.")
        if state_m is not None and not all(np.array_equal(m, p) for m, p in zip(state_m, state_p, strict=True)):
            raise AssertionError(f"decision {step}: metering changed the recurrent state.")
        if not metered.last_decision_ops or plain.last_decision_ops:
            raise AssertionError("metering on must record operations, metering off must not.")
    return len(observations)


def _reading_ops(policy: Any, obs: np.ndarray) -> Callable[[], Any]:
    """``policy.predict`` with its recurrent state, then a read of ``last_decision_ops`` as the energy recorder
    does (the engine builds the per-layer dict only when it is read)."""
    call = stateful_predict(policy, obs)

    def predict_and_read() -> Any:
        action = call()
        policy.last_decision_ops
        return action
    return predict_and_read


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="td3-halfcheetah")
    p.add_argument("--timesteps", type=int, default=8)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--calibration-steps", type=int, default=2000)
    p.add_argument("--check-decisions", type=int, default=200, help="decisions of the identical-output check")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="few rounds (smoke run)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.calibration_steps, args.check_decisions = 5, 5, 300, 30
    torch.set_num_threads(args.threads)
    actor, entry = load_teacher(args.teacher)
    activations = collect_activations(actor, entry["env_id"], steps=args.calibration_steps, seed=args.seed)
    snn = convert_actor(actor, thresholds_from_activations(activations, method="max"))
    rng = np.random.default_rng(args.seed)
    t = args.timesteps
    makers: dict[str, Callable[[bool], Any]] = {
        "snn": lambda m: SpikingPolicy(snn, timesteps=t, metering=m),
        "snn_crpi": lambda m: SpikingPolicy(snn, timesteps=t, crpi=CRPIConfig(alpha=1.0), metering=m),
        "ann": lambda m: AnnPolicy(actor, metering=m),
    }
    checked = {}
    for batch in args.batches:
        sequence = rng.normal(0.0, 1.0, size=(args.check_decisions, batch, actor.obs_dim)).astype(np.float32)
        for name, make in makers.items():
            checked[f"{name}_batch{batch}"] = check_identical(make, sequence)
    print(f"identical actions and states with metering on and off: {checked}", flush=True)

    raw: dict[str, dict[str, list[float]]] = {}
    summary: dict[str, Any] = {}
    for batch in args.batches:
        obs = rng.normal(0.0, 1.0, size=(batch, actor.obs_dim)).astype(np.float32)
        obs = obs[0] if batch == 1 else obs
        obs_t = torch.from_numpy(np.atleast_2d(obs).copy())
        candidates: dict[str, Callable[[], Any]] = {}
        for name, make in makers.items():
            for metering in (True, False):
                candidates[f"{name}_{'on' if metering else 'off'}"] = _reading_ops(make(metering), obs)
        counter = OperationCounter(snn)

        def counted_forward() -> torch.Tensor:
            counter.reset()
            with torch.no_grad(), counter:
                return snn(obs_t, t)

        def bare_forward() -> torch.Tensor:
            with torch.no_grad():
                return snn(obs_t, t)

        def new_counter_forward() -> torch.Tensor:
            with torch.no_grad(), OperationCounter(snn):
                return snn(obs_t, t)
        candidates.update(actor_counter_on=counted_forward, actor_new_counter_on=new_counter_forward,
                          actor_counter_off=bare_forward)
        print(f"batch {batch}: timing {len(candidates)} candidates x {args.rounds} rounds x {args.calls} calls",
              flush=True)
        times = time_interleaved(candidates, rounds=args.rounds, calls=args.calls, seed=args.seed)
        raw[f"batch{batch}"] = {k: [s * 1e6 for s in v] for k, v in times.items()}

        def overhead(on: str, off: str) -> float:
            return (paired_ratio(times, on, off) - 1.0) * 100.0

        row = {"median_us": {k: float(np.median(v)) * 1e6 for k, v in times.items()},
               "overhead_percent": {name: overhead(f"{name}_on", f"{name}_off") for name in makers}}
        row["overhead_percent"]["actor_forward_counter_reused"] = overhead("actor_counter_on", "actor_counter_off")
        row["overhead_percent"]["actor_forward_counter_per_call"] = overhead("actor_new_counter_on",
                                                                             "actor_counter_off")
        summary[f"batch{batch}"] = row
        print("  overhead %:", {k: round(v, 1) for k, v in row["overhead_percent"].items()}, flush=True)
    summary["identical_outputs_checked_decisions"] = checked
    config = {"teacher": args.teacher, "env_id": entry["env_id"], "timesteps": t, "batches": args.batches,
              "rounds": args.rounds, "calls": args.calls, "calibration_steps": args.calibration_steps,
              "threshold_method": "max", "crpi_alpha": 1.0, "threads": args.threads, "quick": args.quick,
              "units": "microseconds per decision (raw: per round); overhead = median(on/off) - 1, percent"}
    write_result(args.out, "counter_overhead", config=config, raw=raw, summary=summary, seed=args.seed)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
