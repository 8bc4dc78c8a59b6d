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

import copy
import logging
from dataclasses import dataclass
from typing import Any

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


_SKIPPED = (nn.Dropout, nn.Identity)


def fold_batch_norm(layer: nn.Linear | nn.Conv2d, norm: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Linear | nn.Conv2d:
    """A copy of ``layer`` computing ``norm(layer(x))`` with ``norm``'s running statistics (inference mode):
    ``W' = γ/σ · W``, ``b' = γ/σ · (b − μ) + β`` per output channel, ``σ = sqrt(var + eps)``."""
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps) if norm.affine else \
            1.0 / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias if norm.affine else torch.zeros_like(scale)
        bias = layer.bias if layer.bias is not None else torch.zeros_like(scale)
        folded.weight.mul_(scale.view(-1, *([1] * (layer.weight.dim() - 1))))
        if folded.bias is None:
            folded.bias = nn.Parameter(torch.zeros_like(scale))
        folded.bias.copy_(scale * (bias - norm.running_mean) + shift)
    return folded


def _fold_average_pool(layer: nn.Linear | nn.Conv2d, k: int, shape: tuple[int, ...]) -> nn.Linear | nn.Conv2d:
    """``layer(avg_pool(x, k))`` as one layer on ``x`` of ``shape = (C, H, W)`` (``H``, ``W`` multiples of ``k``):
    each weight spreads over its ``k × k`` block, divided by ``k²``; a convolution's stride and padding scale by
    ``k``. Spikes then feed the synapses directly, so the layer stays spike-driven."""
    c, h, w = shape
    with torch.no_grad():
        if isinstance(layer, nn.Conv2d):
            weight = layer.weight.repeat_interleave(k, 2).repeat_interleave(k, 3) / (k * k)
            folded = nn.Conv2d(layer.in_channels, layer.out_channels, tuple(weight.shape[2:]),
                               stride=tuple(s * k for s in layer.stride),
                               padding=tuple(p * k for p in layer.padding), bias=layer.bias is not None)
        else:
            weight = layer.weight.view(layer.out_features, c, h // k, w // k)
            weight = (weight.repeat_interleave(k, 2).repeat_interleave(k, 3) / (k * k)).reshape(layer.out_features, -1)
            folded = nn.Linear(c * h * w, layer.out_features, bias=layer.bias is not None)
        folded.weight.copy_(weight)
        if layer.bias is not None:
            folded.bias.copy_(layer.bias)
    return folded


@dataclass(frozen=True)
class ConversionPlan:
    """What conversion builds on: the synaptic layer feeding each IF layer (BatchNorm and average pooling folded
    in), the output layer, and each IF layer's activation shape (``(width,)`` or ``(C, H, W)``)."""

    synapses: list[nn.Linear | nn.Conv2d]
    head: nn.Linear
    shapes: list[tuple[int, ...]]


def conversion_plan(actor: TeacherActor) -> ConversionPlan:
    """Check the hidden stack is ``[(Linear | Conv2d) [BatchNorm] ReLU [AvgPool2d] [Flatten]]*`` and fold it into
    spike-driven synaptic layers (:class:`ConversionPlan`); anything else raises :class:`ConversionError`."""
    layers = [(i, m) for i, m in enumerate(actor.hidden) if not isinstance(m, _SKIPPED)]
    x = torch.zeros(1, *actor.obs_shape)
    synapses: list[nn.Linear | nn.Conv2d] = []
    shapes: list[tuple[int, ...]] = []
    pool: tuple[int, tuple[int, ...]] | None = None
    pos = 0

    def at(kind: type | tuple[type, ...]) -> bool:
        return pos < len(layers) and isinstance(layers[pos][1], kind)

    with torch.no_grad():
        while pos < len(layers):
            index, layer = layers[pos]
            if not isinstance(layer, (nn.Linear, nn.Conv2d)):
                raise ConversionError(
                    f"hidden layer {index} is {type(layer).__name__}; conversion supports stacks of Linear or Conv2d "
                    "(optionally BatchNorm) followed by ReLU. Rebuild the actor as Linear/ReLU pairs.")
            if isinstance(layer, nn.Conv2d) and (x.dim() != 4 or layer.groups != 1 or layer.dilation != (1, 1)):
                raise ConversionError(f"hidden layer {index} (Conv2d) needs an image input [C, H, W], groups=1 and "
                                      f"dilation 1; got input {tuple(x.shape[1:])}.")
            if isinstance(layer, nn.Linear) and x.dim() != 2:
                raise ConversionError(f"hidden layer {index} (Linear) gets an image {tuple(x.shape[1:])}: put a "
                                      "Flatten before it.")
            synapse = copy.deepcopy(layer) if pool is None else _fold_average_pool(layer, *pool)
            pool = None
            x = layer(x)
            pos += 1
            if at((nn.BatchNorm1d, nn.BatchNorm2d)):           # shapes only: x stays zeros, BN keeps its shape
                synapse = fold_batch_norm(synapse, layers[pos][1])
                pos += 1
            if not at(nn.ReLU):
                if pos >= len(layers):
                    raise ConversionError("the hidden stack ends with a synaptic layer without activation; expected "
                                          "Linear/ReLU pairs followed by the output layer.")
                bad_index, bad = layers[pos]
                raise ConversionError(
                    f"hidden layer {bad_index} is {type(bad).__name__}: only ReLU activations convert to IF neurons "
                    f"(an IF neuron's rate is a ReLU of its input current). Retrain the teacher with ReLU hidden "
                    "activations, e.g. SB3 policy_kwargs=dict(activation_fn=torch.nn.ReLU).")
            x = torch.relu(x)
            pos += 1
            synapses.append(synapse)
            shapes.append(tuple(x.shape[1:]))
            if at(nn.AvgPool2d):
                pooling = layers[pos][1]
                k = pooling.kernel_size if isinstance(pooling.kernel_size, int) else pooling.kernel_size[0]
                stride = pooling.stride if isinstance(pooling.stride, int) else pooling.stride[0]
                if (pooling.kernel_size not in (k, (k, k)) or stride != k or pooling.padding not in (0, (0, 0))
                        or pooling.ceil_mode or x.shape[2] % k or x.shape[3] % k):
                    raise ConversionError(f"hidden layer {layers[pos][0]} (AvgPool2d) must pool square k x k blocks "
                                          f"with stride k, no padding, over a map whose sides are multiples of k "
                                          f"(got kernel {pooling.kernel_size}, stride {pooling.stride} on "
                                          f"{tuple(x.shape[2:])}).")
                pool = (k, tuple(x.shape[1:]))
                x = pooling(x)
                pos += 1
            if at(nn.Flatten):
                x = x.flatten(1)
                pos += 1
    if not synapses:
        raise ConversionError("the actor has no hidden layer: nothing to convert into spiking neurons.")
    if not isinstance(actor.head, nn.Linear):
        raise ConversionError(f"output layer is {type(actor.head).__name__}; expected nn.Linear.")
    if x.dim() != 2:
        raise ConversionError(f"the output layer gets an image {tuple(x.shape[1:])}: put a Flatten before it.")
    head = copy.deepcopy(actor.head) if pool is None else _fold_average_pool(actor.head, *pool)
    return ConversionPlan(synapses, head, shapes)


def check_convertible(actor: TeacherActor) -> list[nn.Linear | nn.Conv2d]:
    """The synaptic layer feeding each IF layer (:func:`conversion_plan`), after checking the stack converts."""
    return conversion_plan(actor).synapses


def observation_rows(observations: Any) -> np.ndarray:
    """Observations stacked as rows: 8-bit frames stay ``uint8`` (a quarter of the memory), the rest ``float32``."""
    rows = np.stack([np.asarray(o) for o in observations])
    return rows if rows.dtype == np.uint8 else rows.astype(np.float32)


@torch.no_grad()
def collect_states(actor: TeacherActor, env_id: str, *, steps: int = 10_000, seed: int = 0,
                   progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Deterministic teacher rollouts in ``env_id``: observations ``[steps, obs_dim]`` in trajectory order,
    episode starts ``[steps]`` (bool) and the hidden activations ``[steps, width]`` per layer."""
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids snnrl/<Task>Pixels-v5)

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
        x = torch.from_numpy(observation_rows([obs]))
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


def per_channel(acts: torch.Tensor) -> torch.Tensor:
    """Activations ``[N, width]`` as they are; ``[N, C, H, W]`` as ``[N·H·W, C]`` (a convolution's neurons of one
    channel share the threshold, since the next layer's weights are scaled by it per input channel)."""
    if acts.dim() == 4:
        return acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])
    if acts.dim() != 2:
        raise ValueError(f"activations must be [N, width] or [N, C, H, W], got shape {tuple(acts.shape)}.")
    return acts


def thresholds_from_activations(activations: list[torch.Tensor], *, method: str = "max",
                                percentile: float = 99.9, scale: float = 1.0) -> list[torch.Tensor]:
    """Per-neuron thresholds (a tensor of the layer's width; per channel, ``[C]``, for a convolution's
    ``[N, C, H, W]`` activations) for each layer, multiplied by ``scale``.

    Neurons that were never active get the layer's largest threshold (they will rarely fire either way).
    """
    thresholds = []
    for acts in (per_channel(a.detach()) for a in activations):
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

    def __init__(self, input_layer: nn.Linear | nn.Conv2d, hidden_layers: list[nn.Linear | nn.Conv2d],
                 output_layer: nn.Linear, thresholds: list[torch.Tensor], *, obs_low: torch.Tensor | None,
                 obs_high: torch.Tensor | None, action_low: torch.Tensor, action_high: torch.Tensor, squash: str,
                 shapes: list[tuple[int, ...]] | None = None, obs_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if len(thresholds) != len(hidden_layers) + 1:
            raise ValueError(f"need {len(hidden_layers) + 1} threshold tensors, got {len(thresholds)}.")
        self.shapes = [tuple(s) for s in shapes] if shapes is not None else [(int(torch.as_tensor(t).numel()),)
                                                                             for t in thresholds]
        self.obs_shape = tuple(obs_shape) if obs_shape is not None else (input_layer.in_features,)
        feeds = [input_layer, *hidden_layers]
        self._image_feed = [isinstance(f, nn.Conv2d) for f in feeds]    # feed l takes [C, H, W]: reshape to it
        self._feed_shapes = [self.obs_shape, *self.shapes[:-1]]
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
        """Number of observation values (``prod(obs_shape)``); observations come as ``[B, obs_dim]``."""
        return int(np.prod(self.obs_shape))

    @property
    def convolutional(self) -> bool:
        """Whether any layer is a convolution (those run on the torch path, not the MLP kernel)."""
        return any(self._image_feed)

    @property
    def start_potentials(self) -> list[torch.Tensor]:
        """Each IF layer's fresh start potential ``V₀`` per neuron: ``θ/2``, or staggered for a population
        (:mod:`snnrl.agents.population`)."""
        return [n.v_init.expand_as(n.threshold) for n in self.neurons]

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

    def input_current(self, obs: torch.Tensor) -> torch.Tensor:
        """The first IF layer's input current ``[B, width]`` for ``obs [B, obs_dim]``: the (clamped) observation
        through the first synaptic layer, an analog computation done once per decision."""
        # clamp(obs, low, high) == max(min(obs, high), low) since low < high
        obs = obs if obs.is_floating_point() else obs.float()          # 8-bit frames
        x = obs if self.obs_low is None else torch.clamp(obs, self.obs_low, self.obs_high)
        if self._image_feed[0]:
            x = x.reshape(x.shape[0], *self.obs_shape)
        current = self.input_layer(x)
        return current.flatten(1) if current.dim() > 2 else current    # IF layers hold [B, C·H·W]

    def decide(self, obs: torch.Tensor, v_start: list[torch.Tensor], timesteps: int) -> Decision:
        """Run one decision of ``timesteps`` IF steps on ``obs [B, obs_dim]`` from start potentials ``v_start``."""
        t = check_timesteps(timesteps)
        current = self.input_current(obs)
        spikes = current.expand(t, *current.shape)
        v_end, counts = [], []
        for index, neuron in enumerate(self.neurons):
            if index > 0:
                if self._image_feed[index]:
                    spikes = self.hidden_layers[index - 1](spikes.reshape(t, -1, *self._feed_shapes[index]))
                    spikes = spikes.flatten(2)
                else:
                    spikes = self.hidden_layers[index - 1](spikes)
            neuron.set_state({"v": v_start[index]})
            spikes = neuron(spikes)
            v_end.append(neuron.get_state()["v"])
            counts.append(spikes.sum(0))
        pre_action = self.output_layer(spikes).mean(0)
        return Decision(pre_action, v_end, counts)

    def forward(self, obs: torch.Tensor, timesteps: int = 16) -> torch.Tensor:
        """Action for ``obs`` with every neuron at its fresh start (:attr:`start_potentials`, no CRPI state)."""
        start = [v0.expand(obs.shape[0], -1) for v0 in self.start_potentials]
        return self.squash_action(self.decide(obs, start, timesteps).pre_action)


def _scaled_by_input_threshold(layer: nn.Linear | nn.Conv2d, theta: torch.Tensor, shape: tuple[int, ...]
                               ) -> nn.Linear | nn.Conv2d:
    """A copy of ``layer`` whose weights are multiplied by the threshold of the IF layer feeding it (threshold
    balancing: a spike then stands for ``θ``). ``theta`` is per neuron ``[width]`` or, after a convolution, per
    channel ``[C]`` with the feeding layer of ``shape = (C, H, W)``."""
    new = copy.deepcopy(layer)
    with torch.no_grad():
        if isinstance(layer, nn.Conv2d):
            new.weight.mul_(theta.view(1, -1, 1, 1))
        elif len(shape) == 3:                                   # Linear after a flattened convolution
            new.weight.mul_(theta.repeat_interleave(shape[1] * shape[2]).unsqueeze(0))
        else:
            new.weight.mul_(theta.unsqueeze(0))
    return new


def convert_actor(actor: TeacherActor, thresholds: list[torch.Tensor]) -> SpikingActor:
    """Build the :class:`SpikingActor` of ``actor`` with calibrated ``thresholds``: one tensor per hidden layer,
    per neuron ``[width]`` (or a scalar); per channel ``[C]`` (or a scalar) for a convolution's layer."""
    plan = conversion_plan(actor)
    synapses, shapes = plan.synapses, plan.shapes
    if len(thresholds) != len(synapses):
        raise ConversionError(f"got {len(thresholds)} threshold tensors for {len(synapses)} hidden layers.")
    channels = []                                                # θ per channel (conv) or per neuron, checked
    for index, (shape, theta) in enumerate(zip(shapes, thresholds)):
        theta = torch.as_tensor(theta, dtype=torch.float32)
        width = shape[0]
        if theta.shape not in ((width,), ()):
            unit = "channel count" if len(shape) == 3 else "layer width"
            raise ConversionError(f"threshold {index} has shape {tuple(theta.shape)}, the {unit} is {width}.")
        if (theta <= 0).any():
            raise ConversionError(f"threshold {index} has non-positive entries; thresholds must be > 0.")
        channels.append(theta.expand(width).clone())
    if actor.obs_mean is not None and isinstance(synapses[0], nn.Conv2d):
        raise ConversionError("observation normalisation (VecNormalize) with a convolutional first layer is not "
                              "supported; train the pixel teacher without VecNormalize.")
    with torch.no_grad():
        first = copy.deepcopy(synapses[0])
        obs_low = obs_high = None
        if actor.obs_mean is not None:
            std = torch.sqrt(actor.obs_var + actor.obs_eps)
            first.bias.copy_(first.bias - first.weight @ (actor.obs_mean / std))
            first.weight.div_(std)
            obs_low, obs_high = actor.obs_mean - actor.obs_clip * std, actor.obs_mean + actor.obs_clip * std
        hidden = [_scaled_by_input_threshold(layer, theta, shape)
                  for layer, theta, shape in zip(synapses[1:], channels[:-1], shapes[:-1])]
        out = _scaled_by_input_threshold(plan.head, channels[-1], shapes[-1])
    flat = [theta.repeat_interleave(shape[1] * shape[2]) if len(shape) == 3 else theta
            for theta, shape in zip(channels, shapes)]             # IF layers hold [C·H·W], channel-major
    return SpikingActor(first, hidden, out, flat, obs_low=obs_low, obs_high=obs_high,
                        action_low=actor.action_low, action_high=actor.action_high, squash=actor.info.squash,
                        shapes=[(int(np.prod(s)),) if len(s) == 1 else s for s in shapes],
                        obs_shape=actor.obs_shape).eval()
