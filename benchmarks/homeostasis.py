"""Benchmark 5b (benchmarks.md): AHSAR homeostasis on vs off — epochs to a target accuracy and final accuracy.

A spiking MLP (T=4, LIF) on an MNIST subset, trained with Adam for a fixed number of epochs, the same seeds with and
without AHSAR (plain training hook: ``update()`` after each step, ``end_epoch(validation accuracy)``). Reports per
seed the test accuracy after every epoch, the first epoch reaching the target, and the final accuracy. Writes
``benchmarks/results/homeostasis.json`` (common result schema). Usage: ``.venv/bin/python benchmarks/homeostasis.py [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snnrl.results import write_result

RESULTS = Path(__file__).resolve().parent / "results" / "homeostasis.json"


@torch.no_grad()
def _accuracy(model, x, y) -> float:
    model.eval()
    return sum(int((model(x[i:i + 500]).mean(0).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(x), 500)) / len(y)


def run(seed: int, *, ahsar: bool, train_n: int, val_n: int, test_n: int, epochs: int, lr: float) -> list[float]:
    from snnrl.continual.backbones import SpikingMLP
    from snnrl.continual.datasets import load_mnist
    from snnrl.homeostasis import AHSAR

    data = load_mnist()
    rng = np.random.default_rng(seed)
    pick = torch.as_tensor(rng.choice(len(data.train_y), train_n + val_n, replace=False))
    x, y = data.train_x[pick[:train_n]], data.train_y[pick[:train_n]]
    xv, yv = data.train_x[pick[train_n:]], data.train_y[pick[train_n:]]
    te = torch.as_tensor(rng.choice(len(data.test_y), test_n, replace=False))
    xt, yt = data.test_x[te], data.test_y[te]
    torch.manual_seed(seed)
    model = SpikingMLP(data.shape, 10, hidden=(256, 256), timesteps=4)
    regulator = AHSAR(model) if ahsar else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    curve = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(train_n, generator=gen)
        for start in range(0, train_n, 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(model(x[idx]).mean(0), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if regulator is not None:
                regulator.update()
        if regulator is not None:
            regulator.end_epoch(_accuracy(model, xv, yv))
        curve.append(_accuracy(model, xt, yt))
    return curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sizes = dict(train_n=2000, val_n=500, test_n=1000) if args.quick else dict(train_n=20000, val_n=2000, test_n=5000)
    config = {"seeds": list(range(args.seeds)), "epochs": args.epochs, "target": args.target, "lr": 1e-3,
              "backbone": "SpikingMLP(256,256) T=4 LIF", **sizes}
    raw: dict[str, dict[int, list[float]]] = {"off": {}, "on": {}}
    for seed in config["seeds"]:
        for mode in ("off", "on"):
            raw[mode][seed] = run(seed, ahsar=mode == "on", epochs=args.epochs, lr=config["lr"], **sizes)
            print(f"seed {seed} AHSAR {mode}: {['%.3f' % a for a in raw[mode][seed]]}", flush=True)

    def first(curve):
        hit = [i + 1 for i, a in enumerate(curve) if a >= args.target]
        return hit[0] if hit else None

    summary = {mode: {"epochs_to_target": [first(c) for c in runs.values()],
                      "final_accuracy_mean": float(np.mean([c[-1] for c in runs.values()])),
                      "final_accuracy_std": float(np.std([c[-1] for c in runs.values()]))}
               for mode, runs in raw.items()}
    write_result(args.out, "homeostasis", config=config, raw=raw, summary=summary)
    print(summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
