"""AHSAR: activity-driven homeostatic threshold scaling (our interpretation of arXiv 2512.05015, abstract only).

No trainable parameters and no change to the loss or the gradients. Per spiking layer ``l``:

1. firing-rate EMA during training forwards: ``r_l ← (1 − m)·r_l + m·rate`` (``m ≈ 0.05``);
2. bounded scale: ``s_l = 1 + k·tanh(r_l − r*)`` (``k ≈ 0.2``, target ``r* ≈ 0.15``): too active → higher threshold;
3. cross-layer diffusion: ``s_l ← (1 − d)·s_l + d·mean(s_{l−1}, s_{l+1})`` (``d ≈ 0.1``);
4. a slow global gain ``g ∈ [0.5, 2]`` moved by ±2 % per epoch: when the monitored progress metric (validation
   accuracy, or minus the training loss) stops improving, ``g`` moves to bring the mean activity towards ``r*``
   (raise thresholds if the network is too active, lower them if too quiet); while it improves ``g`` stays;
5. effective threshold ``θ_l = θ_base,l · g · s_l``, written under ``torch.no_grad()``.

Use it as a plain hook in any torch loop (:class:`AHSAR`: ``update()`` after each optimiser step,
``end_epoch(metric)`` after each epoch) or through Avalanche (``snnrl.continual.homeostasis.AHSARPlugin``). Its
state (:meth:`AHSAR.state_dict`) goes into checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from snnrl.layers import outermost_modules
from snnrl.neurons import SpikingNeuron

__all__ = ["AHSARConfig", "AHSAR"]


@dataclass(frozen=True)
class AHSARConfig:
    """AHSAR constants (names as in the methods notes)."""

    target_rate: float = 0.15
    momentum: float = 0.05
    gain: float = 0.2
    diffusion: float = 0.1
    global_step: float = 0.02
    global_min: float = 0.5
    global_max: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.momentum <= 1:
            raise ValueError(f"momentum must lie in (0, 1], got {self.momentum}.")
        if not 0 <= self.diffusion <= 1:
            raise ValueError(f"diffusion must lie in [0, 1], got {self.diffusion}.")
        if not 0 < self.global_min <= 1 <= self.global_max:
            raise ValueError("need 0 < global_min <= 1 <= global_max.")


class AHSAR:
    """Homeostatic threshold regulation of every thresholded spiking neuron of ``net``.

    Parameters
    ----------
    net
        The network; its top-level spiking neurons with a ``threshold`` buffer are regulated, in module order.
    config
        Constants.
    """

    def __init__(self, net: nn.Module, config: AHSARConfig = AHSARConfig()) -> None:
        self.net, self.config = net, config
        self.neurons: list[tuple[str, SpikingNeuron]] = [
            (name, m) for name, m in outermost_modules(net, lambda m: isinstance(m, SpikingNeuron))
            if isinstance(getattr(m, "threshold", None), torch.Tensor)]
        if not self.neurons:
            raise ValueError("AHSAR found no spiking neuron with a threshold in the network.")
        n = len(self.neurons)
        self.base = [neuron.threshold.detach().clone() for _, neuron in self.neurons]
        self.rates = torch.full((n,), config.target_rate)
        self.scales = torch.ones(n)
        self.global_gain = 1.0
        self.best_metric = -math.inf
        self._handles = [neuron.register_forward_hook(self._hook(i)) for i, (_, neuron) in enumerate(self.neurons)]

    def _hook(self, index: int):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if self.net.training:
                rate = float((output.detach() != 0).float().mean())
                m = self.config.momentum
                self.rates[index] = (1 - m) * self.rates[index] + m * rate
        return hook

    def update(self) -> None:
        """Recompute scales from the rate EMAs and write the effective thresholds (call after each step)."""
        c = self.config
        raw = 1 + c.gain * torch.tanh(self.rates - c.target_rate)
        mixed = raw.clone()
        for i in range(len(raw)):
            neighbours = [raw[j] for j in (i - 1, i + 1) if 0 <= j < len(raw)]
            if neighbours:
                mixed[i] = (1 - c.diffusion) * raw[i] + c.diffusion * torch.stack(neighbours).mean()
        self.scales = mixed
        self._apply()

    def _apply(self) -> None:
        with torch.no_grad():
            for (_, neuron), base, scale in zip(self.neurons, self.base, self.scales):
                neuron.threshold.copy_(base * self.global_gain * float(scale))

    def end_epoch(self, metric: float) -> float:
        """Move the global gain after an epoch given a progress ``metric`` (higher is better); returns ``g``."""
        c = self.config
        if metric > self.best_metric:
            self.best_metric = metric
        else:
            too_active = float(self.rates.mean()) > c.target_rate
            factor = 1 + c.global_step if too_active else 1 - c.global_step
            self.global_gain = min(c.global_max, max(c.global_min, self.global_gain * factor))
            self._apply()
        return self.global_gain

    def state_dict(self) -> dict[str, Any]:
        return {"rates": self.rates.clone(), "scales": self.scales.clone(), "global_gain": self.global_gain,
                "best_metric": self.best_metric, "base": [b.clone() for b in self.base]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["base"]) != len(self.neurons):
            raise ValueError(f"AHSAR state has {len(state['base'])} layers, the network {len(self.neurons)}.")
        self.rates, self.scales = state["rates"].clone(), state["scales"].clone()
        self.global_gain, self.best_metric = float(state["global_gain"]), float(state["best_metric"])
        self.base = [b.clone() for b in state["base"]]
        self._apply()

    def close(self) -> None:
        """Remove the hooks and restore the base thresholds."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        with torch.no_grad():
            for (_, neuron), base in zip(self.neurons, self.base):
                neuron.threshold.copy_(base)
