"""How far a peer's re-import of our NIR graphs drifts from our networks (issue 17, item 2).

A converted zoo teacher (per-neuron max thresholds) is exported with :func:`snnrl.reports.nir_graph.actor_to_nir`
and re-imported by Norse (``norse.torch.from_nir``), which simulates NIR's IF semantics: start at 0, reset to 0,
fire at ``v > θ``, no CRPI carry. On observations recorded from teacher rollouts (seed 1, not the calibration
seed) we report, per ``T``, the action difference between the peer (input clamp and output readout from the graph's
metadata) and

* our plain converted actor (every decision from ``θ/2``),
* our CRPI policy run along the recorded trajectory (the carry NIR cannot hold),
* :func:`~snnrl.reports.nir_graph.nir_semantics` of our actor (what NIR says; should be ~0: only exact ties differ),

in units of the action range (``high − low``). A small untrained SpikingConvNet re-imported by snnTorch gives the
backbone line (logit difference, top-1 agreement).

Writes ``benchmarks/results/nir_drift.json`` (common result schema).
Usage: ``.venv/bin/python benchmarks/nir_drift.py [--teacher td3-invertedpendulum] [--steps 300]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from snnrl.results import write_result

RESULTS = Path(__file__).resolve().parent / "results" / "nir_drift.json"


def actor_drift(teacher: str, *, calibration_steps: int, steps: int, timesteps: list[int]) -> dict:
    from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, collect_states, convert_actor
    from snnrl.agents.crpi import CRPIConfig
    from snnrl.agents.policy import SpikingPolicy
    from snnrl.agents.zoo import load_teacher
    from snnrl.reports.nir_graph import actor_to_nir, clamp_observation, nir_semantics, peer_outputs, readout_action

    actor, entry = load_teacher(teacher)
    snn = convert_actor(actor, calibrate_thresholds(actor, entry["env_id"],
                                                    ConversionConfig(calibration_steps=calibration_steps, seed=0)))
    obs, starts, _ = collect_states(actor, entry["env_id"], steps=steps, seed=1)
    graph = actor_to_nir(snn)
    literal = nir_semantics(snn)
    scale = (snn.action_high - snn.action_low).max().item()
    rows = []
    for t in timesteps:
        peer = readout_action(graph, peer_outputs(graph, clamp_observation(graph, obs).expand(t, -1, -1),
                                                  peer="norse"))
        with torch.no_grad():
            plain = snn(obs, t)
            nir_literal = literal(obs, t)
        crpi_policy, state, crpi = SpikingPolicy(snn, timesteps=t, crpi=CRPIConfig(alpha=1.0)), None, []
        for x, start in zip(obs, starts):
            action, state = crpi_policy.predict(x.numpy(), state, np.array([bool(start)]))
            crpi.append(torch.from_numpy(np.asarray(action)))
        crpi_actions = torch.stack(crpi)

        def stats(a: torch.Tensor, b: torch.Tensor) -> dict:
            d = (a - b).abs() / scale
            return {"max": d.max().item(), "mean": d.mean().item()}

        rows.append({"timesteps": t, "vs_plain": stats(peer, plain), "vs_crpi": stats(peer, crpi_actions),
                     "vs_nir_semantics": stats(peer, nir_literal),
                     "plain_vs_crpi": stats(plain, crpi_actions)})
    return {"teacher": teacher, "env_id": entry["env_id"], "observations": int(obs.shape[0]),
            "action_range": scale, "peer": "norse", "rows": rows}


def backbone_drift(*, timesteps: int, samples: int) -> dict:
    from snnrl.continual.backbones import make_backbone
    from snnrl.reports.nir_graph import backbone_to_nir, nir_semantics, peer_outputs

    torch.manual_seed(0)
    net = make_backbone("conv", (1, 8, 8), 10, timesteps=timesteps, channels=(8,), hidden=32).eval()
    with torch.no_grad():
        for p in net.features.parameters():
            p.mul_(4)                                  # untrained weights scaled so the neurons fire
    x = torch.rand(samples, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    peer = peer_outputs(backbone_to_nir(net), x.expand(timesteps, *x.shape), peer="snntorch")
    with torch.no_grad():
        ours, literal = net(x), nir_semantics(net)(x)
    return {"backbone": "conv (1x8x8, channels 8, hidden 32, untrained x4)", "timesteps": timesteps,
            "samples": samples, "peer": "snntorch",
            "max_logit_diff_vs_ours": (peer - ours).abs().max().item(),
            "max_logit_diff_vs_nir_semantics": (peer - literal).abs().max().item(),
            "top1_agreement_vs_ours": (peer.mean(0).argmax(1) == ours.mean(0).argmax(1)).float().mean().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default="td3-invertedpendulum")
    parser.add_argument("--calibration-steps", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=300, help="recorded observations (teacher rollout, seed 1)")
    parser.add_argument("--timesteps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = {"teacher": args.teacher, "calibration_steps": args.calibration_steps, "steps": args.steps,
              "timesteps": args.timesteps, "threshold_method": "max"}
    actors = actor_drift(args.teacher, calibration_steps=args.calibration_steps, steps=args.steps,
                         timesteps=args.timesteps)
    backbone = backbone_drift(timesteps=4, samples=64)
    summary = {f"T{r['timesteps']}_max_action_drift_vs_plain": r["vs_plain"]["max"] for r in actors["rows"]}
    summary |= {f"T{r['timesteps']}_max_action_drift_vs_crpi": r["vs_crpi"]["max"] for r in actors["rows"]}
    summary |= {f"T{r['timesteps']}_max_vs_nir_semantics": r["vs_nir_semantics"]["max"] for r in actors["rows"]}
    summary["backbone_max_logit_diff"] = backbone["max_logit_diff_vs_ours"]
    summary["backbone_top1_agreement"] = backbone["top1_agreement_vs_ours"]
    write_result(args.out, "nir_drift", config=config, seed=0, raw={"actor": actors, "backbone": backbone},
                 summary=summary)
    for key, value in summary.items():
        print(f"{key:40s} {value:10.4f}")


if __name__ == "__main__":
    main()
