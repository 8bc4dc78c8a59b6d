"""Fused multi-step LIF: all ``T`` steps of a LIF layer, with or without the self-prediction current, as one
autograd node computed by two compiled (numba) loops.

Step by step, a LIF layer costs about ten small torch operations per timestep forward and as many autograd nodes
backward; on the small batches of continual learning (20 rows) their per-operation overhead, not the arithmetic,
sets the training time. Here the forward runs the neuron's own per-step arithmetic, element by element in the same
operation order and precision (so spikes, potentials and states are bitwise those of ``T`` calls of
:meth:`snnrl.neurons.SpikingNeuron.single_step`), and the backward is the hand-written backpropagation through
time of the same equations, one reverse pass over ``T``; the surrogate's derivative is evaluated by torch on all
steps at once.

Equations (subtractive reset; ``u_t`` the input current, ``p_t`` the potential compared with ``θ``):

* reset after the decay (``reset_delay=True``, snnTorch): ``p_t = β·p_{t−1} + u_t − θ·H(p_{t−1} − θ)``;
* immediate reset (``reset_delay=False``): ``p_t = β·v_{t−1} + u_t``, ``v_t = p_t − θ·s_t``; with ``β = 1`` this
  is the soft-reset IF neuron (:class:`snnrl.neurons.IFNeuron`);
* spike ``s_t = H(p_t − θ)``, backward ``∂s_t/∂p_t = σ'(p_t − θ)`` (the neuron's surrogate);
* with self-prediction (:class:`snnrl.neurons.SelfPredictionNeuron`): ``u_t = x_t + m_{t−1}``,
  ``m_t = (1 − a)·m_{t−1} + a·(x_t − θ·s_t)``; otherwise ``u_t = x_t``.

The delayed reset is detached, so ``∂p_t/∂p_{t−1} = β``; the immediate one is detached or not
(``detach_reset``; not detached: ``∂v_t/∂p_t = 1 − θ·σ'(p_t − θ)``, as the IF neuron's step computes).
Gradients reach ``x``, the start states ``v₀``/``m₀`` and ``a``; gradients arriving at the end states (a later call
continuing from them) flow back too. :func:`fused_lif_supports` says where it runs (CPU float32/float64 with numba);
elsewhere the neurons step.

Example
-------
>>> import torch
>>> from snnrl.surrogate import ATan
>>> x = torch.full((3, 1, 1), 0.6, requires_grad=True)
>>> s, v, m = fused_lif(x, torch.zeros(1, 1), torch.tensor(1.0), beta=1.0, reset_delay=True, surrogate=ATan())
>>> s.flatten().tolist(), round(v.item(), 4), tuple(torch.autograd.grad(s.sum(), x)[0].shape)
([0.0, 1.0, 0.0], 0.8, (3, 1, 1))
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from snnrl.jit import compile_kernel, numba_available
from snnrl.surrogate import Surrogate

__all__ = ["fused_lif", "fused_lif_supports"]


def _forward_rows(x, v0, m0, theta, one, beta, a, one_minus_a, reset_delay, selfpred,
                  centred, spikes, drive, v_end, m_end):  # pragma: no cover - compiled by numba
    """The forward of :func:`fused_lif` on ``[T, M]`` rows (``M`` neurons × batch, flattened); ``one`` and every
    scalar come in the arrays' dtype, so each operation rounds as torch's does. Keeps for the backward
    ``centred = p_t − θ`` (the surrogate's argument) and, with self-prediction, ``drive = x_t − θ·s_t − m_{t−1}``
    (``∂m_t/∂a``)."""
    steps, width = x.shape
    v_end[:] = v0
    m_end[:] = m0
    zero = one - one
    for t in range(steps):
        x_t, c_t, s_t, dr_t = x[t], centred[t], spikes[t], drive[t]
        for i in range(width):
            th = theta[i]
            u = x_t[i] + m_end[i] if selfpred else x_t[i]
            if reset_delay:
                r = one if v_end[i] - th >= zero else zero
                p = beta * v_end[i] + u - r * th
            else:
                p = beta * v_end[i] + u
            c = p - th
            s = one if c >= zero else zero
            c_t[i] = c
            s_t[i] = s
            v_end[i] = p if reset_delay else p - s * th
            if selfpred:
                dr_t[i] = x_t[i] - th * s - m_end[i]
                m_end[i] = one_minus_a * m_end[i] + a * (x_t[i] - th * s)


def _backward_rows(grad_spikes, slope, drive, theta, beta, a, one_minus_a, selfpred, reset_grad,
                   grad_v_end, grad_m_end, grad_x, grad_v0, grad_m0):  # pragma: no cover - compiled by numba
    """The backward of :func:`fused_lif` on ``[T, M]`` rows; writes ``grad_x``, ``grad_v0``, ``grad_m0`` and
    returns ``∂L/∂a`` (summed in float64)."""
    steps, width = grad_x.shape
    grad_v0[:] = grad_v_end                                  # ∂L/∂p_t carried from later steps (×β below)
    grad_m0[:] = grad_m_end                                  # ∂L/∂m_t
    grad_a = 0.0
    for t in range(steps - 1, -1, -1):
        g_t, d_t, dr_t, gx_t = grad_spikes[t], slope[t], drive[t], grad_x[t]
        for i in range(width):
            gm = grad_m0[i]
            g = g_t[i] - a * theta[i] * gm if selfpred else g_t[i]
            if reset_grad:                                   # v_t = p_t − θ·s_t, the spike not detached
                g = g - theta[i] * grad_v0[i]
            gp = g * d_t[i] + grad_v0[i]
            if selfpred:
                gx_t[i] = gp + a * gm
                grad_a += gm * dr_t[i]
                grad_m0[i] = gp + one_minus_a * gm
            else:
                gx_t[i] = gp
            grad_v0[i] = beta * gp
    return grad_a


_KERNELS: tuple[Any, Any] | None = None


def _kernels() -> tuple[Any, Any]:
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = (compile_kernel(_forward_rows, "the fused LIF kernels"),
                    compile_kernel(_backward_rows, "the fused LIF kernels"))
    return _KERNELS


def fused_lif_supports(x: torch.Tensor) -> bool:
    """Whether :func:`fused_lif` runs on ``x``: a CPU float32/float64 tensor, with numba installed."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and numba_available("LIF layers run step by step"))


def _rows(t: torch.Tensor) -> np.ndarray:
    """``t [T, ...]`` as a C-contiguous ``[T, M]`` numpy view (or copy); numpy's reshape is cheaper than torch's on
    these small tensors."""
    return np.ascontiguousarray(t.detach().numpy()).reshape(t.shape[0], -1)


def _flat(t: torch.Tensor) -> np.ndarray:
    """``t`` as a C-contiguous 1-D numpy view (or copy)."""
    return np.ascontiguousarray(t.detach().numpy()).reshape(-1)


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, v0: torch.Tensor, m0: torch.Tensor | None, a: torch.Tensor | None,
                theta: torch.Tensor, beta: float, reset_delay: bool, detach_reset: bool,
                surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        forward_rows, _ = _kernels()
        selfpred = m0 is not None
        shape = x.shape[1:]
        xr = _rows(x)
        dtype = xr.dtype.type
        steps, width = xr.shape
        theta_r = _flat(theta.detach().expand(shape))
        centred, spikes = np.empty_like(xr), np.empty_like(xr)
        drive = np.empty_like(xr) if selfpred else np.empty((steps, 0), xr.dtype)
        v_end = np.empty(width, xr.dtype)
        m_end = np.empty(width if selfpred else 0, xr.dtype)
        v0_r = _flat(v0)
        m0_r = _flat(m0) if selfpred else m_end[:0].copy()
        a_c = dtype(a.item()) if selfpred else dtype(0)
        one_minus_a = dtype(1) - a_c                       # in the arrays' dtype, as torch rounds 1 − a
        forward_rows(xr, v0_r, m0_r, theta_r, dtype(1), dtype(beta), a_c, one_minus_a, reset_delay, selfpred,
                     centred, spikes, drive, v_end, m_end)
        ctx.save_for_backward(a if selfpred else None)
        ctx.arrays = (theta_r, centred, drive)
        ctx.consts = (dtype(beta), a_c, one_minus_a, selfpred, not (reset_delay or detach_reset), surrogate, x.shape)
        as_t = torch.from_numpy
        return (as_t(spikes.reshape(x.shape)), as_t(v_end.reshape(shape)),
                as_t(m_end.reshape(shape)) if selfpred else None)

    @staticmethod
    def backward(ctx: Any, grad_spikes: torch.Tensor, grad_v: torch.Tensor | None,
                 grad_m: torch.Tensor | None) -> tuple[Any, ...]:
        _, backward_rows = _kernels()
        (a,) = ctx.saved_tensors
        theta_r, centred, drive = ctx.arrays
        beta, a_c, one_minus_a, selfpred, reset_grad, surrogate, x_shape = ctx.consts
        steps, width = centred.shape
        slope = _rows(surrogate.derivative(torch.from_numpy(centred)))
        zeros = np.zeros(width, centred.dtype)
        g_v = zeros if grad_v is None else _flat(grad_v)
        g_m = (zeros if grad_m is None else _flat(grad_m)) if selfpred else zeros[:0]
        grad_x, grad_v0 = np.empty_like(centred), np.empty(width, centred.dtype)
        grad_m0 = np.empty(g_m.size, centred.dtype)
        grad_a = backward_rows(_rows(grad_spikes), slope, drive, theta_r, beta, a_c, one_minus_a, selfpred,
                               reset_grad, g_v, g_m, grad_x, grad_v0, grad_m0)
        shape = x_shape[1:]
        gx, gv0 = torch.from_numpy(grad_x.reshape(x_shape)), torch.from_numpy(grad_v0.reshape(shape))
        if not selfpred:
            return gx, gv0, None, None, None, None, None, None, None
        ga = torch.tensor(grad_a, dtype=a.dtype).reshape(a.shape)
        return gx, gv0, torch.from_numpy(grad_m0.reshape(shape)), ga, None, None, None, None, None


def fused_lif(x_seq: torch.Tensor, v0: torch.Tensor, theta: torch.Tensor, *, beta: float, reset_delay: bool,
              surrogate: Surrogate, detach_reset: bool = True, m0: torch.Tensor | None = None,
              a: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """All timesteps of a subtractive-reset LIF (or IF, ``β = 1``) layer in one autograd node (see the module
    docstring).

    Parameters
    ----------
    x_seq
        Input currents ``[T, B, ...]`` (CPU, float32 or float64: :func:`fused_lif_supports`).
    v0
        Start potential ``[B, ...]`` (the neuron's state ``"v"``).
    theta
        Threshold, broadcastable to ``[B, ...]`` (no gradient).
    beta, reset_delay, surrogate
        The neuron's decay, reset form and surrogate gradient.
    detach_reset
        Whether the immediate reset passes no gradient (ignored with ``reset_delay``, whose reset never does).
    m0, a
        Self-prediction memory ``[B, ...]`` and its rate ``a = sigmoid(ω)`` (0-d); both or neither.

    Returns
    -------
    spikes, v, m
        Spikes ``[T, B, ...]``, the end potential (state ``"v"``) and the end memory (``None`` without ``m0``).
    """
    if (m0 is None) != (a is None):
        raise ValueError("fused_lif: pass both m0 and a (self-prediction) or neither.")
    if not fused_lif_supports(x_seq):
        raise ValueError(f"fused_lif runs on CPU float32/float64 tensors with numba installed, got a "
                         f"{x_seq.dtype} tensor on {x_seq.device}; run the neuron step by step there.")
    dtype = x_seq.dtype
    return _FusedLIF.apply(x_seq, v0.to(dtype), None if m0 is None else m0.to(dtype),
                           None if a is None else a.to(dtype), theta.to(dtype), float(beta), bool(reset_delay),
                           bool(detach_reset), surrogate)


def _warm_cache() -> int:
    """Compile the kernels into numba's disk cache for float32 and float64 (``python -m snnrl.fused_lif``); the
    neuron forms are run-time flags, so one call per dtype compiles everything."""
    if not numba_available("LIF layers run step by step"):
        return 0
    from snnrl.surrogate import ATan
    for dtype in (torch.float32, torch.float64):
        x = torch.ones(2, 1, 2, dtype=dtype, requires_grad=True)
        s, _, _ = fused_lif(x, torch.zeros(1, 2, dtype=dtype), torch.tensor(1.0, dtype=dtype), beta=0.5,
                            reset_delay=True, surrogate=ATan(), m0=torch.zeros(1, 2, dtype=dtype),
                            a=torch.tensor(0.5, dtype=dtype))
        s.sum().backward()
    print("snnrl: fused LIF kernels compiled and cached.")
    return 0


if __name__ == "__main__":
    sys.exit(_warm_cache())
