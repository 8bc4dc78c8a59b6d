"""Speed (benchmarks.md): wall time per decision of the spiking policy vs the ANN teacher and vs SpikingJelly.

One run, one machine, interleaved: every round times each candidate for a block of calls, in a shuffled order;
numbers are medians over rounds, and each ratio is the median of the per-round ratios (the two candidates of a
ratio ran seconds apart, so background load cancels). Stateful candidates cycle through recorded observations of a
teacher rollout (batch 1) or hold a fixed batch of them. Candidates, at batch 1 and vectorised (``--batches``):

* ``ann_predict`` — :class:`~snnrl.agents.policy.AnnPolicy` ``predict`` (numpy in, numpy out), metering off;
  ``ann_forward`` — the raw teacher actor on a tensor, under ``torch.no_grad()``;
* ``snn_predict_T{T}`` / ``snn_crpi_predict_T{T}`` — :class:`~snnrl.agents.policy.SpikingPolicy` ``predict`` on the
  spike-driven engine (:mod:`snnrl.agents.spike_engine`), plain conversion / CRPI (alpha 1), metering off;
  ``torch_predict_T{T}`` — the same policy on the torch reference path (what every decision cost before the engine);
* ``sj_m_forward_T{T}`` — the same network built from SpikingJelly (``nn.Linear`` +
  ``spikingjelly.activation_based.neuron.IFNode``, soft reset ``v_reset=None``, start potential ``θ/2``,
  accumulated non-spiking output, the teacher's squashing) in multi-step mode, against ``sjnet_predict_T{T}``, our
  engine's ``predict`` on that network. Their actions are first checked against ours (``--tolerance``).
  SpikingJelly's ``IFNode`` takes one scalar threshold per layer, so this comparison uses our per-layer
  (``percentile``) calibration; the rest uses the reference per-neuron one.

Then the cost model (batch 1, engine ``predict``): every ``T`` of ``--sweep-timesteps`` × threshold scale of
``--sweep-scales`` (a scale changes the spike count at the same ``T`` × width), with the mean spikes and synaptic
accumulates per decision from the engine's own counts; least-squares fits of time on spikes and on ``T`` say which one
the cost follows.

Writes ``benchmarks/results/speed/decision_cost.json`` (:func:`snnrl.results.write_result`). Needs the ``bench``
extra (SpikingJelly).

Usage::

    .venv/bin/python benchmarks/decision_cost.py            # T = 4, 8, 16; batches 1 and 64; cost sweep
    .venv/bin/python benchmarks/decision_cost.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import SpikingActor, collect_activations, convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import AnnPolicy, SpikingPolicy
from snnrl.agents.spike_engine import NATIVE_MIN_BATCH, native_kernel
from snnrl.agents.zoo import load_teacher
from snnrl.results import write_result

from _timing import paired_ratio, stateful_predict, time_interleaved  # benchmarks/_timing.py (script directory)

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "decision_cost.json"


class SpikingJellyActor(nn.Module):
    """The converted actor rebuilt from SpikingJelly modules (``IFNode``, soft reset), same weights and ``T``.

    Parameters
    ----------
    actor
        Our converted actor; every layer must have a single threshold value (per-layer calibration).
    step_mode
        ``"m"``: multi-step ``IFNode`` and ``layer.Linear`` on ``[T, B, ...]``; ``"s"``: a loop over timesteps.
    """

    def __init__(self, actor: SpikingActor, step_mode: str = "m") -> None:
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        thetas = [float(t[0]) for t in actor.thresholds]
        for index, theta in enumerate(actor.thresholds):
            if not torch.all(theta == theta[0]):
                raise ValueError(f"layer {index} has per-neuron thresholds; IFNode takes one threshold per layer.")
        self.step_mode = step_mode
        self.thetas = thetas
        self.widths = [t.numel() for t in actor.thresholds]
        self.input_layer = self._copy(actor.input_layer, nn.Linear)
        linears = [m.layer for m in actor.hidden_layers] + [actor.output_layer.layer]
        self.layers = nn.ModuleList(self._copy(lin, lambda i, o: layer.Linear(i, o, step_mode=step_mode))
                                    for lin in linears)
        self.nodes = nn.ModuleList(neuron.IFNode(v_threshold=theta, v_reset=None, surrogate_function=surrogate.ATan(),
                                                 step_mode=step_mode) for theta in thetas)
        self.obs_low, self.obs_high = actor.obs_low, actor.obs_high
        self.action_low, self.action_high, self.squash = actor.action_low, actor.action_high, actor.squash

    @staticmethod
    def _copy(linear: nn.Linear, make: Callable[[int, int], nn.Linear]) -> nn.Linear:
        new = make(linear.in_features, linear.out_features)
        with torch.no_grad():
            new.weight.copy_(linear.weight)
            new.bias.copy_(linear.bias)
        return new

    def _start(self, batch: int) -> None:
        for node, theta, width in zip(self.nodes, self.thetas, self.widths):
            node.reset()
            node.v = torch.full((batch, width), 0.5 * theta)

    def forward(self, obs: torch.Tensor, timesteps: int) -> torch.Tensor:
        """Actions ``[B, action_dim]`` for ``obs [B, obs_dim]``, every neuron starting at ``θ/2``."""
        x = obs if self.obs_low is None else torch.clamp(obs, self.obs_low, self.obs_high)
        current = self.input_layer(x)
        self._start(obs.shape[0])
        if self.step_mode == "m":
            h = current.unsqueeze(0).repeat(timesteps, 1, 1)
            for node, linear in zip(self.nodes, self.layers):
                h = linear(node(h))
            pre_action = h.mean(0)
        else:
            total = None
            for _ in range(timesteps):
                h = current
                for node, linear in zip(self.nodes, self.layers):
                    h = linear(node(h))
                total = h if total is None else total + h
            pre_action = total / timesteps
        if self.squash == "tanh":
            return self.action_low + 0.5 * (torch.tanh(pre_action) + 1.0) * (self.action_high - self.action_low)
        return torch.maximum(torch.minimum(pre_action, self.action_high), self.action_low)


def rollout_observations(actor: TeacherActor, env_id: str, steps: int, seed: int) -> np.ndarray:
    """Observations ``[steps, obs_dim]`` of a deterministic teacher rollout."""
    import gymnasium as gym

    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    out = []
    with torch.no_grad():
        for _ in range(steps):
            out.append(np.asarray(obs, dtype=np.float32))
            obs, _, terminated, truncated, _ = env.step(actor(torch.as_tensor(out[-1]).unsqueeze(0))[0].numpy())
            if terminated or truncated:
                obs, _ = env.reset()
    env.close()
    return np.stack(out)


def check_spikingjelly(ours: SpikingActor, sj: SpikingJellyActor, observations: np.ndarray,
                       timesteps: int) -> float:
    """Largest absolute action difference between our actor and SpikingJelly's on ``observations``."""
    with torch.no_grad():
        obs = torch.from_numpy(observations)
        return float((ours(obs, timesteps) - sj(obs, timesteps)).abs().max())


def _numba_policy(snn: SpikingActor, timesteps: int, obs: np.ndarray) -> SpikingPolicy:
    """A policy whose engine runs every batch on the numba kernel (``SNNRL_NATIVE=0`` while its engine is built)."""
    policy = SpikingPolicy(snn, timesteps=timesteps, metering=False, engine="kernel")
    saved = os.environ.get("SNNRL_NATIVE")
    os.environ["SNNRL_NATIVE"] = "0"
    try:
        policy.predict(obs)                                     # builds the engine
    finally:
        if saved is None:
            del os.environ["SNNRL_NATIVE"]
        else:
            os.environ["SNNRL_NATIVE"] = saved
    return policy


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="td3-halfcheetah")
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=60, help="interleaved rounds (medians over them)")
    p.add_argument("--calls", type=int, default=20, help="calls per candidate and round")
    p.add_argument("--sweep-timesteps", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    p.add_argument("--sweep-scales", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                   help="threshold scales of the cost sweep")
    p.add_argument("--sweep-rounds", type=int, default=30)
    p.add_argument("--calibration-steps", type=int, default=2000)
    p.add_argument("--check-observations", type=int, default=256, help="observations of the SpikingJelly check")
    p.add_argument("--tolerance", type=float, default=1e-5, help="largest allowed action difference vs SpikingJelly")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: least noise on a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="T = 8 only, few rounds (smoke run)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"default {RESULTS.relative_to(RESULTS.parents[2])} (td3-halfcheetah), else "
                        "decision_cost_<teacher>.json beside it")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = RESULTS if args.teacher == "td3-halfcheetah" else RESULTS.with_name(
            f"decision_cost_{args.teacher}.json")
    if args.quick:
        args.timesteps, args.rounds, args.calls, args.calibration_steps = [8], 5, 5, 300
        args.check_observations, args.sweep_timesteps, args.sweep_scales, args.sweep_rounds = 64, [2, 8], [1.0], 3
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    actor, entry = load_teacher(args.teacher)
    env_id = entry["env_id"]
    activations = collect_activations(actor, env_id, steps=args.calibration_steps, seed=args.seed)
    snn = convert_actor(actor, thresholds_from_activations(activations, method="max"))
    snn_layer = convert_actor(actor, thresholds_from_activations(activations, method="percentile"))
    observations = rollout_observations(actor, env_id, max(args.check_observations, max(args.batches)), args.seed + 1)

    checks: dict[str, float] = {}
    conv = snn.convolutional                 # SpikingJelly's side is built for MLP actors only: no comparison then
    sj_net = None if conv else SpikingJellyActor(snn_layer, "m")
    for t in ([] if conv else args.timesteps):
        diff = check_spikingjelly(snn_layer, sj_net, observations[:args.check_observations], t)
        checks[f"sj_m_T{t}"] = diff
        if diff > args.tolerance:
            raise AssertionError(f"SpikingJelly (multi-step, T={t}) actions differ from ours by {diff:.3g} "
                                 f"> {args.tolerance}: the two networks are not the same.")
    # our engine, our torch path and our bare actor agree (plain conversion)
    engine = SpikingPolicy(snn_layer, timesteps=args.timesteps[0], metering=False, engine="kernel")
    with torch.no_grad():
        bare = snn_layer(torch.from_numpy(observations[:8]), args.timesteps[0]).numpy()
    engine_diff = float(np.abs(engine.predict(observations[:8])[0] - bare).max())
    if engine_diff > args.tolerance:
        raise AssertionError("the spike-driven engine's actions differ from the torch path's.")
    print("SpikingJelly check (max |action difference|):", {k: f"{v:.2g}" for k, v in checks.items()}, flush=True)

    ann = AnnPolicy(actor, metering=False)
    raw: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for batch in args.batches:
        obs_t = torch.from_numpy(observations[:batch].copy())
        source = observations[:64].copy() if batch == 1 else observations[:batch].copy()
        candidates: dict[str, Callable[[], Any]] = {"ann_predict": stateful_predict(ann, source, cycle=batch == 1)}

        def ann_forward() -> torch.Tensor:
            with torch.no_grad():
                return actor(obs_t)
        candidates["ann_forward"] = ann_forward
        for t in args.timesteps:
            for tag, net, crpi, path in (("snn", snn, None, "kernel"), ("snn_crpi", snn, CRPIConfig(alpha=1.0), "kernel"),
                                         ("torch", snn, None, "torch"), ("sjnet", snn_layer, None, "kernel"))[:3 + (not conv)]:
                policy = SpikingPolicy(net, timesteps=t, crpi=crpi, metering=False, engine=path)
                candidates[f"{tag}_predict_T{t}"] = stateful_predict(policy, source, cycle=batch == 1)
            if not conv and batch >= NATIVE_MIN_BATCH and native_kernel() is not None:
                candidates[f"numba_predict_T{t}"] = stateful_predict(_numba_policy(snn, t, source), source)
            if not conv:
                candidates[f"sj_m_forward_T{t}"] = _no_grad(sj_net, obs_t, t)
        print(f"batch {batch}: timing {len(candidates)} candidates x {args.rounds} rounds x {args.calls} calls",
              flush=True)
        times = time_interleaved(candidates, rounds=args.rounds, calls=args.calls, seed=args.seed)
        raw[f"batch{batch}"] = {k: [s * 1e6 for s in v] for k, v in times.items()}
        row: dict[str, Any] = {"median_us": {k: float(np.median(v)) * 1e6 for k, v in times.items()}}
        for t in args.timesteps:
            row[f"T{t}"] = {
                "snn_over_ann_predict": paired_ratio(times, f"snn_predict_T{t}", "ann_predict"),
                "snn_crpi_over_ann_predict": paired_ratio(times, f"snn_crpi_predict_T{t}", "ann_predict"),
                "snn_predict_over_ann_forward": paired_ratio(times, f"snn_predict_T{t}", "ann_forward"),
                "crpi_over_plain": paired_ratio(times, f"snn_crpi_predict_T{t}", f"snn_predict_T{t}"),
                "engine_over_torch_path": paired_ratio(times, f"snn_predict_T{t}", f"torch_predict_T{t}"),
                "snn_throughput_over_ann": 1.0 / paired_ratio(times, f"snn_predict_T{t}", "ann_predict"),
            }
            if f"numba_predict_T{t}" in times:
                row[f"T{t}"]["c_kernel_over_numba_kernel"] = paired_ratio(times, f"snn_predict_T{t}",
                                                                          f"numba_predict_T{t}")
            if not conv:
                row[f"T{t}"]["ours_over_spikingjelly_multistep"] = paired_ratio(times, f"sjnet_predict_T{t}",
                                                                               f"sj_m_forward_T{t}")
        summary[f"batch{batch}"] = row
        for t in args.timesteps:
            r = row[f"T{t}"]
            print(f"  T={t:2d}: SNN/ANN predict {r['snn_over_ann_predict']:.2f} (CRPI {r['snn_crpi_over_ann_predict']:.2f})"
                  f", SNN/ANN forward {r['snn_predict_over_ann_forward']:.2f}, engine/torch path "
                  f"{r['engine_over_torch_path']:.2f}"
                  + (f", ours/SpikingJelly {r['ours_over_spikingjelly_multistep']:.3f}" if not conv else ""),
                  flush=True)
    summary["cost_model"], raw["cost_model"] = cost_sweep(actor, activations, observations[:64].copy(), args)
    summary["spikingjelly_max_action_difference"] = checks
    summary["engine_vs_torch_path_max_action_difference"] = engine_diff
    config = {"teacher": args.teacher, "env_id": env_id, "net_arch": entry.get("net_arch"), "convolutional": conv,
              "obs_shape": list(actor.obs_shape),
              "timesteps": args.timesteps, "batches": args.batches, "rounds": args.rounds, "calls": args.calls,
              "sweep_timesteps": args.sweep_timesteps, "sweep_scales": args.sweep_scales,
              "sweep_rounds": args.sweep_rounds, "calibration_steps": args.calibration_steps,
              "threshold_method": "max (SpikingJelly comparison: percentile)", "tolerance": args.tolerance,
              "threads": args.threads, "quick": args.quick, "metering": False, "crpi_alpha": 1.0,
              "units": "microseconds per decision (raw: per round)"}
    write_result(args.out, "decision_cost", config=config, raw=raw, summary=summary, seed=args.seed)
    print(f"wrote {args.out}")
    return 0


def cost_sweep(actor: TeacherActor, activations: list[torch.Tensor], observations: np.ndarray,
               args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Engine ``predict`` time per decision against ``T`` and spike count (batch 1, cycling observations)."""
    candidates: dict[str, Callable[[], Any]] = {}
    load: dict[str, dict[str, float]] = {}
    neurons = int(sum(a[0].numel() for a in activations))                    # IF neurons of the converted actor
    for scale in args.sweep_scales:
        net = convert_actor(actor, thresholds_from_activations(activations, method="max", scale=scale))
        for t in args.sweep_timesteps:
            key = f"T{t}_scale{scale:g}"
            metered = SpikingPolicy(net, timesteps=t, metering=True, engine="kernel")
            spikes = accumulates = 0
            for obs in observations:
                metered.predict(obs)
                totals = sum(c.sum(0) for c in metered.last_decision_ops.values())
                accumulates += int(totals[1])
                spikes += int(totals[3])
            load[key] = {"timesteps": t, "scale": scale, "spikes": spikes / len(observations),
                         "accumulates": accumulates / len(observations)}
            candidates[key] = stateful_predict(SpikingPolicy(net, timesteps=t, metering=False, engine="kernel"),
                                               observations, cycle=True)
    print(f"cost sweep: timing {len(candidates)} candidates x {args.sweep_rounds} rounds", flush=True)
    times = time_interleaved(candidates, rounds=args.sweep_rounds, calls=len(observations), seed=args.seed)
    points = [{**load[k], "median_us": float(np.median(v)) * 1e6} for k, v in times.items()]
    us = np.array([pt["median_us"] for pt in points])

    def fit(*xs: np.ndarray) -> dict[str, Any]:
        design = np.stack([np.ones_like(xs[0]), *xs], axis=1)
        coef, *_ = np.linalg.lstsq(design, us, rcond=None)
        residual = us - design @ coef
        r2 = float(1.0 - (residual ** 2).sum() / ((us - us.mean()) ** 2).sum())
        if len(xs) == 1:
            return {"intercept_us": float(coef[0]), "slope_us": float(coef[1]), "r2": r2}
        return {"intercept_us": float(coef[0]), "slopes_us": [float(c) for c in coef[1:]], "r2": r2}
    spikes = np.array([pt["spikes"] for pt in points])
    steps = np.array([float(pt["timesteps"]) for pt in points])
    spikes_fit, t_fit = fit(spikes), fit(steps)
    # Both at once: every timestep updates every neuron (T x width) and every spike adds a weight row.
    joint = fit(spikes, steps * neurons)
    for pt in points:
        print(f"  T={pt['timesteps']:2d} scale {pt['scale']:g}: {pt['spikes']:7.0f} spikes, {pt['median_us']:7.1f} us",
              flush=True)
    print(f"  time ~ spikes: {spikes_fit['slope_us'] * 1e3:.1f} ns/spike + {spikes_fit['intercept_us']:.1f} us "
          f"(R^2 {spikes_fit['r2']:.3f}); time ~ T: R^2 {t_fit['r2']:.3f}", flush=True)
    print(f"  joint fit: {joint['slopes_us'][0] * 1e3:.1f} ns/spike + {joint['slopes_us'][1] * 1e3:.2f} ns per neuron "
          f"update + {joint['intercept_us']:.1f} us (R^2 {joint['r2']:.3f})", flush=True)
    summary = {"points": points, "fit_spikes": spikes_fit, "fit_timesteps": t_fit, "neurons": neurons,
               "fit_spikes_and_neuron_updates": {"intercept_us": joint["intercept_us"],
                                                 "ns_per_spike": joint["slopes_us"][0] * 1e3,
                                                 "ns_per_neuron_update": joint["slopes_us"][1] * 1e3,
                                                 "r2": joint["r2"]},
               "ns_per_spike": spikes_fit["slope_us"] * 1e3}
    return summary, {k: [s * 1e6 for s in v] for k, v in times.items()}


def _no_grad(net: nn.Module, obs: torch.Tensor, timesteps: int) -> Callable[[], torch.Tensor]:
    def call() -> torch.Tensor:
        with torch.no_grad():
            return net(obs, timesteps)
    return call


if __name__ == "__main__":
    sys.exit(main())
