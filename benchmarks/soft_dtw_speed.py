"""Speed (benchmarks.md): our batched Soft-DTW vs tslearn's at equal results.

Our :func:`snnrl.continual.soft_dtw.soft_dtw` (cost ``0.5·||x_i − y_j||²``) runs a batch of paired sequences
``[B, N, D]`` / ``[B, M, D]`` with an analytic backward. The references, all from ``tslearn.metrics``:

* ``ts_class`` — tslearn's numba Soft-DTW core, :class:`tslearn.metrics.SoftDTW` on each pair's distance matrix
  (``compute``; with ``grad``, the alignment, for forward + backward, chained to ``∂/∂x`` and ``∂/∂y`` in numpy);
* ``ts_loss`` — :class:`tslearn.metrics.SoftDTWLossPyTorch` (batched, torch autograd around numba kernels), given
  our cost as ``dist_func``.

Before timing, every shape is checked in float64: our values against ``SoftDTW`` and our gradients against the
alignment-based ones, to ``--tolerance`` (absolute); ``ts_loss`` values against ours (relative, it rounds its table
to float32). Timing is interleaved (shuffled blocks per round; medians, ratios as medians of per-round ratios),
one torch thread and one numba thread. Our timings are float32, as training uses them. Also: our Soft-DTW
divergence (forward + backward) at the STAER shapes (batch 10, ``T`` output steps of 10 logits) next to
``SoftDTWLossPyTorch(normalize=True)`` (the same divergence, without our length normalisation).

Writes ``benchmarks/results/speed/soft_dtw.json`` (:func:`snnrl.results.write_result`). Needs the ``bench`` extra
(tslearn).

Usage::

    .venv/bin/python benchmarks/soft_dtw_speed.py
    .venv/bin/python benchmarks/soft_dtw_speed.py --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnrl.continual.soft_dtw import soft_dtw, soft_dtw_divergence
from snnrl.results import write_result

from _timing import paired_ratio, time_interleaved  # benchmarks/_timing.py (script directory)

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "soft_dtw.json"
SHAPES = [(4, 4), (8, 8), (16, 16), (4, 8), (8, 16), (16, 8)]
STAER_STEPS = [4, 8]


def half_squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Our cost ``0.5·||x_i − y_j||²`` as ``[B, N, M]`` (``dist_func`` of ``SoftDTWLossPyTorch``)."""
    return 0.5 * (x.unsqueeze(2) - y.unsqueeze(1)).pow(2).sum(3)


def tslearn_pairs(x: np.ndarray, y: np.ndarray, gamma: float, *, grad: bool
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Values ``[B]`` (and gradients w.r.t. ``x`` and ``y``) from tslearn's ``SoftDTW`` core, pair by pair."""
    from tslearn.metrics import SoftDTW

    values = np.empty(len(x))
    gx = np.empty_like(x) if grad else None
    gy = np.empty_like(y) if grad else None
    for b in range(len(x)):
        diff = x[b][:, None, :] - y[b][None, :, :]
        sdtw = SoftDTW(0.5 * (diff ** 2).sum(-1), gamma=gamma)
        values[b] = sdtw.compute()
        if grad:
            weighted = sdtw.grad()[:, :, None] * diff     # dC[i, j]/dx_i = x_i − y_j
            gx[b], gy[b] = weighted.sum(1), -weighted.sum(0)
    return values, gx, gy


def check_equal(n: int, m: int, *, batch: int, dim: int, gamma: float, tolerance: float, seed: int) -> dict[str, float]:
    """Largest differences between ours and tslearn (values, gradients) on one random float64 batch; raises beyond
    ``tolerance``."""
    from tslearn.metrics import SoftDTWLossPyTorch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randn(batch, m, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    ours = soft_dtw(x, y, gamma=gamma)
    ours.sum().backward()
    values, gx, gy = tslearn_pairs(x.detach().numpy(), y.detach().numpy(), gamma, grad=True)
    loss = SoftDTWLossPyTorch(gamma=gamma, dist_func=half_squared_distances)
    with torch.no_grad():
        loss_values = loss(x.detach(), y.detach()).numpy()
    out = {"value_abs": float(np.abs(ours.detach().numpy() - values).max()),
           "grad_abs": float(max(np.abs(x.grad.numpy() - gx).max(), np.abs(y.grad.numpy() - gy).max())),
           "loss_module_rel": float((np.abs(loss_values - values) / np.maximum(np.abs(values), 1.0)).max())}
    if max(out["value_abs"], out["grad_abs"], out["loss_module_rel"]) > tolerance:
        raise AssertionError(f"Soft-DTW ({n}x{m}) disagrees with tslearn beyond {tolerance}: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument("--staer-batch", type=int, default=10)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--threads", type=int, default=1, help="torch and numba threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="two shapes, few rounds (smoke run)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    shapes, staer_steps = (SHAPES[1:2] + SHAPES[4:5], STAER_STEPS[:1]) if args.quick else (SHAPES, STAER_STEPS)
    if args.quick:
        args.rounds, args.calls = 4, 2
    import numba
    from tslearn.metrics import SoftDTWLossPyTorch

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    gamma = args.gamma
    checks = {f"{n}x{m}": check_equal(n, m, batch=args.batch, dim=args.dim, gamma=gamma, tolerance=args.tolerance,
                                      seed=args.seed + i) for i, (n, m) in enumerate(shapes)}
    print("agreement with tslearn:", checks, flush=True)
    loss = SoftDTWLossPyTorch(gamma=gamma, dist_func=half_squared_distances)
    divergence_loss = SoftDTWLossPyTorch(gamma=gamma, normalize=True, dist_func=half_squared_distances)
    gen = torch.Generator().manual_seed(args.seed)
    raw: dict[str, dict[str, list[float]]] = {}
    summary: dict[str, Any] = {}
    for n, m in shapes:
        x = torch.randn(args.batch, n, args.dim, generator=gen)
        y = torch.randn(args.batch, m, args.dim, generator=gen)
        xg, yg = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
        x64, y64 = x.double().numpy(), y.double().numpy()

        def ours_forward() -> torch.Tensor:
            with torch.no_grad():
                return soft_dtw(x, y, gamma=gamma)

        def ours_backward() -> None:
            soft_dtw(xg, yg, gamma=gamma).sum().backward()

        def loss_forward() -> torch.Tensor:
            with torch.no_grad():
                return loss(x, y)

        def loss_backward() -> None:
            loss(xg, yg).sum().backward()

        candidates = {"ours_forward": ours_forward, "ours_forward_backward": ours_backward,
                      "ts_class_forward": lambda: tslearn_pairs(x64, y64, gamma, grad=False),
                      "ts_class_forward_backward": lambda: tslearn_pairs(x64, y64, gamma, grad=True),
                      "ts_loss_forward": loss_forward, "ts_loss_forward_backward": loss_backward}
        times = time_interleaved(candidates, rounds=args.rounds, calls=args.calls, seed=args.seed,
                                 warmup=2)
        key = f"{n}x{m}"
        raw[key] = {k: [s * 1e6 for s in v] for k, v in times.items()}
        summary[key] = {
            "median_us": {k: float(np.median(v)) * 1e6 for k, v in times.items()},
            "ours_over_ts_class_forward": paired_ratio(times, "ours_forward", "ts_class_forward"),
            "ours_over_ts_class_forward_backward": paired_ratio(times, "ours_forward_backward",
                                                                "ts_class_forward_backward"),
            "ours_over_ts_loss_forward": paired_ratio(times, "ours_forward", "ts_loss_forward"),
            "ours_over_ts_loss_forward_backward": paired_ratio(times, "ours_forward_backward",
                                                               "ts_loss_forward_backward"),
        }
        s = summary[key]
        print(f"{key}: ours/tslearn SoftDTW forward {s['ours_over_ts_class_forward']:.3f}, forward+backward "
              f"{s['ours_over_ts_class_forward_backward']:.3f}; ours/SoftDTWLossPyTorch forward "
              f"{s['ours_over_ts_loss_forward']:.3f}, forward+backward {s['ours_over_ts_loss_forward_backward']:.3f}",
              flush=True)
    for steps in staer_steps:
        x = torch.randn(args.staer_batch, steps, args.dim, generator=gen, requires_grad=True)
        y = torch.randn(args.staer_batch, steps, args.dim, generator=gen)

        def ours_divergence() -> None:
            soft_dtw_divergence(x, y, gamma=gamma, normalize=False).mean().backward()

        def loss_divergence() -> None:
            divergence_loss(x, y).mean().backward()
        with torch.no_grad():
            diff = float((soft_dtw_divergence(x, y, gamma=gamma, normalize=False) - divergence_loss(x, y)).abs().max())
        times = time_interleaved({"ours_divergence_forward_backward": ours_divergence,
                                  "ts_loss_divergence_forward_backward": loss_divergence},
                                 rounds=args.rounds, calls=args.calls * 4, seed=args.seed, warmup=2)
        key = f"staer_T{steps}"
        raw[key] = {k: [s * 1e6 for s in v] for k, v in times.items()}
        summary[key] = {"median_us": {k: float(np.median(v)) * 1e6 for k, v in times.items()},
                        "ours_over_ts_loss": paired_ratio(times, "ours_divergence_forward_backward",
                                                          "ts_loss_divergence_forward_backward"),
                        "max_abs_difference_float32": diff}
        ours_us = summary[key]["median_us"]["ours_divergence_forward_backward"]
        print(f"{key}: our divergence forward+backward {ours_us:.0f} us, ours/SoftDTWLossPyTorch(normalize=True) "
              f"{summary[key]['ours_over_ts_loss']:.3f}", flush=True)
    summary["agreement"] = checks
    config = {"batch": args.batch, "dim": args.dim, "gamma": gamma, "shapes": [list(s) for s in shapes],
              "staer": {"batch": args.staer_batch, "steps": staer_steps, "dim": args.dim}, "rounds": args.rounds,
              "calls": args.calls, "tolerance": args.tolerance, "threads": args.threads, "quick": args.quick,
              "dtype": "float32 timings, float64 agreement checks",
              "units": "microseconds per call (a whole batch; raw: per round)"}
    write_result(args.out, "soft_dtw_speed", config=config, raw=raw, summary=summary, seed=args.seed)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
