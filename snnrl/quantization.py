"""MD-SNN quantization: learnable-scale quantizers, BN folding, membrane quantization, potential distillation.

Our interpretation of MD-SNN (arXiv 2512.04443, abstract only; after MINT by the same group):

* **Uniform symmetric quantizer, learnable per-layer scale (LSQ)** with ``Q = 2^(b−1) − 1`` levels per sign:
  ``w_q = clamp(round(w / s), −Q, Q)``, ``ŵ = s · w_q``, straight-through rounding, ``s`` learnable and
  initialised as ``s = 2·mean|w| / √Q``. In the methods notes' form ``round(clamp(w/α, −1, 1)·Q)`` the clipping
  value is ``α = s·Q``.
* **Membrane quantization sharing the layer's scale**: a neuron fed by a quantized layer keeps its potential on
  the grid of that layer's step ``s`` (``V ← s·clamp(round(V/s), −Q_m, Q_m)`` after every update, ``b_m`` bits), so
  the integer datapath (``w_q`` accumulated into ``V/s``) stays integer.
* **BatchNorm folding** before quantizing: ``W' = W·γ/σ``, ``b' = (b − μ)·γ/σ + β`` (:func:`fold_batchnorm`).
* **Distillation** from the full-precision SNN (:func:`distillation_loss`):
  ``L = CE + λ_kd·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + λ_mem·Σ_layers Σ_t MSE(V_s[l,t], V_t[l,t])`` on pre-spike
  membrane potentials (recorded with :func:`snnrl.neurons.record_potentials`), ``T = 4``.

:func:`quantize_network` swaps every Linear / Conv layer (optionally sparing the first and last) for its quantized
twin and puts membrane quantization on the neurons that follow them; it returns a new network.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnrl.layers import MultiStep
from snnrl.neurons import SpikingNeuron

__all__ = ["round_ste", "LSQQuantizer", "QuantLinear", "QuantConv2d", "MembraneQuantizer", "fold_batchnorm",
           "quantize_network", "distillation_loss", "quantized_layers", "check_bits"]


def check_bits(bits: int) -> int:
    """``bits`` as an int in [2, 32], or a clear error."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 32:
        raise ValueError(f"bit width must be an integer in [2, 32] (e.g. 8, 4 or 2), got {bits!r}.")
    return bits


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity gradient backward (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


class LSQQuantizer(nn.Module):
    """Symmetric uniform quantizer with a learnable step ``s`` (LSQ, Esser et al. 2020).

    ``quantize(x) = s · clamp(round_ste(x / s), −Q, Q)`` with ``Q = 2^(bits−1) − 1``; the gradient of ``s`` is
    scaled by ``1/√(N·Q)`` as in LSQ.
    """

    def __init__(self, bits: int, *, init_from: torch.Tensor | None = None) -> None:
        super().__init__()
        self.bits = check_bits(bits)
        self.levels = 2 ** (self.bits - 1) - 1
        self.step = nn.Parameter(torch.tensor(1.0))
        if init_from is not None:
            self.initialise(init_from)

    def initialise(self, x: torch.Tensor) -> None:
        """``s = 2·mean|x| / √Q`` (LSQ initialisation)."""
        with torch.no_grad():
            self.step.fill_(max(2 * float(x.abs().mean()) / math.sqrt(self.levels), 1e-8))

    def integer(self, x: torch.Tensor) -> torch.Tensor:
        """The integer codes ``clamp(round(x/s), −Q, Q)`` (no gradient scaling; for inspection)."""
        return torch.clamp(torch.round(x / self.step), -self.levels, self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grad_scale = 1.0 / math.sqrt(x.numel() * self.levels)
        step = self.step * grad_scale + (self.step - self.step * grad_scale).detach()
        return step * torch.clamp(round_ste(x / step), -self.levels, self.levels)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class QuantLinear(nn.Linear):
    """``nn.Linear`` with LSQ-quantized weights (bias kept in full precision, as in integer accelerators'
    wide accumulators)."""

    def __init__(self, layer: nn.Linear, bits: int) -> None:
        super().__init__(layer.in_features, layer.out_features, bias=layer.bias is not None)
        self.load_state_dict(layer.state_dict())
        self.weight_quantizer = LSQQuantizer(bits, init_from=layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_quantizer(self.weight), self.bias)


class QuantConv2d(nn.Conv2d):
    """``nn.Conv2d`` with LSQ-quantized weights."""

    def __init__(self, layer: nn.Conv2d, bits: int) -> None:
        super().__init__(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                         padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
                         bias=layer.bias is not None, padding_mode=layer.padding_mode)
        self.load_state_dict(layer.state_dict())
        self.weight_quantizer = LSQQuantizer(bits, init_from=layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight_quantizer(self.weight), self.bias)


def quantized_layers(net: nn.Module) -> list[nn.Module]:
    """The quantized synaptic layers of ``net`` in order."""
    return [m for m in net.modules() if isinstance(m, (QuantLinear, QuantConv2d))]


class MembraneQuantizer(SpikingNeuron):
    """Wraps a neuron; after each step its potential is put on the grid of a synaptic layer's step.

    ``V ← s · clamp(round_ste(V / s), −Q_m, Q_m)`` with ``s`` the ``source`` quantizer's learnable step and
    ``Q_m = 2^(bits−1) − 1``. State reads and writes go to the wrapped neuron.
    """

    def __init__(self, neuron: SpikingNeuron, source: LSQQuantizer, bits: int) -> None:
        super().__init__(step_mode=neuron.step_mode)
        self.neuron = neuron
        self.bits = check_bits(bits)
        self.levels = 2 ** (self.bits - 1) - 1
        self._source = [source]  # not a sub-module: the layer owns it

    @property
    def threshold(self) -> torch.Tensor:
        return self.neuron.threshold

    @property
    def v_init(self) -> torch.Tensor:
        return self.neuron.v_init

    # State is the wrapped neuron's: reading / writing through the wrapper reaches it.
    @property
    def state_names(self) -> tuple[str, ...]:
        return self.neuron.state_names

    def reset_state(self, batch_mask: torch.Tensor | None = None) -> None:
        self.neuron.reset_state(batch_mask)

    def get_state(self) -> dict[str, torch.Tensor]:
        return self.neuron.get_state()

    def set_state(self, state) -> None:  # noqa: ANN001
        self.neuron.set_state(state)

    def single_step(self, x: torch.Tensor) -> torch.Tensor:
        s = self.neuron.single_step(x)
        state = self.neuron.get_state()
        step = self._source[0].step
        state["v"] = step * torch.clamp(round_ste(state["v"] / step), -self.levels, self.levels)
        self.neuron.set_state(state)
        return s

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


def fold_batchnorm(layer: nn.Linear | nn.Conv2d, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Module:
    """A copy of ``layer`` with the eval-mode ``bn`` that follows it folded in (``W·γ/σ``, ``(b − μ)·γ/σ + β``)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_batchnorm needs a BatchNorm with running statistics (track_running_stats=True).")
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        folded.weight.mul_(scale.reshape(shape))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (bias - bn.running_mean) * scale + (bn.bias if bn.affine else 0.0)
        if folded.bias is None:
            folded.bias = nn.Parameter(new_bias.clone())
        else:
            folded.bias.copy_(new_bias)
    return folded


def _quantized_twin(layer: nn.Module, bits: int) -> nn.Module:
    if isinstance(layer, nn.Linear):
        return QuantLinear(layer, bits)
    if isinstance(layer, nn.Conv2d):
        return QuantConv2d(layer, bits)
    raise TypeError(f"no quantized twin for {type(layer).__name__}")


def quantize_network(net: nn.Module, *, bits: int, membrane_bits: int | None = None,
                     keep_first_last: bool = False) -> nn.Module:
    """A copy of ``net`` with quantized Linear/Conv2d weights (and membranes, if ``membrane_bits``).

    Each neuron that directly follows a quantized layer (in module order) gets its potential quantized on that
    layer's step. ``keep_first_last`` leaves the first and last synaptic layers in full precision.
    """
    check_bits(bits)
    new = copy.deepcopy(net)
    parents: list[tuple[nn.Module, str, nn.Module]] = []
    seen: set[int] = set()
    for parent in new.modules():
        for name, child in parent.named_children():
            if isinstance(child, (nn.Linear, nn.Conv2d)) and not isinstance(child, (QuantLinear, QuantConv2d)) \
                    and id(child) not in seen:
                seen.add(id(child))
                parents.append((parent, name, child))
    chosen = parents[1:-1] if keep_first_last else parents
    last_quantizer: LSQQuantizer | None = None
    quantizer_of: dict[int, LSQQuantizer] = {}
    for holder, attr, layer in chosen:
        twin = _quantized_twin(layer, bits)
        setattr(holder, attr, twin)
        quantizer_of[id(twin)] = twin.weight_quantizer
    if membrane_bits is not None:
        check_bits(membrane_bits)
        wraps: list[tuple[nn.Module, str, SpikingNeuron, LSQQuantizer]] = []
        for parent in new.modules():
            for name, child in parent.named_children():
                inner = child.layer if isinstance(child, MultiStep) else child
                if id(inner) in quantizer_of:
                    last_quantizer = quantizer_of[id(inner)]
                elif isinstance(child, SpikingNeuron) and not isinstance(child, MembraneQuantizer) and last_quantizer:
                    wraps.append((parent, name, child, last_quantizer))
                    last_quantizer = None
        for parent, name, neuron, quantizer in wraps:
            setattr(parent, name, MembraneQuantizer(neuron, quantizer, membrane_bits))
    return new


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor | None,
                      *, student_potentials: Sequence[torch.Tensor] = (), teacher_potentials: Sequence[torch.Tensor] = (),
                      kd_weight: float = 1.0, membrane_weight: float = 1.0, temperature: float = 4.0) -> torch.Tensor:
    """MD-SNN loss: CE (if ``targets``) + ``kd_weight``·T²·KL(teacher ‖ student at temperature T) + ``membrane_weight``
    · Σ MSE over paired pre-spike potentials (one tensor per layer and timestep)."""
    if len(student_potentials) != len(teacher_potentials):
        raise ValueError(f"got {len(student_potentials)} student and {len(teacher_potentials)} teacher potentials; "
                         "record both networks with the same layers and timesteps.")
    loss = F.cross_entropy(student_logits, targets) if targets is not None else student_logits.new_zeros(())
    if kd_weight:
        t = temperature
        loss = loss + kd_weight * t * t * F.kl_div(F.log_softmax(student_logits / t, -1),
                                                   F.softmax(teacher_logits.detach() / t, -1), reduction="batchmean")
    for vs, vt in zip(student_potentials, teacher_potentials):
        loss = loss + membrane_weight * F.mse_loss(vs, vt.detach())
    return loss
