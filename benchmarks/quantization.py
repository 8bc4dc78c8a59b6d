"""Benchmark 5a (benchmarks.md): MD-SNN quantization at 8 / 4 / 2 bits vs naive quantization vs full precision.

(a) Classification backbone: a spiking MLP (T=4) trained on MNIST (subset), then for each bit width
    * naive: post-training quantization of weights and membranes (LSQ initialisation, no training),
    * QAT: quantization-aware fine-tuning with cross-entropy only,
    * MD-SNN: the same fine-tuning with distillation from the full-precision SNN (KD + membrane MSE).
(b) Converted policies (zoo teachers, T=16): naive post-conversion quantization vs MD-SNN distillation from the
    full-precision SNN on teacher-rollout observations; returns over seeded episodes.

Writes ``benchmarks/results/quantization.json`` (schema version, config, seeds, versions, machine, raw numbers,
summary). Usage: ``.venv/bin/python benchmarks/quantization.py [--policies td3-halfcheetah ...] [--quick]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snnrl.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "quantization.json"
BITS = (8, 4, 2)
# Membranes live on the weight step's grid; with as few bits as the weights their range (Q·s) falls below the
# threshold and neurons saturate (measured: see the README's note), so the default keeps 16-bit membranes.
MEMBRANE_BITS = 16


def _batches(x: torch.Tensor, y: torch.Tensor, size: int, gen: torch.Generator):
    order = torch.randperm(len(x), generator=gen)
    for start in range(0, len(x), size):
        idx = order[start:start + size]
        yield x[idx], y[idx]


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + 500]).mean(0).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(x), 500))
    return correct / len(y)


def _train(model, x, y, *, epochs: int, lr: float, seed: int, teacher=None, kd: float = 0.0, mem: float = 0.0):
    from snnrl.neurons import record_potentials
    from snnrl.quantization import distillation_loss

    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for bx, by in _batches(x, y, 64, gen):
            if teacher is None:
                loss = F.cross_entropy(model(bx).mean(0), by)
            else:
                with torch.no_grad(), record_potentials(teacher) as tv:
                    zt = teacher(bx).mean(0)
                    t_list = [torch.stack(v) for v in tv.values() if v]
                with record_potentials(model) as sv:
                    zs = model(bx).mean(0)
                    s_list = [torch.stack(v) for v in sv.values() if v]
                loss = distillation_loss(zs, zt, by, student_potentials=s_list, teacher_potentials=t_list,
                                         kd_weight=kd, membrane_weight=mem)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def classification(*, seed: int, train_n: int, test_n: int, epochs: int, membrane_bits: int | None) -> dict:
    from snnrl.continual.backbones import SpikingMLP
    from snnrl.continual.datasets import load_mnist
    from snnrl.quantization import quantize_network

    data = load_mnist()
    gen = np.random.default_rng(seed)
    tr = torch.as_tensor(gen.choice(len(data.train_y), train_n, replace=False))
    te = torch.as_tensor(gen.choice(len(data.test_y), test_n, replace=False))
    x, y, xt, yt = data.train_x[tr], data.train_y[tr], data.test_x[te], data.test_y[te]
    torch.manual_seed(seed)
    fp = SpikingMLP(data.shape, 10, hidden=(256, 256), timesteps=4)
    t0 = time.perf_counter()
    _train(fp, x, y, epochs=epochs, lr=1e-3, seed=seed)
    rows = {"full_precision": {"accuracy": _accuracy(fp, xt, yt), "train_s": time.perf_counter() - t0}}
    for bits in BITS:
        u = membrane_bits or bits
        naive = quantize_network(fp, bits=bits, membrane_bits=u)
        qat = _train(quantize_network(fp, bits=bits, membrane_bits=u), x, y, epochs=1, lr=1e-4, seed=seed + 1)
        md = _train(quantize_network(fp, bits=bits, membrane_bits=u), x, y, epochs=1, lr=1e-4, seed=seed + 1,
                    teacher=fp, kd=1.0, mem=0.1)
        rows[f"{bits}bit"] = {"naive": _accuracy(naive, xt, yt), "qat_ce_only": _accuracy(qat, xt, yt),
                              "md_snn": _accuracy(md, xt, yt)}
        print(f"classification {bits}-bit: {rows[f'{bits}bit']}", flush=True)
    return rows


def policy(name: str, *, seed: int, episodes: int, timesteps: int, rollout_steps: int, epochs: int,
           membrane_bits: int | None) -> dict:
    from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, collect_activations, convert_actor
    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import SpikingPolicy
    from snnrl.agents.quantized import distill_spiking_actor, quantize_spiking_actor
    from snnrl.agents.zoo import load_teacher

    actor, entry = load_teacher(name)
    env_id = entry["env_id"]
    fp = convert_actor(actor, calibrate_thresholds(actor, env_id, ConversionConfig(seed=seed)))
    # observations of teacher rollouts: re-run the rollout and keep the inputs
    obs = _rollout_observations(actor, env_id, rollout_steps, seed + 100)

    def ret(snn) -> float:
        res = run_episodes(SpikingPolicy(snn, timesteps=timesteps), env_id, episodes=episodes, seed=seed)
        return float(np.mean([r.episode_return for r in res]))

    rows = {"full_precision_snn": ret(fp), "ann": entry["return_mean"]}
    for bits in BITS:
        u = membrane_bits or bits
        naive = quantize_spiking_actor(fp, bits=bits, membrane_bits=u)
        student = quantize_spiking_actor(fp, bits=bits, membrane_bits=u)
        losses = distill_spiking_actor(student, fp, obs, timesteps=timesteps, epochs=epochs,
                                       generator=torch.Generator().manual_seed(seed))
        rows[f"{bits}bit"] = {"naive": ret(naive), "md_snn": ret(student), "distill_losses": losses}
        print(f"{name} {bits}-bit: naive {rows[f'{bits}bit']['naive']:.0f}, MD-SNN {rows[f'{bits}bit']['md_snn']:.0f}",
              flush=True)
    return rows


@torch.no_grad()
def _rollout_observations(actor, env_id: str, steps: int, seed: int) -> torch.Tensor:
    import gymnasium as gym

    env = gym.make(env_id)
    o, _ = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        x = torch.as_tensor(np.asarray(o), dtype=torch.float32).unsqueeze(0)
        out.append(x)
        o, _, term, trunc, _ = env.step(actor(x)[0].numpy())
        if term or trunc:
            o, _ = env.reset()
    return torch.cat(out)


def main(argv: list[str] | None = None) -> int:
    from snnrl.results import package_versions

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policies", nargs="*", default=["td3-inverteddoublependulum", "td3-halfcheetah"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--membrane-bits", type=int, default=MEMBRANE_BITS,
                   help="membrane bit width on the weight grid (0: same as the weights)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    q = args.quick
    u = args.membrane_bits or None
    config = {"seed": args.seed, "bits": list(BITS), "membrane_bits": u or "same as weights", "classification": {"train_n": 2000 if q else 20000,
              "test_n": 500 if q else 5000, "epochs": 1 if q else 3, "backbone": "SpikingMLP(256,256) T=4"},
              "policy": {"episodes": 2 if q else 5, "timesteps": 16, "rollout_steps": 2000 if q else 20000,
                         "epochs": 1 if q else 5}}
    result = {"schema_version": 1, "benchmark": "quantization", "config": config, "versions": package_versions(),
              "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    result["classification"] = classification(seed=args.seed, membrane_bits=u, **{
        k: v for k, v in config["classification"].items() if k != "backbone"})
    result["policies"] = {name: policy(name, seed=args.seed, membrane_bits=u, **config["policy"])
                          for name in args.policies}
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
