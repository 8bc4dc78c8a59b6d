"""Speed (benchmarks.md): one training step of the continual spiking MLP with its neuron layers fused over time
(:mod:`snnrl.fused_lif`) against the same neurons stepping, and against the ANN twin.

A step is what a continual iteration does with its backbone: forward (``[T, B, 10]`` logits of
:class:`~snnrl.continual.backbones.SpikingMLP`, 784-256-256-10, repeat coding), cross-entropy of the mean logits,
backward and an SGD update, on a batch of ``--batch`` random images (10 new + 10 replayed in the standard protocol).
Candidates per neuron (``lif``, ``selfpred-lif``) and ``T``: fused (the default) and stepping (``fused = False`` on
every LIF), plus the ReLU twin (``neuron="relu"``: one forward pass per step, :class:`~snnrl.layers.MultiStep`).
Before timing, fused and stepping copies run the same steps and their logits and gradients are compared. Timing is
interleaved (shuffled blocks per round); each ratio is the median of the per-round ratios.

Writes ``benchmarks/results/speed/fused_neurons.json`` (:func:`snnrl.results.write_result`).

Usage::

    .venv/bin/python benchmarks/fused_neurons.py
    .venv/bin/python benchmarks/fused_neurons.py --quick
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnrl.continual.backbones import SpikingMLP, named_neuron
from snnrl.neurons import LIFNeuron
from snnrl.results import write_result

from _timing import paired_ratio, time_interleaved  # benchmarks/_timing.py (script directory)

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "fused_neurons.json"


def set_fused(net: torch.nn.Module, fused: bool) -> torch.nn.Module:
    for module in net.modules():
        if isinstance(module, LIFNeuron):
            module.fused = fused
    return net


def training_step(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], float]:
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def step() -> float:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x).mean(0), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def check_same(fused: torch.nn.Module, stepping: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Logits bitwise and gradients to rounding, fused against stepping (same weights, same batch)."""
    out = []
    for net in (fused, stepping):
        net.zero_grad()
        logits = net(x)
        torch.nn.functional.cross_entropy(logits.mean(0), y).backward()
        out.append((logits.detach(), [p.grad.clone() for p in net.parameters()]))
    if not torch.equal(out[0][0], out[1][0]):
        raise AssertionError("fused and stepping logits differ")
    grad = max(float((a - b).abs().max()) for a, b in zip(out[0][1], out[1][1]))
    scale = max(float(b.abs().max()) for b in out[1][1])
    if grad > 1e-4 * scale:
        raise AssertionError(f"fused and stepping gradients differ by {grad:.3g} (largest gradient {scale:.3g})")
    return {"logits_equal": True, "max_abs_grad_diff": grad, "max_abs_grad": scale}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", nargs="+", default=["lif", "selfpred-lif"])
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8])
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="few rounds (smoke run)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    for name in args.neurons:
        if name not in ("lif", "selfpred-lif"):
            p.error(f"--neurons: {name!r} has no fused form; choose from lif, selfpred-lif")
    if args.quick:
        args.rounds, args.calls = 3, 3
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    raw: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    for t in args.timesteps:
        candidates: dict[str, Callable[[], Any]] = {}
        twin = SpikingMLP((1, 28, 28), 10, timesteps=t, neuron=named_neuron("relu"), seed=args.seed)
        candidates["relu_twin"] = training_step(twin, x, y)
        for name in args.neurons:
            fused = SpikingMLP((1, 28, 28), 10, timesteps=t, neuron=named_neuron(name), seed=args.seed)
            stepping = set_fused(copy.deepcopy(fused), False)
            checks[f"{name}_T{t}"] = check_same(fused, stepping, x, y)
            candidates[f"{name}_fused"] = training_step(fused, x, y)
            candidates[f"{name}_stepping"] = training_step(stepping, x, y)
        print(f"T={t}: timing {len(candidates)} candidates x {args.rounds} rounds x {args.calls} calls", flush=True)
        times = time_interleaved(candidates, rounds=args.rounds, calls=args.calls, seed=args.seed)
        raw[f"T{t}"] = {k: [s * 1e6 for s in v] for k, v in times.items()}
        row: dict[str, Any] = {"median_us": {k: float(np.median(v)) * 1e6 for k, v in times.items()}}
        for name in args.neurons:
            row[name] = {"fused_over_stepping": paired_ratio(times, f"{name}_fused", f"{name}_stepping"),
                         "fused_over_twin": paired_ratio(times, f"{name}_fused", "relu_twin"),
                         "stepping_over_twin": paired_ratio(times, f"{name}_stepping", "relu_twin")}
        summary[f"T{t}"] = row
        print({k: {m: round(v, 2) for m, v in row[k].items()} for k in args.neurons}, flush=True)
    summary["checks"] = checks
    config = {k: v for k, v in vars(args).items() if k != "out"}
    config["backbone"] = "SpikingMLP 784-256-256-10, repeat coding"
    write_result(args.out, "fused_neurons", config=config, raw=raw, summary=summary, seed=args.seed)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
