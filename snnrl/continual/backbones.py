"""Spiking classification backbones for class-incremental learning, returning per-timestep logits ``[T, B, C]``.

Every backbone is called as ``net(x, timesteps=None)`` with static images ``x`` of shape ``[B, *in_shape]``
(values in [0, 1]) or an already temporal input ``[T, B, *in_shape]``, and returns the logits of every
timestep, ``[T, B, num_classes]``. Inside, the input is encoded over time (``encoding="repeat"``: the image at
every step, direct coding as in the STAER reference; ``encoding="rate"``: Bernoulli spikes drawn from a
generator owned by the module), the spiking ``features`` run in multi-step mode (stateless layers once on
``T*B`` rows, neurons scanning over ``T``) and a non-spiking linear ``classifier`` maps each timestep's
features to logits.

Each call starts from a fresh neuron state and releases it on return, so samples are independent, the batch
size may change between calls and the network is causal: with direct coding and no BatchNorm, the first
``k`` steps of a ``T``-step run equal a ``k``-step run. (BatchNorm in training mode normalises over all
``T*B`` rows, which breaks that equality; in eval mode it holds again.)

Neurons default to ``LIFNeuron(beta=0.5, threshold=1.0, reset="subtract")`` with the ATan surrogate, the
snnTorch ``Leaky`` neuron of the STAER reference.

========================  ===================================================================================
backbone                  architecture
========================  ===================================================================================
:class:`SpikingMLP`       Flatten → [Linear → LIF] × len(hidden) → Linear
:class:`SpikingConvNet`   [Conv3×3 → LIF → AvgPool2] × len(channels) → Flatten → Linear → LIF → Linear
:class:`SpikingResNet19`  Conv3×3-BN-LIF (128) → basic blocks [3, 3, 2] × [128, 256, 512] → avg pool → Linear
========================  ===================================================================================

:class:`TimeAveraged` adapts any of them to stock Avalanche strategies (time-averaged logits out, the sequence
kept for the spiking plugins).

Example
-------
>>> import torch
>>> net = make_backbone("conv", (1, 8, 8), 10, timesteps=4)
>>> net(torch.rand(5, 1, 8, 8)).shape
torch.Size([4, 5, 10])
>>> net(torch.rand(3, 1, 8, 8), timesteps=2).shape
torch.Size([2, 3, 10])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

from snnrl.continual.configs import LIF_BETA, NEURONS
from snnrl.encoding import check_timesteps, rate_encode, repeat_over_time
from snnrl.layers import InputError, MultiStep, SpikingSequential, check_input
from snnrl.neurons import (ATMNNeuron, LIFNeuron, ParametricLIFNeuron, ReLUUnit, SelfPredictionNeuron,
                           SpikingNeuron)
from snnrl.state import reset_state

__all__ = [
    "NeuronFactory",
    "SpikingBackbone",
    "SpikingMLP",
    "SpikingConvNet",
    "SpikingBasicBlock",
    "SpikingResNet19",
    "make_backbone",
    "TimeAveraged",
    "NEURONS",
    "named_neuron",
]

NeuronFactory = Callable[[], SpikingNeuron]
"""A callable returning a new spiking neuron for each neuron layer, e.g. ``lambda: LIFNeuron(beta=0.9)``."""

_ENCODINGS = ("repeat", "rate")



def named_neuron(name: str, *, beta: float = LIF_BETA, threshold: float = 1.0) -> NeuronFactory:
    """The factory of neuron ``name`` (:data:`NEURONS`); ``beta``/``threshold`` set the LIF-based ones."""
    def lif() -> SpikingNeuron:
        return LIFNeuron(beta=beta, threshold=threshold, reset="subtract")

    factories: dict[str, NeuronFactory] = {
        "lif": lif,
        "plif": lambda: ParametricLIFNeuron(threshold=threshold),
        "selfpred-lif": lambda: SelfPredictionNeuron(lif()),
        "atmn": lambda: ATMNNeuron(input_every_step=True),
        "relu": ReLUUnit,
    }
    if name not in factories:
        raise ValueError(f"Unknown neuron {name!r}; choose one of {NEURONS}.")
    return factories[name]


def _neuron_factory(neuron: NeuronFactory | None, beta: float, threshold: float) -> NeuronFactory:
    """A factory checking that ``neuron`` (default: the STAER LIF) builds spiking neurons."""
    build = neuron if neuron is not None else partial(LIFNeuron, beta=beta, threshold=threshold, reset="subtract")

    def make() -> SpikingNeuron:
        made = build()
        if not isinstance(made, SpikingNeuron):
            raise TypeError(f"neuron must be a callable returning a snnrl.neurons.SpikingNeuron, it returned "
                            f"{type(made).__name__}. Pass e.g. neuron=lambda: LIFNeuron(beta=0.9).")
        return made

    return make


def _positive_ints(name: str, values: Sequence[int], *, allow_empty: bool = False) -> tuple[int, ...]:
    out = tuple(values)
    if (not out and not allow_empty) or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in out):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}sequence of integers >= 1, "
                         f"got {values!r}.")
    return out


class SpikingBackbone(nn.Module):
    """Base class: time encoding, input checks and the ``features → classifier`` pipeline.

    Subclasses set ``self.features`` (``[T, B, *in_shape] → [T, B, F]``, spiking) and ``self.classifier``
    (``MultiStep(nn.Linear(F, num_classes))``, non-spiking, applied per timestep).

    Parameters
    ----------
    in_shape
        Shape of one sample, e.g. ``(1, 28, 28)``.
    num_classes
        Number of output logits ``C``.
    timesteps
        Default number of simulation steps ``T`` (``forward(..., timesteps=None)``).
    encoding
        ``"repeat"`` (direct coding, default) or ``"rate"`` (Bernoulli spikes with probability ``clamp(x, 0, 1)``).
    seed
        Seed of the module's own generator for rate coding (the global RNG is never used).
    """

    features: nn.Module
    classifier: nn.Module

    def __init__(self, in_shape: Sequence[int], num_classes: int, *, timesteps: int, encoding: str = "repeat",
                 seed: int = 0) -> None:
        super().__init__()
        self.in_shape = _positive_ints("in_shape", in_shape)
        self.num_classes = _positive_ints("num_classes", (num_classes,))[0]
        self.timesteps = check_timesteps(timesteps)
        if encoding not in _ENCODINGS:
            raise ValueError(f"encoding must be one of {_ENCODINGS}, got {encoding!r}.")
        self.encoding = encoding
        self.seed = int(seed)
        self._generator: torch.Generator | None = None

    def reseed(self, seed: int | None = None) -> None:
        """Restart the rate-coding stream from ``seed`` (default: the constructor's seed)."""
        if seed is not None:
            self.seed = int(seed)
        self._generator = None

    def rng_state(self) -> torch.Tensor | None:
        """State of the rate-coding generator (``None`` before first use); checkpoints save it."""
        return None if self._generator is None else self._generator.get_state()

    def set_rng_state(self, state: torch.Tensor | None) -> None:
        """Restore a state from :meth:`rng_state` (``None`` restarts from ``seed``)."""
        self._generator = None
        if state is not None:
            self._rate_generator(torch.device("cpu")).set_state(state)

    def _rate_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator

    def encode(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        """Check ``x`` and return it as a ``[T, B, *in_shape]`` sequence (temporal input is passed through)."""
        name, shape = type(self).__name__, self.in_shape
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, received {type(x).__name__}.")
        n = len(shape)
        if x.dim() not in (n + 1, n + 2) or tuple(x.shape[-n:]) != shape:
            dims = ", ".join(map(str, shape))
            fix = ("Add the batch dimension (x.unsqueeze(0))." if tuple(x.shape) == shape else
                   f"Reshape or resize the input to per-sample shape {shape}, or build the backbone with the "
                   f"in_shape of the data{f' ({tuple(x.shape[1:])})' if x.dim() == n + 1 else ''}.")
            raise InputError(f"{name}: expected input [B, {dims}] (per-sample shape {shape}) or [T, B, {dims}], "
                             f"received shape {tuple(x.shape)}. {fix}")
        if not x.is_floating_point():
            raise InputError(f"{name}: expected floating-point input in [0, 1], received dtype {x.dtype}. "
                             "Convert it, e.g. x.float() / 255 for 8-bit images.")
        temporal = x.dim() == n + 2
        check_input(x, sample_ndim=n, step_mode="m" if temporal else "s", where=name)
        if temporal:
            if timesteps is not None and check_timesteps(timesteps) != x.shape[0]:
                raise ValueError(f"{name}: temporal input has T={x.shape[0]} steps but timesteps={timesteps} "
                                 "was requested. Pass timesteps=None (or the input's T) for [T, B, ...] input.")
            return x
        steps = self.timesteps if timesteps is None else check_timesteps(timesteps)
        if self.encoding == "rate":
            return rate_encode(x, steps, generator=self._rate_generator(x.device))
        return repeat_over_time(x, steps)

    def forward(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        """Per-timestep logits ``[T, B, num_classes]`` of ``x`` (``[B, *in_shape]`` or ``[T, B, *in_shape]``).

        ``timesteps=None`` uses ``self.timesteps``. Every call starts from a fresh neuron state.
        """
        x_seq = self.encode(x, timesteps)
        reset_state(self)
        return self.classifier(self.features(x_seq))

    def extra_repr(self) -> str:
        return (f"in_shape={self.in_shape}, num_classes={self.num_classes}, timesteps={self.timesteps}, "
                f"encoding={self.encoding!r}")


class SpikingMLP(SpikingBackbone):
    """Spiking multilayer perceptron: Flatten → [Linear → LIF] × len(hidden) → Linear (per timestep).

    Parameters
    ----------
    in_shape, num_classes, timesteps, encoding, seed
        See :class:`SpikingBackbone`.
    hidden
        Widths of the spiking hidden layers.
    beta, threshold
        Decay and threshold of the default LIF neurons (ignored when ``neuron`` is given).
    neuron
        Factory of the hidden neurons (default: ``LIFNeuron(beta, threshold, reset="subtract")``, ATan).
    """

    def __init__(self, in_shape: Sequence[int], num_classes: int, *, hidden: Sequence[int] = (256, 256),
                 timesteps: int = 4, encoding: str = "repeat", seed: int = 0, beta: float = LIF_BETA,
                 threshold: float = 1.0, neuron: NeuronFactory | None = None) -> None:
        super().__init__(in_shape, num_classes, timesteps=timesteps, encoding=encoding, seed=seed)
        make = _neuron_factory(neuron, beta, threshold)
        width = math.prod(self.in_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for h in _positive_ints("hidden", hidden, allow_empty=True):
            layers += [nn.Linear(width, h), make()]
            width = h
        self.features = SpikingSequential(*layers, sample_ndim=len(self.in_shape), check_finite=False)
        self.classifier = MultiStep(nn.Linear(width, self.num_classes))


class SpikingConvNet(SpikingBackbone):
    """Small spiking conv net for CPU: [Conv3×3 (pad 1) → LIF → AvgPool2] × len(channels) → Flatten →
    Linear(hidden) → LIF → Linear(num_classes) (per timestep).

    Each pool halves height and width (rounding down): 28×28 → 7×7 and 8×8 → 2×2 with two stages.

    Parameters
    ----------
    in_shape
        ``(C, H, W)``; ``H`` and ``W`` must be at least ``2 ** len(channels)``.
    num_classes, timesteps, encoding, seed
        See :class:`SpikingBackbone`.
    channels
        Output channels of the conv stages.
    hidden
        Width of the spiking fully connected layer.
    beta, threshold, neuron
        As in :class:`SpikingMLP`.
    """

    def __init__(self, in_shape: Sequence[int], num_classes: int, *, channels: Sequence[int] = (16, 32),
                 hidden: int = 128, timesteps: int = 4, encoding: str = "repeat", seed: int = 0,
                 beta: float = LIF_BETA, threshold: float = 1.0, neuron: NeuronFactory | None = None) -> None:
        super().__init__(in_shape, num_classes, timesteps=timesteps, encoding=encoding, seed=seed)
        channels = _positive_ints("channels", channels)
        if len(self.in_shape) != 3 or min(self.in_shape[1:]) < 2 ** len(channels):
            raise ValueError(f"SpikingConvNet needs in_shape (C, H, W) with H, W >= {2 ** len(channels)} for "
                             f"{len(channels)} pooling stages, got {self.in_shape}. Use fewer channels stages or "
                             "SpikingMLP for small inputs.")
        make = _neuron_factory(neuron, beta, threshold)
        c, h, w = self.in_shape
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), make(), nn.AvgPool2d(2)]
            c, h, w = out, h // 2, w // 2
        hidden = _positive_ints("hidden", (hidden,))[0]
        layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), make()]
        self.features = SpikingSequential(*layers, sample_ndim=3, check_finite=False)
        self.classifier = MultiStep(nn.Linear(hidden, self.num_classes))


class SpikingBasicBlock(nn.Module):
    """Spiking residual block: conv3×3-BN-LIF-conv3×3-BN, plus the shortcut (conv1×1-BN when the shape
    changes, identity otherwise), then LIF after the add. Multi-step (``[T, B, C, H, W]``) or single-step.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, neuron: NeuronFactory) -> None:
        super().__init__()
        self.conv1 = MultiStep(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False))
        self.bn1 = MultiStep(nn.BatchNorm2d(out_channels))
        self.sn1 = neuron()
        self.conv2 = MultiStep(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False))
        self.bn2 = MultiStep(nn.BatchNorm2d(out_channels))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                MultiStep(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)),
                MultiStep(nn.BatchNorm2d(out_channels)))
        self.sn2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))
        return self.sn2(out + self.shortcut(x))


class SpikingResNet19(SpikingBackbone):
    """Spiking ResNet19 of the STAER reference (GPU-sized: about 12.6 M parameters).

    Stem Conv3×3(128)-BN-LIF; three stages of :class:`SpikingBasicBlock` with ``blocks=(3, 3, 2)`` blocks of
    ``channels=(128, 256, 512)`` channels and strides 1, 2, 2; global average pool; Linear classifier applied
    per timestep. BatchNorm runs on the ``T*B`` rows of each layer.

    Parameters
    ----------
    in_shape
        ``(C, H, W)``, default ``(3, 32, 32)`` (CIFAR).
    num_classes, timesteps, encoding, seed
        See :class:`SpikingBackbone`.
    channels, blocks
        Channels and number of blocks per stage (smaller values give a narrower / shallower variant).
    beta, threshold, neuron
        As in :class:`SpikingMLP`.
    """

    def __init__(self, in_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, *, timesteps: int = 2,
                 channels: Sequence[int] = (128, 256, 512), blocks: Sequence[int] = (3, 3, 2),
                 encoding: str = "repeat", seed: int = 0, beta: float = LIF_BETA, threshold: float = 1.0,
                 neuron: NeuronFactory | None = None) -> None:
        super().__init__(in_shape, num_classes, timesteps=timesteps, encoding=encoding, seed=seed)
        channels, blocks = _positive_ints("channels", channels), _positive_ints("blocks", blocks)
        if len(channels) != len(blocks):
            raise ValueError(f"channels and blocks need one entry per stage, got {len(channels)} channels "
                             f"{channels} and {len(blocks)} blocks {blocks}.")
        if len(self.in_shape) != 3:
            raise ValueError(f"SpikingResNet19 needs in_shape (C, H, W), got {self.in_shape}.")
        make = _neuron_factory(neuron, beta, threshold)
        c = channels[0]
        layers: list[nn.Module] = [nn.Conv2d(self.in_shape[0], c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                                   make()]
        for stage, (out, count) in enumerate(zip(channels, blocks)):
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(SpikingBasicBlock(c, out, stride=stride, neuron=make))
                c = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = SpikingSequential(*layers, sample_ndim=3, check_finite=False)
        self.classifier = MultiStep(nn.Linear(c, self.num_classes))


_BACKBONES: dict[str, type[SpikingBackbone]] = {"mlp": SpikingMLP, "conv": SpikingConvNet,
                                                  "resnet19": SpikingResNet19}


def make_backbone(name: str, in_shape: tuple[int, ...], num_classes: int, *, timesteps: int = 4,
                  **kwargs: object) -> SpikingBackbone:
    """Build the backbone called ``name`` (``"mlp"``, ``"conv"`` or ``"resnet19"``); ``kwargs`` go to its class
    (``neuron`` may be a factory or a name of :data:`NEURONS`)."""
    if isinstance(kwargs.get("neuron"), str):
        shape = {k: kwargs[k] for k in ("beta", "threshold") if k in kwargs}
        kwargs["neuron"] = named_neuron(kwargs["neuron"], **shape)  # type: ignore[arg-type]
    try:
        cls = _BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown backbone {name!r}; choose one of {sorted(_BACKBONES)}.") from None
    return cls(in_shape, num_classes, timesteps=timesteps, **kwargs)  # type: ignore[arg-type]


class TimeAveraged(nn.Module):
    """A spiking backbone for *stock* Avalanche strategies (``Naive``, ``Replay``, ...): ``forward`` returns the
    time-averaged logits ``[B, C]`` that Avalanche's criterion and metrics expect, and keeps the per-timestep
    logits ``[T, B, C]`` of that call as :attr:`last_sequence`, where the spiking plugins
    (:class:`~snnrl.continual.strategies.STAERPlugin`, :class:`~snnrl.continual.strategies.DERPPPlugin`) read them;
    :meth:`sequence` runs the backbone for them on other inputs.

    Example
    -------
    >>> import torch
    >>> net = TimeAveraged(make_backbone("mlp", (1, 8, 8), 10, timesteps=4))
    >>> net(torch.rand(3, 1, 8, 8)).shape, net.last_sequence.shape, net.timesteps
    (torch.Size([3, 10]), torch.Size([4, 3, 10]), 4)
    """

    def __init__(self, backbone: SpikingBackbone) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module) or not isinstance(getattr(backbone, "timesteps", None), int):
            raise TypeError("TimeAveraged wraps a spiking backbone returning [T, B, C] (see make_backbone), got "
                            f"{type(backbone).__name__}.")
        self.backbone = backbone
        self.last_sequence: torch.Tensor | None = None

    @property
    def timesteps(self) -> int:
        return self.backbone.timesteps

    def sequence(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        """Per-timestep logits ``[T, B, C]`` of ``x`` (does not touch :attr:`last_sequence`)."""
        return self.backbone(x, timesteps)

    def forward(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        self.last_sequence = self.backbone(x, timesteps)
        return self.last_sequence.mean(0)
