"""Speed issue's equality check: the spike-driven kernel against the torch reference on recorded closed-loop decisions.

For every zoo teacher, plain conversion and CRPI (alpha 1): the torch-path policy drives the environment; at every
decision the kernel-path policy gets the same observation, the same recurrent state and the same episode start, and
the two are compared:

* spike counts of every neuron (exact), end potentials, the CRPI carry and the actions (largest absolute difference);
* the kernel's operation counts against :class:`~snnrl.opcount.OperationCounter`'s on the torch path (exact);
* both paths' actions against a float64 evaluation of the same spikes (the output layer is linear, so its exact
  value is ``b + W·n/T`` from the last layer's spike counts ``n``): which path's rounding a difference comes from.

The two paths sum the same float32 numbers in different orders (BLAS vs. weight rows of spiking inputs), so a
potential within a few ulps of ``θ`` may fire on one path only. The rule: a decision *agrees* when every neuron's
spike count is equal and the actions differ by at most ``--tolerance``; the JSON reports the share of decisions
that do not, the share of neuron spike counts that differ and the largest action difference.

Writes ``benchmarks/results/speed/engine_agreement.json``.

Usage::

    .venv/bin/python benchmarks/engine_agreement.py                  # 1,500 decisions x 2 x every zoo teacher
    .venv/bin/python benchmarks/engine_agreement.py --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnrl.agents.conversion import collect_activations, convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.zoo import list_teachers, load_teacher
from snnrl.results import write_result

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "engine_agreement.json"


def _exact_action(snn: Any, last_counts: torch.Tensor, w64: torch.Tensor, b64: torch.Tensor,
                  timesteps: int) -> np.ndarray:
    """The action of the last layer's spike counts in float64 (the output layer is linear: ``b + W·n/T``)."""
    pre = b64 + last_counts.double() @ w64.T / timesteps
    low, high = snn.action_low.double(), snn.action_high.double()
    if snn.squash == "tanh":
        return (low + 0.5 * (torch.tanh(pre) + 1.0) * (high - low)).numpy()
    return torch.maximum(torch.minimum(pre, high), low).numpy()


def compare(teacher: str, crpi: CRPIConfig | None, *, timesteps: int, decisions: int, calibration_steps: int,
            seed: int, tolerance: float) -> dict[str, Any]:
    """Lock-step comparison of the two engines on ``decisions`` closed-loop decisions of ``teacher``."""
    import gymnasium as gym

    actor, entry = load_teacher(teacher)
    acts = collect_activations(actor, entry["env_id"], steps=calibration_steps, seed=seed)
    snn = convert_actor(actor, thresholds_from_activations(acts))
    ref = SpikingPolicy(snn, timesteps=timesteps, crpi=crpi, engine="torch")
    fast = SpikingPolicy(snn, timesteps=timesteps, crpi=crpi, engine="kernel")
    env = gym.make(entry["env_id"])
    obs, _ = env.reset(seed=seed + 1)
    state, start = None, True
    disagree = spike_diffs = neurons = count_mismatch = 0
    max_action = max_carry = max_v = err_ref = err_fast = 0.0
    head = snn.output_layer.layer
    w64, b64 = head.weight.detach().double(), head.bias.detach().double()
    for _ in range(decisions):
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).unsqueeze(0)
        d_ref, s_ref = ref.decide(x, state, np.array([start]))
        a_ref = ref.actor.squash_action(d_ref.pre_action).numpy()
        ops_ref = ref.last_decision_ops
        a_fast, s_fast = fast.predict(x.numpy(), state, np.array([start]))
        d_fast, _ = fast.decide(x, state, np.array([start]))
        ops_fast = fast.last_decision_ops
        diff = sum(int((a != b).sum()) for a, b in zip(d_ref.spike_counts, d_fast.spike_counts))
        spike_diffs += diff
        neurons += sum(c.numel() for c in d_ref.spike_counts)
        action_diff = float(np.abs(a_ref - a_fast).max())
        max_action = max(max_action, action_diff)
        disagree += int(diff > 0 or action_diff > tolerance)
        max_v = max(max_v, max(float((a - b).abs().max()) for a, b in zip(d_ref.v_end, d_fast.v_end)))
        max_carry = max(max_carry, max(float(np.abs(a - b).max()) for a, b in zip(s_ref, s_fast, strict=True)))
        if diff == 0:
            exact = _exact_action(snn, d_ref.spike_counts[-1], w64, b64, timesteps)
            err_ref = max(err_ref, float(np.abs(a_ref - exact).max()))
            err_fast = max(err_fast, float(np.abs(a_fast - exact).max()))
            count_mismatch += int(set(ops_ref) != set(ops_fast)
                                  or any(not np.array_equal(ops_ref[k], ops_fast[k]) for k in ops_ref))
        state, start = s_ref, False
        obs, _, terminated, truncated, _ = env.step(a_ref[0])
        if terminated or truncated:
            obs, _ = env.reset()
            state, start = None, True
    env.close()
    return {"teacher": teacher, "crpi": crpi is not None, "decisions": decisions,
            "decisions_disagreeing": disagree, "neuron_counts_compared": neurons,
            "neuron_counts_differing": spike_diffs, "max_action_difference": max_action,
            "max_end_potential_difference": max_v,
            "max_action_error_vs_float64": {"torch": err_ref, "kernel": err_fast}, "max_carry_difference": max_carry,
            "op_count_mismatches": count_mismatch}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teachers", nargs="+", default=None, help="zoo names (default: every zoo teacher)")
    p.add_argument("--timesteps", type=int, default=8)
    p.add_argument("--decisions", type=int, default=1500, help="closed-loop decisions per teacher and variant")
    p.add_argument("--calibration-steps", type=int, default=2000)
    p.add_argument("--tolerance", type=float, default=1e-6, help="largest action difference of an agreeing decision")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="two teachers, 100 decisions (smoke run)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    teachers = args.teachers or sorted(list_teachers())
    if args.quick:
        teachers, args.decisions, args.calibration_steps = teachers[:2], 100, 300
    torch.set_num_threads(args.threads)
    rows = []
    for teacher in teachers:
        for crpi in (None, CRPIConfig(alpha=1.0)):
            row = compare(teacher, crpi, timesteps=args.timesteps, decisions=args.decisions,
                          calibration_steps=args.calibration_steps, seed=args.seed, tolerance=args.tolerance)
            rows.append(row)
            print(f"{teacher:28s} {'CRPI ' if row['crpi'] else 'plain'}: {row['decisions_disagreeing']}/"
                  f"{row['decisions']} decisions disagree, {row['neuron_counts_differing']}/"
                  f"{row['neuron_counts_compared']} spike counts differ, max |action diff| "
                  f"{row['max_action_difference']:.2g} (vs float64: torch {row['max_action_error_vs_float64']['torch']:.2g}, "
                  f"kernel {row['max_action_error_vs_float64']['kernel']:.2g}), op-count mismatches "
                  f"{row['op_count_mismatches']}", flush=True)
    total = {k: int(sum(r[k] for r in rows)) for k in ("decisions", "decisions_disagreeing", "neuron_counts_compared",
                                                      "neuron_counts_differing", "op_count_mismatches")}
    summary = {**total, "disagreeing_share": total["decisions_disagreeing"] / total["decisions"],
               "differing_spike_count_share": total["neuron_counts_differing"] / total["neuron_counts_compared"],
               "max_action_difference": max(r["max_action_difference"] for r in rows),
               "max_action_error_vs_float64": {k: max(r["max_action_error_vs_float64"][k] for r in rows)
                                               for k in ("torch", "kernel")}}
    config = {"teachers": teachers, "timesteps": args.timesteps, "decisions": args.decisions,
              "calibration_steps": args.calibration_steps, "threshold_method": "max", "tolerance": args.tolerance,
              "crpi_alpha": 1.0, "quick": args.quick, "rule": "a decision agrees when every neuron's spike count is "
              "equal and the actions differ by at most the tolerance"}
    write_result(args.out, "engine_agreement", config=config, raw=rows, summary=summary, seed=args.seed)
    print(f"{total['decisions_disagreeing']}/{total['decisions']} decisions disagree; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
