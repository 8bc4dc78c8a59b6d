"""ANN-to-SNN conversion of a ReLU teacher actor: threshold calibration and the spiking actor.

Conversion (Rueckauer et al. 2017; the CRPI paper's MuJoCo setup):

1. **Calibration** — roll the teacher out in its environment (deterministic actions) and record every hidden
   ReLU's output. Threshold ``θ`` per neuron = its maximum (``method="max"``, the reference), or one ``θ`` per
   layer = a percentile (default 99.9) of the layer's non-zero activations (``method="percentile"``). An optional
   ``threshold_scale`` multiplies the result: below 1 it clips rare large activations in exchange for a finer rate
   resolution ``θ/T`` (task-dependent, like CRPI's ``α``; tune it on episodes you do not report).
2. **IF neurons** — each hidden ReLU becomes an IF neuron (soft reset) with threshold ``θ`` and initial potential
   ``θ/2``. A spike of layer ``l`` stands for the activation ``θ_l``: the next layer's weights are scaled by
   ``θ_l`` (threshold balancing), so spikes stay binary and cost accumulates.
3. **Input** — the (normalised) observation is an analog current: the first layer is computed once per decision
   and injected at every timestep. Observation normalisation is folded into the first layer (its clipping
   becomes a per-dimension clamp of the raw observation).
4. **Output** — non-spiking: the output layer accumulates over ``T`` timesteps; the action is the teacher's
   squashing of the mean, e.g. ``max_action · tanh(W·mean_t(θ s_t) + b)``.

Only ``Linear`` + ``ReLU`` hidden stacks convert; any other layer raises :class:`ConversionError` naming it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from snnrl.agents.actor import TeacherActor
from snnrl.encoding import check_timesteps
from snnrl.layers import MultiStep
from snnrl.neurons import IFNeuron

__all__ = ["ConversionError", "ConversionConfig", "check_convertible", "SpikingActor", "Decision", "calibrate_thresholds",
           "collect_states", "collect_activations", "thresholds_from_activations", "convert_actor"]

logger = logging.getLogger("snnrl")


class ConversionError(ValueError):
    """The network cannot be converted (unsupported layer or activation)."""


@dataclass(frozen=True)
class ConversionConfig:
    """How thresholds are calibrated.

    Attributes
    ----------
    threshold_method
        ``"max"`` (per-neuron maximum, reference) or ``"percentile"`` (one threshold per layer).
    percentile
        Percentile of non-zero activations for ``"percentile"``.
    calibration_steps
        Environment steps of teacher rollouts used for calibration (reference: 10,000).
    seed
        Seed of the calibration rollouts.
    threshold_scale
        Multiplier on the calibrated thresholds (1.0 = the reference; e.g. 0.6 clips the top activations but
        quantizes the rest more finely).
    """

    threshold_method: str = "max"
    percentile: float = 99.9
    calibration_steps: int = 10_000
    seed: int = 0
    threshold_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.threshold_method not in ("max", "percentile"):
            raise ValueError(f"threshold_method must be 'max' or 'percentile', got {self.threshold_method!r}.")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must lie in (0, 100], got {self.percentile}.")
        if self.calibration_steps < 1:
            raise ValueError(f"calibration_steps must be >= 1, got {self.calibration_steps}.")
        if not (np.isfinite(self.threshold_scale) and self.threshold_scale > 0):
            raise ValueError(f"threshold_scale must be a finite number > 0, got {self.threshold_scale}.")


def check_convertible(actor: TeacherActor) -> list[nn.Linear]:
    """The hidden Linear layers, after checking the stack is ``(Linear, ReLU)*``."""
    layers = list(actor.hidden)
    linears: list[nn.Linear] = []
    expect_linear = True
    for index, layer in enumerate(layers):
        if isinstance(layer, (nn.Dropout, nn.Identity)):
            continue
        if expect_linear:
            if not isinstance(layer, nn.Linear):
                raise ConversionError(
                    f"hidden layer {index} is {type(layer).__name__}; conversion supports stacks of Linear "
                    "followed by ReLU. Rebuild the actor as Linear/ReLU pairs.")
            linears.append(layer)
        elif not isinstance(layer, nn.ReLU):
            raise ConversionError(
                f"hidden layer {index} is {type(layer).__name__}: only ReLU activations convert to IF neurons "
                f"(an IF neuron's rate is a ReLU of its input current). Retrain the teacher with ReLU hidden "
                "activations, e.g. SB3 policy_kwargs=dict(activation_fn=torch.nn.ReLU).")
        expect_linear = not expect_linear
    if not expect_linear:
        raise ConversionError("the hidden stack ends with a Linear layer without activation; expected Linear/ReLU "
                              "pairs followed by the output layer.")
    if not linears:
        raise ConversionError("the actor has no hidden layer: nothing to convert into spiking neurons.")
    if not isinstance(actor.head, nn.Linear):
        raise ConversionError(f"output layer is {type(actor.head).__name__}; expected nn.Linear.")
    return linears


@torch.no_grad()
def collect_states(actor: TeacherActor, env_id: str, *, steps: int = 10_000, seed: int = 0,
                   progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Deterministic teacher rollouts in ``env_id``: observations ``[steps, obs_dim]`` in trajectory order,
    episode starts ``[steps]`` (bool) and the hidden activations ``[steps, width]`` per layer."""
    import gymnasium as gym

    check_convertible(actor)
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    buffers: list[list[torch.Tensor]] = []
    observations, starts, start = [], [], True
    iterator = range(steps)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"calibrating on {env_id}", unit="step", leave=False, disable=None)
    for _ in iterator:
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32).unsqueeze(0)
        observations.append(x)
        starts.append(start)
        acts = actor.hidden_activations(x)
        if not buffers:
            buffers = [[] for _ in acts]
        for buf, a in zip(buffers, acts):
            buf.append(a)
        action = actor(x)[0].numpy()
        obs, _, terminated, truncated, _ = env.step(action)
        start = terminated or truncated
        if start:
            obs, _ = env.reset()
    env.close()
    return torch.cat(observations), torch.tensor(starts), [torch.cat(buf) for buf in buffers]


def collect_activations(actor: TeacherActor, env_id: str, *, steps: int = 10_000, seed: int = 0,
                        progress: bool = False) -> list[torch.Tensor]:
    """Hidden activations ``[steps, width]`` per layer, from deterministic teacher rollouts in ``env_id``."""
    return collect_states(actor, env_id, steps=steps, seed=seed, progress=progress)[2]


def thresholds_from_activations(activations: list[torch.Tensor], *, method: str = "max",
                                percentile: float = 99.9, scale: float = 1.0) -> list[torch.Tensor]:
    """Per-neuron thresholds (a tensor of the layer's width) for each layer, multiplied by ``scale``.

    Neurons that were never active get the layer's largest threshold (they will rarely fire either way).
    """
    thresholds = []
    for acts in (a.detach() for a in activations):
        if method == "max":
            theta = acts.max(0).values
        elif method == "percentile":
            positive = acts[acts > 0]
            level = torch.quantile(positive.float(), percentile / 100) if positive.numel() else torch.tensor(1.0)
            theta = torch.full((acts.shape[1],), float(level))
        else:
            raise ValueError(f"method must be 'max' or 'percentile', got {method!r}.")
        fallback = theta.max() if theta.max() > 0 else torch.tensor(1.0)
        thresholds.append(scale * torch.where(theta > 0, theta, fallback).float())
    return thresholds


def calibrate_thresholds(actor: TeacherActor, env_id: str | None = None, config: ConversionConfig = ConversionConfig(),
                         *, progress: bool = False) -> list[torch.Tensor]:
    """Thresholds from ``config.calibration_steps`` steps of teacher rollouts (see module docstring)."""
    acts = collect_activations(actor, env_id or actor.info.env_id, steps=config.calibration_steps, seed=config.seed,
                               progress=progress)
    return thresholds_from_activations(acts, method=config.threshold_method, percentile=config.percentile,
                                       scale=config.threshold_scale)


@dataclass(frozen=True)
class Decision:
    """One decision of a :class:`SpikingActor`: output pre-activation and per-layer neuron data ``[B, width]``."""

    pre_action: torch.Tensor
    v_end: list[torch.Tensor]
    spike_counts: list[torch.Tensor]


class SpikingActor(nn.Module):
    """The converted actor: folded first layer, IF hidden layers, accumulating output layer.

    Use :func:`convert_actor` to build one. :meth:`decide` runs ``T`` timesteps from given start potentials.
    """

    def __init__(self, input_layer: nn.Linear, hidden_layers: list[nn.Linear], output_layer: nn.Linear,
                 thresholds: list[torch.Tensor], *, obs_low: torch.Tensor | None, obs_high: torch.Tensor | None,
                 action_low: torch.Tensor, action_high: torch.Tensor, squash: str) -> None:
        super().__init__()
        if len(thresholds) != len(hidden_layers) + 1:
            raise ValueError(f"need {len(hidden_layers) + 1} threshold tensors, got {len(thresholds)}.")
        self.input_layer = input_layer
        self.hidden_layers = nn.ModuleList(MultiStep(layer) for layer in hidden_layers)
        self.output_layer = MultiStep(output_layer)
        self.neurons = nn.ModuleList(IFNeuron(theta, v_init=0.5 * theta) for theta in thresholds)
        self.squash = squash
        self.register_buffer("obs_low", obs_low)
        self.register_buffer("obs_high", obs_high)
        self.register_buffer("action_low", action_low.clone())
        self.register_buffer("action_high", action_high.clone())

    @property
    def obs_dim(self) -> int:
        return self.input_layer.in_features

    @property
    def action_dim(self) -> int:
        return self.output_layer.layer.out_features

    @property
    def thresholds(self) -> list[torch.Tensor]:
        return [n.threshold for n in self.neurons]

    def squash_action(self, pre_action: torch.Tensor) -> torch.Tensor:
        """The teacher's squashing and unscaling."""
        if self.squash == "tanh":
            return self.action_low + 0.5 * (torch.tanh(pre_action) + 1.0) * (self.action_high - self.action_low)
        return torch.maximum(torch.minimum(pre_action, self.action_high), self.action_low)

    def decide(self, obs: torch.Tensor, v_start: list[torch.Tensor], timesteps: int) -> Decision:
        """Run one decision of ``timesteps`` IF steps on ``obs [B, obs_dim]`` from start potentials ``v_start``."""
        t = check_timesteps(timesteps)
        # clamp(obs, low, high) == max(min(obs, high), low) since low < high
        x = obs if self.obs_low is None else torch.clamp(obs, self.obs_low, self.obs_high)
        current = self.input_layer(x)                                   # analog input: once per decision
        spikes = current.expand(t, *current.shape)
        v_end, counts = [], []
        for index, neuron in enumerate(self.neurons):
            if index > 0:
                spikes = self.hidden_layers[index - 1](spikes)
            neuron.set_state({"v": v_start[index]})
            spikes = neuron(spikes)
            v_end.append(neuron.get_state()["v"])
            counts.append(spikes.sum(0))
        pre_action = self.output_layer(spikes).mean(0)
        return Decision(pre_action, v_end, counts)

    def forward(self, obs: torch.Tensor, timesteps: int = 16) -> torch.Tensor:
        """Action for ``obs`` with every neuron starting at ``θ/2`` (plain conversion, no state)."""
        start = [n.v_init.expand(obs.shape[0], -1) for n in self.neurons]
        return self.squash_action(self.decide(obs, start, timesteps).pre_action)


def convert_actor(actor: TeacherActor, thresholds: list[torch.Tensor]) -> SpikingActor:
    """Build the :class:`SpikingActor` of ``actor`` with calibrated ``thresholds`` (one tensor per hidden layer)."""
    linears = check_convertible(actor)
    if len(thresholds) != len(linears):
        raise ConversionError(f"got {len(thresholds)} threshold tensors for {len(linears)} hidden layers.")
    for index, (layer, theta) in enumerate(zip(linears, thresholds)):
        theta = torch.as_tensor(theta)
        if theta.shape not in ((layer.out_features,), ()):
            raise ConversionError(f"threshold {index} has shape {tuple(theta.shape)}, layer width is {layer.out_features}.")
        if (theta <= 0).any():
            raise ConversionError(f"threshold {index} has non-positive entries; thresholds must be > 0.")
    thetas = [torch.as_tensor(t, dtype=torch.float32).expand(l.out_features).clone() for l, t in zip(linears, thresholds)]
    with torch.no_grad():
        first = nn.Linear(linears[0].in_features, linears[0].out_features)
        weight, bias = linears[0].weight.clone(), linears[0].bias.clone()
        obs_low = obs_high = None
        if actor.obs_mean is not None:
            std = torch.sqrt(actor.obs_var + actor.obs_eps)
            bias = bias - weight @ (actor.obs_mean / std)
            weight = weight / std
            obs_low, obs_high = actor.obs_mean - actor.obs_clip * std, actor.obs_mean + actor.obs_clip * std
        first.weight.copy_(weight)
        first.bias.copy_(bias)
        hidden = []
        for prev_theta, layer in zip(thetas[:-1], linears[1:]):
            new = nn.Linear(layer.in_features, layer.out_features)
            new.weight.copy_(layer.weight * prev_theta.unsqueeze(0))
            new.bias.copy_(layer.bias)
            hidden.append(new)
        out = nn.Linear(actor.head.in_features, actor.head.out_features)
        out.weight.copy_(actor.head.weight * thetas[-1].unsqueeze(0))
        out.bias.copy_(actor.head.bias)
    return SpikingActor(first, hidden, out, thetas, obs_low=obs_low, obs_high=obs_high,
                        action_low=actor.action_low, action_high=actor.action_high, squash=actor.info.squash).eval()
