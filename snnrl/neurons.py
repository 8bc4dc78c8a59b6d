"""Spiking neuron models with explicit state, multi-step and single-step execution.

Every neuron is a small :class:`torch.nn.Module` whose membrane state is explicit:

* ``step_mode="m"`` (default): input ``[T, B, ...]`` -> output ``[T, B, ...]``.
* ``step_mode="s"``: input ``[B, ...]`` -> output ``[B, ...]``, one timestep per call (closed-loop use).

Both modes run the same per-timestep update (:meth:`SpikingNeuron.single_step`). State is created lazily
on the first input, read with :meth:`~SpikingNeuron.get_state`, written with :meth:`~SpikingNeuron.set_state`
and cleared with :meth:`~SpikingNeuron.reset_state` (optionally only for some rows of the batch, e.g. the
environments of a vector env that start a new episode). A neuron remembers the per-sample shape it was
first used with and refuses input or state of another shape instead of silently re-initialising.

Equations (``x_t`` input current, ``V`` membrane potential, ``θ`` threshold, ``s_t`` spike):

* :class:`IFNeuron` — charge ``V += x_t``; fire ``s_t = H(V − θ)``; reset ``V −= θ·s_t`` (soft) or
  ``V = V_reset`` where ``s_t ≠ 0`` (hard). Signed: also ``s_t = −1`` where ``V ≤ −θ``, adding θ back.
* :class:`LIFNeuron` — ``V_t = β·V_{t−1} + x_t`` (or ``β·V_{t−1} + (1−β)·x_t`` with ``decay_input``).
  With ``reset_delay=True`` (snnTorch ``Leaky``) a spike is subtracted at the next step after the decay,
  ``V_t = β·V_{t−1} + x_t − θ·s_{t−1}``; with ``reset_delay=False`` (SpikingJelly) immediately,
  ``V_t ← V_t − θ·s_t``.
* :class:`ParametricLIFNeuron` — LIF with learnable ``β = 1 − sigmoid(w)`` (``τ = 1/sigmoid(w)``).
* :class:`SelfPredictionNeuron` — wraps a neuron, adds the prediction current ``P_t = M_{t−1}`` with memory
  ``M_t = (1−a)·M_{t−1} + a·(x_t − θ·s_t)``, ``a = sigmoid(ω)`` learnable (our interpretation of
  arXiv 2601.21823, from its abstract).
* :class:`ATMNNeuron` — adaptive ternary multi-step neuron: ``h_t = x_t·[t=0] + u_{t−1}/τ``,
  ``s_t ∈ {−1, 0, +1}`` where ``|h_t| ≥ V_a``, ``V_a = exp(a)`` learnable, output ``s_t·V_a``,
  ``u_t = h_t − s_t·V_a`` (our interpretation of MAR, arXiv 2601.21503, from its abstract).
* :class:`ReLUUnit` — the non-spiking twin: ``y_t = max(0, x_t)``, no state. In place of a backbone's neurons
  it makes the same network an ANN (the ANN twin of a spiking run: same layers, data, strategy and budget).

Example
-------
>>> import torch
>>> neuron = IFNeuron(threshold=1.0)
>>> neuron(torch.tensor([[0.6], [0.6], [0.6]])).flatten().tolist()
[0.0, 1.0, 0.0]
>>> neuron.get_state()["v"].item()
0.8000000...
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from snnrl.fused_lif import fused_lif, fused_lif_supports
from snnrl.surrogate import ATan, Surrogate, heaviside

__all__ = [
    "SpikingNeuron",
    "IFNeuron",
    "LIFNeuron",
    "ParametricLIFNeuron",
    "SelfPredictionNeuron",
    "ATMNNeuron",
    "ReLUUnit",
    "StateShapeError",
    "record_potentials",
]

_STEP_MODES = ("m", "s")


class StateShapeError(ValueError):
    """Input or restored state does not fit the shape a neuron's state already has."""


def _check_step_mode(step_mode: str) -> str:
    if step_mode not in _STEP_MODES:
        raise ValueError(f"step_mode must be 'm' (multi-step, [T, B, ...]) or 's' (single-step, [B, ...]), "
                         f"got {step_mode!r}.")
    return step_mode


class SpikingNeuron(nn.Module):
    """Base class: explicit state, multi-step / single-step execution, partial resets.

    Subclasses define :meth:`initial_state` (the state for a batch, from an input of that batch) and
    :meth:`_step` (one timestep: reads and writes ``self._state``, returns the output).
    """

    def __init__(self, *, step_mode: str = "m") -> None:
        super().__init__()
        self.step_mode = _check_step_mode(step_mode)
        self._state: dict[str, torch.Tensor] = {}
        self._sample_shape: tuple[int, ...] | None = None
        self.potential_trace: list[torch.Tensor] | None = None

    def _observe(self, potential: torch.Tensor) -> None:
        """Record the pre-spike membrane potential of this step when tracing (:func:`record_potentials`)."""
        if self.potential_trace is not None:
            self.potential_trace.append(potential)

    def __getstate__(self) -> dict:
        # Pickling / deepcopy keep the state's values but not its autograd history (graph tensors cannot be copied).
        state = self.__dict__.copy()
        state["_state"] = {k: v.detach() for k, v in self._state.items()}
        state["potential_trace"] = None
        return state

    # -- state -------------------------------------------------------------------------------------
    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state of a fresh batch shaped like ``x`` (``[B, ...]``)."""
        raise NotImplementedError

    def reset_state(self, batch_mask: torch.Tensor | None = None) -> None:
        """Forget the state (``batch_mask=None``) or re-initialise the rows where ``batch_mask`` is true."""
        if batch_mask is None or not self._state:
            self._state = {}
            return
        mask = torch.as_tensor(batch_mask, dtype=torch.bool, device=next(iter(self._state.values())).device)
        batch = self.batch_size
        if mask.shape != (batch,):
            raise StateShapeError(f"batch_mask must have shape ({batch},) for a state of batch {batch}, "
                                  f"got {tuple(mask.shape)}.")
        fresh = self.initial_state(next(iter(self._state.values())))
        for key, value in self._state.items():
            m = mask.view(-1, *([1] * (value.dim() - 1)))
            self._state[key] = torch.where(m, fresh[key], value)

    @property
    def batch_size(self) -> int | None:
        """Batch size of the current state, ``None`` when there is none."""
        if not self._state:
            return None
        return next(iter(self._state.values())).shape[0]

    def get_state(self) -> dict[str, torch.Tensor]:
        """The current state tensors (``{}`` before the first input or after a full reset)."""
        return dict(self._state)

    def set_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Replace the state; checks names and per-sample shapes against this neuron's."""
        if not state:
            self._state = {}
            return
        expected = set(self.state_names)
        if set(state) != expected:
            raise StateShapeError(f"{type(self).__name__} state needs keys {sorted(expected)}, "
                                  f"got {sorted(state)}. Was it captured from another kind of neuron?")
        primary = state[self.state_names[0]]
        shape = tuple(primary.shape[1:])
        if self._sample_shape is not None and shape != self._sample_shape:
            raise StateShapeError(
                f"{type(self).__name__}: state of per-sample shape {shape} cannot be restored into a "
                f"neuron of per-sample shape {self._sample_shape}. Restore a state captured from a "
                "network of the same architecture.")
        if self._sample_shape != shape:
            self._sample_shape = shape
        self._state = {k: v for k, v in state.items()}

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("v",)

    def _ensure_state(self, x: torch.Tensor) -> None:
        sample = tuple(x.shape[1:])
        if self._sample_shape is not None and sample != self._sample_shape:
            raise StateShapeError(
                f"{type(self).__name__}: expected input of per-sample shape {self._sample_shape}, got "
                f"{sample} (input shape {tuple(x.shape)}). The neuron was built for the first shape; use a "
                "new neuron for another layer size.")
        if self._sample_shape is None:
            self._sample_shape = sample
        if not self._state:
            self._state = self.initial_state(x)
        elif self.batch_size != x.shape[0]:
            raise StateShapeError(
                f"{type(self).__name__}: state holds a batch of {self.batch_size}, input has {x.shape[0]}. "
                "Call reset_state() before feeding a batch of another size.")

    # -- execution ---------------------------------------------------------------------------------
    def single_step(self, x: torch.Tensor) -> torch.Tensor:
        """One timestep on ``[B, ...]``, whatever ``step_mode`` is."""
        if x.dim() < 1:
            raise ValueError(f"{type(self).__name__} needs at least a batch dimension, got a scalar.")
        self._ensure_state(x)
        return self._step(x)

    def multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        """All timesteps of ``[T, B, ...]``."""
        if x_seq.dim() < 2:
            raise ValueError(f"{type(self).__name__} in multi-step mode expects input [T, B, ...], got shape "
                             f"{tuple(x_seq.shape)}. Add a time dimension (snnrl.encoding.repeat_over_time) "
                             "or use step_mode='s'.")
        if x_seq.shape[0] < 1:
            raise ValueError(f"{type(self).__name__}: the time dimension is empty (T=0); need T >= 1.")
        return self._multi_step(x_seq)

    def _multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        """All timesteps of a checked ``[T, B, ...]`` input: :meth:`single_step` ``T`` times."""
        return torch.stack([self.single_step(x_seq[t]) for t in range(x_seq.shape[0])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.multi_step(x) if self.step_mode == "m" else self.single_step(x)

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


def _threshold_buffer(threshold: float | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(threshold, dtype=torch.float32).detach().clone()
    if (t <= 0).any():
        raise ValueError(f"threshold must be > 0, got {threshold!r}.")
    return t


def _check_reset(reset: str) -> str:
    if reset not in ("subtract", "zero"):
        raise ValueError(f"reset must be 'subtract' (soft) or 'zero' (hard), got {reset!r}.")
    return reset


def _fusable(neuron: "IFNeuron | LIFNeuron", cls: type) -> bool:
    """What the fused path (:mod:`snnrl.fused_lif`) needs of an IF or LIF neuron: fusion on, subtractive reset, the
    step of ``cls`` itself (no subclass step), the standard surrogate call, a threshold without gradient (the fused
    backward gives it none) and no potential trace (it needs every step's module call)."""
    return (neuron.fused and neuron.reset == "subtract" and type(neuron)._step is cls._step
            and type(neuron.surrogate).__call__ is Surrogate.__call__ and not neuron.threshold.requires_grad
            and neuron.potential_trace is None)


class IFNeuron(SpikingNeuron):
    """Integrate-and-fire neuron (the conversion neuron).

    ``V += x_t``; ``s_t = H(V − θ)`` (signed: ``−1`` where ``V ≤ −θ``); ``V −= θ·s_t`` (``reset="subtract"``)
    or ``V = v_reset`` where a spike was emitted (``reset="zero"``).

    Parameters
    ----------
    threshold
        ``θ > 0``: a scalar or a per-neuron tensor broadcasting over the per-sample shape.
    reset
        ``"subtract"`` (soft reset, default) or ``"zero"`` (hard reset to ``v_reset``).
    signed
        Emit ``−1`` spikes for negative potentials too (outputs that can be negative).
    v_init
        Initial potential of a fresh state, in potential units (scalar or per-neuron tensor).
    surrogate
        Surrogate gradient used when the input requires grad.

    With autograd, multi-step input of a soft-reset unsigned neuron runs as one fused autograd node
    (:mod:`snnrl.fused_lif` with ``β = 1``: same spikes and states, bitwise); set ``fused = False`` to step.
    """

    fused: bool = True

    def __init__(self, threshold: float | torch.Tensor = 1.0, *, reset: str = "subtract", signed: bool = False,
                 v_init: float | torch.Tensor = 0.0, v_reset: float = 0.0, surrogate: Surrogate | None = None,
                 step_mode: str = "m") -> None:
        super().__init__(step_mode=step_mode)
        self.register_buffer("threshold", _threshold_buffer(threshold))
        self.register_buffer("v_init", torch.as_tensor(v_init, dtype=torch.float32).detach().clone())
        self.reset = _check_reset(reset)
        self.signed = bool(signed)
        self.v_reset = float(v_reset)
        self.surrogate = surrogate if surrogate is not None else ATan()

    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"v": torch.zeros_like(x) + self.v_init.to(x)}

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.threshold.to(x)
        v = self._state["v"] + x                                  # charge
        self._observe(v)
        s = self.surrogate(v - theta)                             # fire
        if self.signed:
            s = s - self.surrogate(-v - theta)
        if self.reset == "subtract":                              # reset
            v = v - theta * s
        else:
            fired = s != 0
            v = torch.where(fired, torch.full_like(v, self.v_reset), v)
        self._state["v"] = v
        return s

    def multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        """All timesteps of ``[T, B, ...]``; plain inference (see :meth:`_fast_inference`) takes a fast loop."""
        if self._fast_inference(x_seq):
            return self._multi_step_inference(x_seq)
        return super().multi_step(x_seq)

    def _fast_inference(self, x_seq: torch.Tensor) -> bool:
        """True when the fast loop gives exactly what the per-timestep modules give: a soft-reset unsigned IF
        neuron (no subclass step, standard surrogate), float32/64 CPU input, no autograd, no potential trace."""
        if (self.reset != "subtract" or self.signed or self.potential_trace is not None
                or type(self)._step is not IFNeuron._step or type(self).single_step is not SpikingNeuron.single_step
                or type(self.surrogate).__call__ is not Surrogate.__call__):
            return False
        if (x_seq.dim() < 2 or x_seq.shape[0] < 1 or x_seq.device.type != "cpu"
                or x_seq.dtype not in (torch.float32, torch.float64) or self.threshold.dim() >= x_seq.dim()):
            return False
        v = self._state.get("v")
        if v is not None and (v.dtype != x_seq.dtype or v.device != x_seq.device):
            return False
        return not (torch.is_grad_enabled() and (x_seq.requires_grad or self.threshold.requires_grad
                                                  or (v is not None and v.requires_grad)))

    def _multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not (_fusable(self, IFNeuron) and not self.signed and fused_lif_supports(x_seq)):
            return super()._multi_step(x_seq)
        self._ensure_state(x_seq[0])
        spikes, self._state["v"], _ = fused_lif(x_seq, self._state["v"], self.threshold.to(x_seq), beta=1.0,
                                                reset_delay=False, surrogate=self.surrogate, detach_reset=False)
        return spikes

    def _multi_step_inference(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The multi-step loop without per-timestep module calls: numpy ufuncs on views of torch buffers.

        Same arithmetic as :meth:`_step` element by element (``V += x``; ``s = [V ≥ θ]``; ``V −= θ·s``), so spikes
        and potentials are bit-identical: ``V − θ ≥ 0`` and ``V ≥ θ`` agree for all IEEE floats (a difference of
        two distinct floats never rounds to zero), torch's default (no flush-to-zero mode).
        """
        self._ensure_state(x_seq[0])
        theta = self.threshold.to(x_seq)
        x, v = x_seq, self._state["v"]
        theta, x, v = (t.detach() if t.requires_grad else t for t in (theta, x, v))  # no graph is built here
        v = torch.add(v, x[0])                                         # step 0's charge, in a new tensor
        spikes = torch.empty(x.shape, dtype=x.dtype)
        v_np, x_np, theta_np, s_np = v.numpy(), x.numpy(), theta.numpy(), spikes.numpy()
        drop = np.empty_like(v_np)
        add, greater_equal, multiply, subtract = np.add, np.greater_equal, np.multiply, np.subtract
        for t, s_t in enumerate(s_np):
            if t:
                add(v_np, x_np[t], out=v_np)                           # charge
            greater_equal(v_np, theta_np, out=s_t)                     # fire
            multiply(theta_np, s_t, out=drop)                          # soft reset: V -= θ·s
            subtract(v_np, drop, out=v_np)
        self._state["v"] = v
        return spikes

    def extra_repr(self) -> str:
        th = self.threshold.item() if self.threshold.numel() == 1 else f"tensor{tuple(self.threshold.shape)}"
        return f"threshold={th}, reset={self.reset!r}, signed={self.signed}, step_mode={self.step_mode!r}"


class LIFNeuron(SpikingNeuron):
    """Leaky integrate-and-fire neuron (the training neuron), snnTorch ``Leaky`` dynamics by default.

    ``reset_delay=True`` (snnTorch): ``V_t = β·V_{t−1} + x_t − θ·s_{t−1}`` (subtract) or
    ``V_t = β·(1 − s_{t−1})·V_{t−1} + x_t`` (zero), ``s_t = H(V_t − θ)``, ``V`` stored before reset.
    ``reset_delay=False`` (SpikingJelly): ``H_t = β·V_{t−1} + x_t``, ``s_t = H(H_t − θ)``,
    ``V_t = H_t − θ·s_t`` (subtract) or ``H_t·(1 − s_t)`` (zero).
    ``decay_input=True`` replaces ``x_t`` by ``(1 − β)·x_t`` (the ``τ`` form ``V += (x − V)/τ``, ``β = 1 − 1/τ``).

    Parameters
    ----------
    beta
        Membrane decay ``β`` in [0, 1].
    threshold
        Firing threshold ``θ > 0`` (scalar or per-neuron tensor; scaled at run time by homeostasis).
    reset
        ``"subtract"`` or ``"zero"``.
    surrogate
        Pseudo-derivative of the spike (default ATan, ``α = 2`` as in snnTorch).
    detach_reset
        Stop gradients through the reset term (snnTorch always does).

    Multi-step input runs as one fused autograd node over ``T`` (:mod:`snnrl.fused_lif`: same spikes and states,
    bitwise; the same gradients up to summation order) where the neuron allows it: subtractive reset, no input
    decay, a float ``β``, the standard surrogate call, a threshold without gradient, no potential trace. Set
    ``fused = False`` to step.
    """

    fused: bool = True

    def __init__(self, beta: float = 0.5, threshold: float | torch.Tensor = 1.0, *, reset: str = "subtract",
                 reset_delay: bool = True, decay_input: bool = False, surrogate: Surrogate | None = None,
                 detach_reset: bool = True, step_mode: str = "m") -> None:
        super().__init__(step_mode=step_mode)
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"beta must lie in [0, 1], got {beta}.")
        self._beta = float(beta)
        self.register_buffer("threshold", _threshold_buffer(threshold))
        self.reset = _check_reset(reset)
        self.reset_delay = bool(reset_delay)
        self.decay_input = bool(decay_input)
        self.surrogate = surrogate if surrogate is not None else ATan()
        self.detach_reset = bool(detach_reset)

    @property
    def beta(self) -> torch.Tensor | float:
        """The decay factor ``β``."""
        return self._beta

    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"v": torch.zeros_like(x)}

    def fusable(self) -> bool:
        """Whether multi-step input runs fused (:mod:`snnrl.fused_lif`; see the class docstring)."""
        return _fusable(self, LIFNeuron) and not self.decay_input and isinstance(self.beta, float)

    def _multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not (self.fusable() and fused_lif_supports(x_seq)):
            return super()._multi_step(x_seq)
        self._ensure_state(x_seq[0])
        spikes, self._state["v"], _ = fused_lif(x_seq, self._state["v"], self.threshold.to(x_seq), beta=self.beta,
                                                reset_delay=self.reset_delay, surrogate=self.surrogate,
                                                detach_reset=self.detach_reset)
        return spikes

    def _charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        return beta * v + ((1 - beta) * x if self.decay_input else x)

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.threshold.to(x)
        v = self._state["v"]
        if self.reset_delay:
            r = heaviside(v - theta).detach()                     # spike of the previous step
            if self.reset == "subtract":
                v = self._charge(v, x) - r * theta
            else:
                v = self._charge((1 - r) * v, x)
            self._observe(v)
            s = self.surrogate(v - theta)
        else:
            v = self._charge(v, x)
            self._observe(v)
            s = self.surrogate(v - theta)
            r = s.detach() if self.detach_reset else s
            v = v - r * theta if self.reset == "subtract" else v * (1 - r)
        self._state["v"] = v
        return s

    def extra_repr(self) -> str:
        return (f"beta={float(self.beta):.4g}, reset={self.reset!r}, reset_delay={self.reset_delay}, "
                f"surrogate={self.surrogate}, step_mode={self.step_mode!r}")


class ParametricLIFNeuron(LIFNeuron):
    """LIF with a learnable time constant: ``β = 1 − sigmoid(w)``, ``w₀ = −log(τ₀ − 1)``.

    Defaults follow SpikingJelly's ``ParametricLIFNode``: input decay (``V += (x − V)/τ``) and
    immediate reset.
    """

    def __init__(self, init_tau: float = 2.0, threshold: float | torch.Tensor = 1.0, *, reset: str = "subtract",
                 reset_delay: bool = False, decay_input: bool = True, surrogate: Surrogate | None = None,
                 detach_reset: bool = True, step_mode: str = "m") -> None:
        if init_tau <= 1.0:
            raise ValueError(f"init_tau must be > 1, got {init_tau}.")
        super().__init__(beta=1 - 1 / init_tau, threshold=threshold, reset=reset, reset_delay=reset_delay,
                         decay_input=decay_input, surrogate=surrogate, detach_reset=detach_reset,
                         step_mode=step_mode)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    @property
    def beta(self) -> torch.Tensor:
        return 1 - torch.sigmoid(self.w)


class SelfPredictionNeuron(SpikingNeuron):
    """Adds a self-prediction current to any neuron (our interpretation of arXiv 2601.21823).

    ``P_t = M_{t−1}``; the wrapped neuron sees ``x_t + P_t``; memory ``M_t = (1−a)·M_{t−1} + a·(x_t − θ·s_t)``
    with ``a = sigmoid(ω)`` learnable per layer. ``M`` is differentiable, giving a continuous gradient path
    across time besides the surrogate spike. Around a fusable :class:`LIFNeuron`, multi-step input runs as one
    fused autograd node (:mod:`snnrl.fused_lif`).
    """

    def __init__(self, neuron: SpikingNeuron, *, omega_init: float = 0.0, step_mode: str | None = None) -> None:
        super().__init__(step_mode=step_mode or neuron.step_mode)
        if not hasattr(neuron, "threshold"):
            raise TypeError(f"SelfPredictionNeuron wraps a neuron with a threshold, got {type(neuron).__name__}.")
        self.neuron = neuron
        self.omega = nn.Parameter(torch.tensor(float(omega_init)))

    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"m": torch.zeros_like(x)}

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("m",)

    def reset_state(self, batch_mask: torch.Tensor | None = None) -> None:
        super().reset_state(batch_mask)
        self.neuron.reset_state(batch_mask)

    def _multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        inner = self.neuron
        if not (self.potential_trace is None and isinstance(inner, LIFNeuron) and inner.fusable()
                and fused_lif_supports(x_seq)):
            return super()._multi_step(x_seq)
        self._ensure_state(x_seq[0])
        inner._ensure_state(x_seq[0] + self._state["m"])
        spikes, inner._state["v"], self._state["m"] = fused_lif(
            x_seq, inner._state["v"], inner.threshold.to(x_seq), beta=inner.beta, reset_delay=inner.reset_delay,
            surrogate=inner.surrogate, detach_reset=inner.detach_reset, m0=self._state["m"],
            a=torch.sigmoid(self.omega))
        return spikes

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        m = self._state["m"]
        s = self.neuron.single_step(x + m)
        a = torch.sigmoid(self.omega)
        self._state["m"] = (1 - a) * m + a * (x - self.neuron.threshold.to(x) * s)
        return s


class ATMNNeuron(SpikingNeuron):
    """Adaptive ternary multi-step neuron (our interpretation of MAR, arXiv 2601.21503).

    ``h_t = x_t·[t=0] + u_{t−1}/τ`` (``input_every_step=True``: ``x_t + u_{t−1}/τ``);
    ``s_t = H(h_t − V_a) − H(−h_t − V_a) ∈ {−1, 0, +1}``; output ``s_t·V_a``; ``u_t = h_t − s_t·V_a``;
    ``V_a = exp(a)`` learnable. A dense-information neuron: the ternary train encodes the input.
    """

    def __init__(self, *, tau: float = 2.0, init_amplitude: float = 1.0, input_every_step: bool = False,
                 surrogate: Surrogate | None = None, step_mode: str = "m") -> None:
        super().__init__(step_mode=step_mode)
        if tau <= 0 or init_amplitude <= 0:
            raise ValueError(f"tau and init_amplitude must be > 0, got tau={tau}, init_amplitude={init_amplitude}.")
        self.tau = float(tau)
        self.input_every_step = bool(input_every_step)
        self.log_amplitude = nn.Parameter(torch.tensor(math.log(init_amplitude)))
        self.surrogate = surrogate if surrogate is not None else ATan()

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("u", "t")

    @property
    def amplitude(self) -> torch.Tensor:
        """``V_a = exp(a)``."""
        return self.log_amplitude.exp()

    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"u": torch.zeros_like(x), "t": torch.zeros(x.shape[0], dtype=torch.long, device=x.device)}

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        u, t = self._state["u"], self._state["t"]
        if self.input_every_step:
            inject = x
        else:
            first = (t == 0).view(-1, *([1] * (x.dim() - 1)))
            inject = x * first.to(x)
        h = inject + u / self.tau
        self._observe(h)
        va = self.amplitude
        s = self.surrogate(h - va) - self.surrogate(-h - va)
        out = s * va
        self._state["u"] = h - out
        self._state["t"] = t + 1
        return out


class ReLUUnit(SpikingNeuron):
    """Non-spiking twin of a neuron layer: ``y_t = max(0, x_t)``, stateless (an ANN's ReLU under the neuron
    interface, so a backbone built for spiking neurons becomes its ANN twin)."""

    @property
    def state_names(self) -> tuple[str, ...]:
        return ()

    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    def multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        """All timesteps at once; an input repeated over time by construction (stride 0 on ``T``, as
        :class:`snnrl.layers.MultiStep` passes on for direct coding) is rectified once and stays repeated, so a
        ReLU twin on static input does one ANN forward pass, not ``T`` identical ones."""
        if x_seq.dim() >= 2 and x_seq.shape[0] > 1 and x_seq.stride(0) == 0:
            self._ensure_state(x_seq[0])
            y = torch.relu(x_seq[0])
            return y.unsqueeze(0).expand(x_seq.shape[0], *y.shape)
        return super().multi_step(x_seq)


class record_potentials:  # noqa: N801 - used as a function-like context manager
    """Record every neuron's pre-spike membrane potential per timestep while inside the ``with`` block.

    >>> import torch
    >>> from snnrl.layers import SpikingSequential
    >>> net = SpikingSequential(torch.nn.Linear(2, 3), IFNeuron())
    >>> with record_potentials(net) as traces:
    ...     _ = net(torch.ones(4, 1, 2))
    >>> len(traces["1"]), tuple(traces["1"][0].shape)
    (4, (1, 3))
    """

    def __init__(self, net: nn.Module) -> None:
        self.neurons = {name: m for name, m in net.named_modules() if isinstance(m, SpikingNeuron)}

    def __enter__(self) -> dict[str, list[torch.Tensor]]:
        for neuron in self.neurons.values():
            neuron.potential_trace = []
        return {name: neuron.potential_trace for name, neuron in self.neurons.items()}

    def __exit__(self, *exc: object) -> None:
        for neuron in self.neurons.values():
            neuron.potential_trace = None
