"""The toolkit's demos (``snnrl demo``), on embedded defaults, needing no download.

* Control demo (default, the README's main job): a committed teacher of the zoo (TD3 Hopper when present) is
  converted to a spiking policy and evaluated in MuJoCo — ANN vs plain SNN vs SNN+CRPI vs the recommended recipe
  (:func:`snnrl.sweeps.fidelity.convert_tuned`, its knobs tuned on episodes seeded 100-109, not the demo's) at
  ``T = 8``, a few seeded episodes — printing returns, fidelity and energy per episode; reports go to
  ``runs/demo/``.
* Core demo (``snnrl demo --core``): a spiking layer stack on a few 8x8 digits, with per-layer MACs,
  accumulates, neuron updates, spikes and energy, next to the same network run as an ANN.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from snnrl.encoding import repeat_over_time
from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.layers import SpikingSequential
from snnrl.neurons import IFNeuron
from snnrl.opcount import OperationCounter
from snnrl.tables import format_table

__all__ = ["run_core_demo", "run_control_demo", "main", "DEMO_TEACHERS"]

#: Zoo teachers the control demo uses, first present wins.
DEMO_TEACHERS = ("td3-hopper", "td3-walker2d", "td3-halfcheetah", "td3-inverteddoublependulum", "td3-invertedpendulum")


def _digits(batch: int) -> torch.Tensor:
    from sklearn.datasets import load_digits

    images = load_digits().images[:batch] / 16.0
    return torch.tensor(images, dtype=torch.float32).unsqueeze(1)  # [B, 1, 8, 8]


def _layers(seed: int) -> list[nn.Module]:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(1, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 8 * 8, 64),
                               nn.Linear(64, 10)]
    for layer in layers:
        for p in layer.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen) * (0.5 / max(1, p.shape[-1]) ** 0.5))
    return layers


def run_core_demo(*, timesteps: int = 8, batch: int = 16, seed: int = 0) -> dict[str, object]:
    """Run the demo; returns the per-layer counts and energies (also printed by :func:`main`)."""
    conv, flat, fc1, fc2 = _layers(seed)
    snn = SpikingSequential(conv, IFNeuron(0.5), flat, fc1, IFNeuron(0.5), fc2)
    ann = nn.Sequential(conv, nn.ReLU(), flat, fc1, nn.ReLU(), fc2)
    x = _digits(batch)
    with torch.no_grad(), OperationCounter(snn) as snn_ops:
        snn_out = snn(repeat_over_time(x, timesteps)).mean(0)
    with torch.no_grad(), OperationCounter(ann) as ann_ops:
        ann_out = ann(x)
    rows = []
    for name, ops in snn_ops.by_layer().items():
        rows.append([f"snn.{name}", ops.macs, ops.accumulates, ops.neuron_updates, ops.spikes,
                     DIGITAL_45NM_FP32.energy_pj(ops) / batch])
    for name, ops in ann_ops.by_layer().items():
        rows.append([f"ann.{name}", ops.macs, ops.accumulates, 0, 0, DIGITAL_45NM_FP32.energy_pj(ops) / batch])
    snn_energy = DIGITAL_45NM_FP32.energy_pj(snn_ops.summary()) / batch
    ann_energy = DIGITAL_45NM_FP32.energy_pj(ann_ops.summary()) / batch
    agreement = float((snn_out.argmax(1) == ann_out.argmax(1)).float().mean())
    return {"rows": rows, "snn_energy_pj": snn_energy, "ann_energy_pj": ann_energy, "agreement": agreement,
            "timesteps": timesteps, "batch": batch}


def print_core_demo() -> None:
    result = run_core_demo()
    print(f"snnrl core demo: conv-IF-linear-IF-linear on {result['batch']} digits (8x8), "
          f"T={result['timesteps']}, untrained weights (seed 0)")
    print(format_table(result["rows"], ["layer", "MACs", "ACs", "neuron updates", "spikes", "energy/sample pJ"]))
    print(f"energy per sample ({DIGITAL_45NM_FP32.name}): SNN {result['snn_energy_pj']:,.0f} pJ vs "
          f"ANN {result['ann_energy_pj']:,.0f} pJ; SNN/ANN top-1 agreement {result['agreement']:.2f}")


def run_control_demo(*, timesteps: int = 8, alpha: float = 1.0, episodes: int = 3, tuning_episodes: int = 10,
                     out_dir: str = "runs/demo", progress: bool = True) -> dict[str, object]:
    """Convert a zoo teacher and evaluate ANN / SNN / SNN+CRPI / the tuned recipe; returns the results and report
    paths."""
    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy
    from snnrl.agents.zoo import list_teachers, load_teacher
    from snnrl.reports.conversion import format_summary, write_reports
    from snnrl.sweeps.evaluator import run_sweep
    from snnrl.sweeps.fidelity import convert_tuned
    from snnrl.sweeps.jobs import EvalJob, JobResult, SweepConfig
    from snnrl.sweeps.statistics import summarise

    available = list_teachers()
    name = next((n for n in DEMO_TEACHERS if n in available), None)
    if name is None:
        raise RuntimeError("The teacher zoo is empty; train and export a teacher first (snnrl train-teacher).")
    actor, entry = load_teacher(name)
    config = SweepConfig(timesteps=(timesteps,), alphas=(alpha,), episodes=episodes)
    jobs = [EvalJob("ann"), EvalJob("zero"), EvalJob("snn", timesteps), EvalJob("snn+crpi", timesteps, alpha)]
    results, calibration = run_sweep(actor, entry["env_id"], config, jobs=jobs, progress=progress)
    start = time.perf_counter()
    tell = (lambda line: print(f"recipe tuning, {line}", flush=True)) if progress else None
    (recipe,), meta = convert_tuned(actor, entry["env_id"], (timesteps,), tuning_episodes=tuning_episodes,
                                    progress=tell)
    recipe_episodes = run_episodes(recipe, entry["env_id"], episodes=episodes, seed=config.seed,
                                   teacher=AnnPolicy(actor, metering=False))
    results.append(JobResult(EvalJob("recipe", timesteps), recipe_episodes, time.perf_counter() - start))
    paths = write_reports(out_dir, results, teacher=name, env_id=entry["env_id"], config=config,
                          calibration=calibration, extra={"recipe": meta})
    return {"teacher": name, "entry": entry, "results": results, "summary": format_summary(summarise(results)),
            "paths": paths, "recipe": meta["tuning"][str(timesteps)]["recipe"],
            "reference_return": float(next(r for r in results if r.job.kind == "zero").returns.mean())}


def print_control_demo() -> None:
    demo = run_control_demo()
    entry, results = demo["entry"], demo["results"]
    print(f"\nsnnrl demo: {demo['teacher']} ({entry['algo']} on {entry['env_id']}, zoo return "
          f"{entry['return_mean']:.0f} ± {entry['return_std']:.0f}) converted to a spiking policy")
    rows = [[r.job.label, e.seed, e.episode_return, e.length, e.energy["energy_per_decision_pj"] / 1000,
             e.energy["spikes"] / max(1, e.length), e.energy["energy_pj"] / 1e6]
            for r in results for e in r.episodes if r.job.kind != "zero"]
    print(format_table(rows, ["policy", "seed", "return", "steps", "nJ/decision", "spikes/decision", "episode uJ"]))
    from snnrl.sweeps.statistics import fidelity_score

    means = {r.job.label: float(r.returns.mean()) for r in results if r.job.kind != "zero"}
    ann = next(r for r in results if r.job.kind == "ann")
    print(f"\nmean return and fidelity (share of the ANN's margin over the zero action, "
          f"{demo['reference_return']:.4g}) over these {len(ann.episodes)} episodes; the recipe is "
          f"{demo['recipe']}, tuned on episodes seeded 100-109:")
    for label, mean in means.items():
        score = fidelity_score(mean, means[ann.job.label], demo["reference_return"])
        print(f"  {label:22s} {mean:9.4g}   {'-' if score is None else f'{100 * score:.1f}%'}")
    print(f"\nsummary ({DIGITAL_45NM_FP32.name}):")
    print(demo["summary"])
    print("reports: " + ", ".join(str(p) for p in demo["paths"].values()))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="snnrl demo")
    parser.add_argument("--core", action="store_true", help="run the core demo (spiking stack on digits)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.core:
        print_core_demo()
    else:
        print_control_demo()
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
