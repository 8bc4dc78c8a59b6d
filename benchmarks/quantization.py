"""Benchmark 5a (benchmarks.md): MD-SNN quantization at 8 / 4 / 2 bits vs naive quantization vs full precision.

(a) Classification backbone: a spiking MLP (T=4) trained on MNIST (subset), then for each bit width
    * naive: post-training quantization of weights and membranes (LSQ initialisation, no training),
    * QAT: quantization-aware fine-tuning with cross-entropy only,
    * MD-SNN: the same fine-tuning with distillation from the full-precision SNN (KD + membrane MSE).
(b) Converted policies (zoo teachers, T=16): naive post-conversion quantization vs MD-SNN distillation from the
    full-precision SNN on teacher-rollout observations; returns over seeded episodes.

For every bit width it also gives the IMC model's (SpikeSim-like crossbars, :mod:`snnrl.hardware.imc`) EDAP, TOPS/W
and TOPS/mm² of the MD-SNN network relative to the same network at 32-bit weights and membranes.

Writes ``benchmarks/results/quantization.json`` (common result schema, :mod:`snnrl.results`). Usage: ``.venv/bin/python benchmarks/quantization.py [--policies td3-halfcheetah ...] [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snnrl.results import write_result

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


def _imc(net: torch.nn.Module, x: torch.Tensor, *, weight_bits: int, membrane_bits: int):
    """The IMC model's estimate (SpikeSim-like RRAM crossbars) of one inference of ``net`` on ``x``."""
    from snnrl.hardware import SPIKESIM_RRAM_65NM, estimate, layer_geometries, workload_from_counter
    from snnrl.opcount import OperationCounter

    net.eval()
    with torch.no_grad():
        geometry = layer_geometries(net, x)
        with OperationCounter(net) as counter:
            net(x)
    return estimate(workload_from_counter(counter, geometry=geometry), profile=SPIKESIM_RRAM_65NM,
                    weight_bits=weight_bits, membrane_bits=membrane_bits)


def _imc_ratios(base, quantized: torch.nn.Module, x: torch.Tensor, *, bits: int, membrane_bits: int) -> dict:
    """EDAP, TOPS/W and TOPS/mm² of ``quantized`` (``bits``-bit weights) relative to ``base``, the full-precision
    network's estimate at 32-bit weights and membranes."""
    from snnrl.hardware import compare

    return {k: v for k, v in compare(base, _imc(quantized, x, weight_bits=bits, membrane_bits=membrane_bits)).items()
            if k in ("energy", "area", "edap", "tops_per_w", "tops_per_mm2")}


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
    base = _imc(fp, xt[:64], weight_bits=32, membrane_bits=32)
    for bits in BITS:
        u = membrane_bits or bits
        naive = quantize_network(fp, bits=bits, membrane_bits=u)
        qat = _train(quantize_network(fp, bits=bits, membrane_bits=u), x, y, epochs=1, lr=1e-4, seed=seed + 1)
        md = _train(quantize_network(fp, bits=bits, membrane_bits=u), x, y, epochs=1, lr=1e-4, seed=seed + 1,
                    teacher=fp, kd=1.0, mem=0.1)
        rows[f"{bits}bit"] = {"naive": _accuracy(naive, xt, yt), "qat_ce_only": _accuracy(qat, xt, yt),
                              "md_snn": _accuracy(md, xt, yt),
                              "imc_vs_fp32": _imc_ratios(base, md, xt[:64], bits=bits, membrane_bits=u)}
        print(f"classification {bits}-bit: {rows[f'{bits}bit']}", flush=True)
    return rows


def policy(name: str, *, seed: int, episodes: int, timesteps: int, rollout_steps: int, epochs: int,
           membrane_bits: int | None) -> dict:
    from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, convert_actor
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
    base = _imc(fp, obs[:64], weight_bits=32, membrane_bits=32)
    for bits in BITS:
        u = membrane_bits or bits
        naive = quantize_spiking_actor(fp, bits=bits, membrane_bits=u)
        student = quantize_spiking_actor(fp, bits=bits, membrane_bits=u)
        losses = distill_spiking_actor(student, fp, obs, timesteps=timesteps, epochs=epochs,
                                       generator=torch.Generator().manual_seed(seed))
        rows[f"{bits}bit"] = {"naive": ret(naive), "md_snn": ret(student), "distill_losses": losses,
                              "imc_vs_fp32": _imc_ratios(base, student, obs[:64], bits=bits, membrane_bits=u)}
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


def summary_rows(raw: dict) -> list[dict]:
    """One row per network and bit width: full precision, naive, MD-SNN, and the IMC ratios of MD-SNN vs FP32."""
    rows = []
    c = raw["classification"]
    for bits in BITS:
        r = c[f"{bits}bit"]
        rows.append({"network": "SpikingMLP(256,256) MNIST", "metric": "accuracy", "bits": bits,
                     "full_precision": c["full_precision"]["accuracy"], "naive": r["naive"], "md_snn": r["md_snn"],
                     "qat_ce_only": r["qat_ce_only"], **{f"imc_{k}_x": v for k, v in r["imc_vs_fp32"].items()}})
    for name, p in raw["policies"].items():
        for bits in BITS:
            r = p[f"{bits}bit"]
            rows.append({"network": name, "metric": "return", "bits": bits, "full_precision": p["full_precision_snn"],
                         "naive": r["naive"], "md_snn": r["md_snn"], "qat_ce_only": None,
                         **{f"imc_{k}_x": v for k, v in r["imc_vs_fp32"].items()}})
    return rows


def format_summary(rows: list[dict]) -> str:
    from snnrl.tables import format_table

    return format_table([[r["network"], r["bits"], r["full_precision"], r["naive"], r["md_snn"],
                          r["imc_edap_x"], r["imc_tops_per_w_x"], r["imc_tops_per_mm2_x"]] for r in rows],
                        ["network", "bits", "full precision", "naive", "MD-SNN", "EDAP x", "TOPS/W x", "TOPS/mm2 x"])


def main(argv: list[str] | None = None) -> int:
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
    config = {"seed": args.seed, "bits": list(BITS), "membrane_bits": u or "same as weights",
              "classification": {"train_n": 2000 if q else 20000, "test_n": 500 if q else 5000,
                                 "epochs": 1 if q else 3, "backbone": "SpikingMLP(256,256) T=4"},
              "policy": {"episodes": 2 if q else 5, "timesteps": 16, "rollout_steps": 2000 if q else 20000,
                         "epochs": 1 if q else 5}}
    raw = {"classification": classification(seed=args.seed, membrane_bits=u, **{
        k: v for k, v in config["classification"].items() if k != "backbone"})}
    raw["policies"] = {name: policy(name, seed=args.seed, membrane_bits=u, **config["policy"])
                       for name in args.policies}
    write_result(args.out, "quantization", config=config, seed=args.seed, raw=raw, summary=summary_rows(raw))
    print(format_summary(summary_rows(raw)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
