"""Training-free calibration of a converted actor at a target ``T``: rate-error-optimal thresholds and bias
correction.

**Thresholds.** An IF neuron (soft reset, start potential ``θ/2``) driven by a constant current ``a`` for ``T``
steps emits ``n = clip(floor(a·T/θ + ½), 0, T)`` spikes, so the next layer sees ``q_T(a; θ) = θ·n/T``.
:func:`mse_thresholds` picks, per neuron (or per layer), the ``θ`` that minimises the expected squared
rate-coding error ``E[(a − q_T(a; θ))²]`` over calibration activations: a large ``θ`` wastes resolution
(``θ/T`` per spike), a small one clips the peaks. It replaces the hand-tuned ``threshold_scale``.

**Bias correction** (after Li et al. 2021, "A free lunch from ANN: towards efficient, accurate spiking neural
networks calibration"): layer by layer, from the first, run the spiking actor on calibration states and shift the
bias feeding each neuron by the ``δ`` that removes the mean error ``E[a_l − θ_l·n_l(δ)/T]`` of its rate output
against the ANN's activation. Li et al. add the measured error itself (one step); at few timesteps the rate is a
coarse staircase of ``δ`` and one step overshoots (``T = 1``, ``a`` uniform on ``[0, ½]``: the error ``+¼`` becomes
``−¼``), so ``δ`` is found by bisection on the mean error, which falls monotonically with ``δ``. The output layer
is linear in its bias: it gets ``E[z_ANN − z_SNN]`` of the pre-action exactly. With ``crpi`` the states are run
in their order with the CRPI carry, so the correction is measured under the dynamics the policy will have.

Example
-------
>>> import torch
>>> acts = [torch.tensor([[0.1], [0.2], [0.3], [0.4], [3.0]])]
>>> theta = mse_thresholds(acts, timesteps=4)[0]       # clips the lone 3.0 to resolve the rest finely
>>> bool(theta < 3.0)
True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import SpikingActor, per_channel
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.encoding import check_timesteps

__all__ = ["rate_quantise", "rate_error", "mse_thresholds", "calibrate_biases"]


def rate_quantise(a: torch.Tensor, theta: torch.Tensor, timesteps: int) -> torch.Tensor:
    """``θ·clip(floor(a·T/θ + ½), 0, T)/T``: what an IF neuron started at ``θ/2`` passes on for a constant ``a``."""
    t = check_timesteps(timesteps)
    return theta * torch.clamp(torch.floor(a * t / theta + 0.5), 0, t) / t


def rate_error(a: torch.Tensor, theta: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Mean over rows of ``(a − q_T(a; θ))²`` for ``a [N, W]`` and ``θ [W]`` (per neuron, ``[W]``)."""
    return ((a - rate_quantise(a, theta, timesteps)) ** 2).mean(0)


def mse_thresholds(activations: Sequence[torch.Tensor], timesteps: int, *, per_neuron: bool = True,
                   candidates: int = 96, chunk: int = 4096) -> list[torch.Tensor]:
    """Per hidden layer, the thresholds ``[W]`` minimising :func:`rate_error` at ``timesteps``.

    Parameters
    ----------
    activations
        ANN activations ``[N, W]`` per hidden layer (:func:`~snnrl.agents.conversion.collect_activations`), or
        ``[N, C, H, W]`` after a convolution: then one threshold per channel ``[C]``.
    per_neuron
        One threshold per neuron / channel (default) or one per layer (the layer's summed error).
    candidates
        Grid size: ``θ`` is searched on ``max(a)·k/candidates`` for ``k = 1..candidates`` (``max`` per neuron or
        per layer); the grid's upper end is the reference ``max`` threshold, so the error never exceeds its error.
    """
    check_timesteps(timesteps)
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}.")
    out = []
    for acts in activations:
        acts = per_channel(acts.detach().float())
        top = acts.max(0).values if per_neuron else acts.max().expand(acts.shape[1])
        top = torch.where(top > 0, top, top.max() if top.max() > 0 else torch.tensor(1.0))
        grid = top.unsqueeze(0) * torch.arange(1, candidates + 1, dtype=torch.float32).unsqueeze(1) / candidates
        errors = torch.zeros_like(grid)                                   # [K, W]
        for start in range(0, acts.shape[0], chunk):
            a = acts[start:start + chunk].unsqueeze(0)                     # [1, n, W]
            errors += ((a - rate_quantise(a, grid.unsqueeze(1), timesteps)) ** 2).sum(1)
        if not per_neuron:
            errors = errors.sum(1, keepdim=True).expand_as(errors)
        best = errors.argmin(0)
        out.append(grid.gather(0, best.unsqueeze(0))[0].clone())
    return out


def _layer_rates(snn: SpikingActor, observations: torch.Tensor, timesteps: int, crpi: CRPIConfig | None,
                 episode_starts: torch.Tensor | None, chunks: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Rate outputs ``θ·n/T`` per layer ``[N, W]`` and pre-actions ``[N, A]`` of ``snn`` on ``observations``.

    With ``crpi`` the ``N`` states are cut into ``chunks`` consecutive runs processed side by side as a batch, each
    run in its order with the carry (reset where ``episode_starts`` is true and at each run's start)."""
    with torch.no_grad():
        if crpi is None:
            v0 = [n.v_init.expand(observations.shape[0], -1) for n in snn.neurons]
            decision = snn.decide(observations, v0, timesteps)
            return [c * n.threshold / timesteps for c, n in zip(decision.spike_counts, snn.neurons)], \
                decision.pre_action
        policy = SpikingPolicy(snn, timesteps=timesteps, crpi=crpi, metering=False)
        n = observations.shape[0]
        runs = max(1, min(chunks, n))
        length = -(-n // runs)
        pad = runs * length - n
        shape = observations.shape[1:]                                  # [obs_dim] or a frame stack [C, H, W]
        obs = torch.cat([observations, observations[-1:].expand(pad, *shape)]) if pad else observations
        starts = torch.zeros(runs * length, dtype=torch.bool) if episode_starts is None else torch.cat(
            [episode_starts.bool(), torch.ones(pad, dtype=torch.bool)])
        obs, starts = obs.view(runs, length, *shape), starts.view(runs, length).clone()
        starts[:, 0] = True
        state, rates, pre = None, [], []
        for k in range(length):
            decision, state = policy.decide(obs[:, k], state, starts[:, k].numpy())
            rates.append([c * nr.threshold / timesteps for c, nr in zip(decision.spike_counts, snn.neurons)])
            pre.append(decision.pre_action)
        layers = [torch.stack([r[i] for r in rates], 1).reshape(runs * length, -1)[:n] for i in range(len(rates[0]))]
        return layers, torch.stack(pre, 1).reshape(runs * length, -1)[:n]


def calibrate_biases(snn: SpikingActor, actor: TeacherActor, observations: torch.Tensor, timesteps: int, *,
                     crpi: CRPIConfig | None = None, episode_starts: torch.Tensor | None = None,
                     chunks: int = 64, iterations: int = 14) -> SpikingActor:
    """A copy of ``snn`` whose biases remove the mean rate error per neuron, layer by layer (module docstring).

    Parameters
    ----------
    observations
        Calibration states ``[N, obs_dim]`` (e.g. from teacher rollouts), in trajectory order when ``crpi`` is
        given; ``episode_starts [N]`` marks the first state of each episode.
    iterations
        Bisection steps per layer on ``δ ∈ [−2θ, 2θ]`` (each halves the interval).
    """
    check_timesteps(timesteps)
    out = copy.deepcopy(snn)
    obs = observations.float()
    with torch.no_grad():
        targets = actor.hidden_activations(obs)
        pre_target = actor.head(actor.hidden(actor.normalise(obs)))
        feeds = [out.input_layer, *[h.layer for h in out.hidden_layers]]     # the layer feeding neuron layer l
        for index, feed in enumerate(feeds):
            channels = feed.bias.numel()                     # a convolution's bias is per channel: so is delta
            base = feed.bias.clone()
            theta = out.neurons[index].threshold.view(channels, -1)[:, 0]
            low, high = -2 * theta, 2 * theta
            target = targets[index].flatten(1)

            def mean_error(delta: torch.Tensor) -> torch.Tensor:
                feed.bias.copy_(base + delta)
                rates, _ = _layer_rates(out, obs, timesteps, crpi, episode_starts, chunks)
                return (target - rates[index]).mean(0).view(channels, -1).mean(1)

            for _ in range(iterations):                     # the error falls with delta: keep the sign change
                middle = 0.5 * (low + high)
                positive = mean_error(middle) > 0
                low, high = torch.where(positive, middle, low), torch.where(positive, high, middle)
            zero = torch.zeros_like(base)
            candidates = torch.stack([zero, low, high])
            errors = torch.stack([mean_error(d).abs() for d in candidates])
            feed.bias.copy_(base + candidates.gather(0, errors.argmin(0, keepdim=True))[0])  # never worse than 0
        _, pre = _layer_rates(out, obs, timesteps, crpi, episode_starts, chunks)
        out.output_layer.layer.bias += (pre_target - pre).mean(0)
    return out.eval()
