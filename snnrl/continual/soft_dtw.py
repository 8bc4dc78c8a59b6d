r"""Soft-DTW and the Soft-DTW divergence between batches of sequences, with an analytic backward.

Soft-DTW (Cuturi & Blondel, ICML 2017) replaces the ``min`` of dynamic time warping by a smooth
soft-min, which makes the alignment cost differentiable. STAER uses it to align the per-timestep
output logits of a spiking network with stored ones.

Equations
---------
For sequences ``x[b]`` of length ``N`` and ``y[b]`` of length ``M`` (features ``D``) the cost
matrix is half the squared Euclidean distance::

    C[b, i, j] = 0.5 * ||x[b, i] - y[b, j]||^2

The soft-min with smoothing ``gamma > 0`` is ``softmin_gamma(a) = -gamma * log(sum_k exp(-a_k / gamma))``
(computed with a max-shifted log-sum-exp, so it never overflows). With 1-based indices, the
accumulated cost ``R`` is::

    R[0, 0] = 0,    R[i, 0] = R[0, j] = +inf    (i, j >= 1)
    R[i, j] = C[i, j] + softmin_gamma(R[i-1, j-1], R[i-1, j], R[i, j-1])

and ``soft_dtw(x, y) = R[N, M]``. Cell ``(i, j)`` only needs cells of the anti-diagonals
``i + j - 1`` and ``i + j - 2``, so the forward loops over the ``N + M - 1`` anti-diagonals and
updates every cell of one anti-diagonal, for the whole batch, with one set of tensor operations.

The backward is Algorithm 2 of Cuturi & Blondel: the alignment matrix
``E[i, j] = dR[N, M] / dC[i, j]`` obeys, on the same anti-diagonals visited in reverse order::

    E[N, M] = 1
    E[i, j] = E[i+1, j]   * exp((R[i+1, j]   - C[i+1, j]   - R[i, j]) / gamma)
            + E[i, j+1]   * exp((R[i, j+1]   - C[i, j+1]   - R[i, j]) / gamma)
            + E[i+1, j+1] * exp((R[i+1, j+1] - C[i+1, j+1] - R[i, j]) / gamma)

with terms that leave the ``N x M`` grid dropped. Every exponent is ``<= 0`` (``R - C`` is a
soft-min, hence below each of its arguments), so nothing overflows. The gradient of the value with
respect to ``C`` is ``E``; the gradient with respect to ``x`` and ``y`` follows by autograd through
the (ordinary torch) computation of ``C``.

On CPU both recursions, the cost and its gradients run in two compiled calls (numba, float64; see "CPU kernels"
below); on other devices, or without numba, in torch.

The Soft-DTW divergence (Blondel, Mensch & Vert, AISTATS 2021) removes the entropic bias of
Soft-DTW so that ``D(x, x) = 0`` and ``D(x, y) >= 0``::

    D(x, y) = sdtw(x, y) - 0.5 * sdtw(x, x) - 0.5 * sdtw(y, y)

optionally divided by the mean length ``(N + M) / 2``.

Note: tslearn (and the reference ``sdtw`` package) use the full squared distance ``||x_i - y_j||^2``
without the factor ``0.5``. The two conventions are related exactly by
``soft_dtw(x, y, gamma=g) == tslearn.metrics.soft_dtw(x / sqrt(2), y / sqrt(2), gamma=g)``.

Example
-------
>>> import torch
>>> x = torch.tensor([[[0.0], [1.0]]])  # B=1, N=2, D=1
>>> y = torch.tensor([[[0.0], [2.0]]])  # B=1, M=2, D=1
>>> soft_dtw(x, y, gamma=1.0)
tensor([-0.0550])
>>> soft_dtw_divergence(x, x)
tensor([0.])
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from snnrl.jit import compile_kernel, numba_available

__all__ = ["soft_dtw", "soft_dtw_divergence", "SoftDTWDivergence"]

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


def _check_gamma(gamma: float) -> float:
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a positive finite number; received {gamma!r}. Pass e.g. gamma=1.0.") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(
            f"gamma must be a positive finite number (gamma > 0); received gamma={gamma!r}. "
            "Pass e.g. gamma=1.0 (smaller values approach hard DTW)."
        )
    return value


def _check_sequences(x: torch.Tensor, y: torch.Tensor, *, finite: bool = True) -> None:
    """Shapes, dtypes and devices of a pair of batches; also finite values unless ``finite=False`` (the caller
    then checks with :func:`_check_finite`)."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape [B, T, D]; received {type(t).__name__}.")
        if t.dim() != 3:
            raise ValueError(
                f"{name} must be 3-D with shape [B, T, D] (batch, time, features); received shape "
                f"{tuple(t.shape)}. Add the missing axes, e.g. {name}.unsqueeze(0) for a single sequence "
                f"[T, D] or {name}.unsqueeze(-1) for 1-D features [B, T]."
            )
        if not t.is_floating_point():
            raise ValueError(
                f"{name} must have a floating-point dtype (float32 or float64); received {t.dtype}. "
                f"Convert it with {name}.float() or {name}.double()."
            )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"batch sizes differ: x has shape {tuple(x.shape)} and y has shape {tuple(y.shape)}; expected "
            "x: [B, N, D] and y: [B, M, D] with the same B. Pair the sequences one to one."
        )
    if x.shape[2] != y.shape[2]:
        raise ValueError(
            f"feature dimensions differ: x has shape {tuple(x.shape)} and y has shape {tuple(y.shape)}; "
            "expected x: [B, N, D] and y: [B, M, D] with the same D. Project both to the same feature size."
        )
    if x.shape[0] == 0 or x.shape[1] == 0 or y.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(
            f"empty input: x has shape {tuple(x.shape)} and y has shape {tuple(y.shape)}; expected "
            "B >= 1, N >= 1, M >= 1 and D >= 1. Drop empty sequences before calling."
        )
    if x.dtype != y.dtype:
        raise ValueError(
            f"dtypes differ: x is {x.dtype} and y is {y.dtype}; expected the same dtype. "
            "Convert one of them, e.g. y.to(x.dtype)."
        )
    if x.device != y.device:
        raise ValueError(
            f"devices differ: x is on {x.device} and y is on {y.device}; expected the same device. "
            "Move one of them, e.g. y.to(x.device)."
        )
    if finite:
        _check_finite(x, y)


def _check_finite(x: torch.Tensor, y: torch.Tensor) -> None:
    for name, t in (("x", x), ("y", y)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"{name} contains NaN or infinite values (shape {tuple(t.shape)}); expected finite values. "
                "Check the upstream computation or mask the non-finite entries."
            )


def _half_squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``C[b, i, j] = 0.5 * ||x[b, i] - y[b, j]||^2`` for ``x: [B, N, D]``, ``y: [B, M, D]``."""
    diff = x.unsqueeze(2) - y.unsqueeze(1)  # [B, N, M, D]; exact (no cancellation), fine for STAER sizes
    return 0.5 * diff.pow(2).sum(dim=-1)


def _diagonal_bounds(d: int, n: int, m: int) -> tuple[int, int]:
    """1-based rows ``i`` of the cells ``(i, d - i)`` of anti-diagonal ``d`` inside ``[1, n] x [1, m]``."""
    return max(1, d - m), min(n, d - 1)


def _accumulated_cost(cost: torch.Tensor, gamma: float) -> torch.Tensor:
    """The Soft-DTW table ``R`` of shape ``[B, N + 1, M + 1]`` (row and column 0 are the borders).

    Stored flat with row width ``M + 1``: cell ``(i, j)`` sits at ``i * (M + 1) + j``, so the cells of
    anti-diagonal ``d = i + j`` are ``i * M + d`` (a slice of step ``M``) and their predecessors
    ``(i-1, j-1)``, ``(i-1, j)`` and ``(i, j-1)`` are the same slice shifted by ``M + 2``, ``M + 1`` and ``1``.
    """
    batch, n, m = cost.shape
    width = m + 1
    table = torch.full((batch, (n + 1) * width), math.inf, dtype=cost.dtype, device=cost.device)
    table[:, 0] = 0.0
    padded_cost = torch.zeros((batch, n + 1, width), dtype=cost.dtype, device=cost.device)
    padded_cost[:, 1:, 1:] = cost
    padded_cost = padded_cost.view(batch, -1)
    for d in range(2, n + m + 1):
        lo, hi = _diagonal_bounds(d, n, m)
        start, stop = lo * m + d, hi * m + d + 1
        cells = slice(start, stop, m)
        predecessors = torch.stack(
            (
                table[:, start - width - 1 : stop - width - 1 : m],
                table[:, start - width : stop - width : m],
                table[:, start - 1 : stop - 1 : m],
            )
        )
        softmin = torch.logsumexp(predecessors.div(-gamma), dim=0).mul_(-gamma)
        table[:, cells] = padded_cost[:, cells] + softmin
    return table.view(batch, n + 1, width)


def _alignment_matrix(cost: torch.Tensor, table: torch.Tensor, gamma: float) -> torch.Tensor:
    """``E = dR[N, M] / dC`` of shape ``[B, N, M]`` by the backward recursion (Cuturi & Blondel, Alg. 2)."""
    batch, n, m = cost.shape
    width = m + 2
    # R and C on an (N + 2) x (M + 2) grid: R = -inf past the last row / column (so those terms vanish),
    # except R[N+1, M+1] = R[N, M] with C[N+1, M+1] = 0, which seeds E[N, M] = 1.
    r = torch.full((batch, n + 2, width), -math.inf, dtype=cost.dtype, device=cost.device)
    r[:, 1 : n + 1, 1 : m + 1] = table[:, 1:, 1:]
    r[:, n + 1, m + 1] = table[:, n, m]
    c = torch.zeros((batch, n + 2, width), dtype=cost.dtype, device=cost.device)
    c[:, 1 : n + 1, 1 : m + 1] = cost
    inner = r[:, 1 : n + 1, 1 : m + 1]
    # Weights of the three successors of every cell; each exponent is <= 0 or -inf.
    weights = torch.zeros((3, batch, n + 2, width), dtype=cost.dtype, device=cost.device)
    weights[0, :, 1 : n + 1, 1 : m + 1] = (r[:, 2:, 1 : m + 1] - c[:, 2:, 1 : m + 1] - inner).div_(gamma).exp_()
    weights[1, :, 1 : n + 1, 1 : m + 1] = (r[:, 1 : n + 1, 2:] - c[:, 1 : n + 1, 2:] - inner).div_(gamma).exp_()
    weights[2, :, 1 : n + 1, 1 : m + 1] = (r[:, 2:, 2:] - c[:, 2:, 2:] - inner).div_(gamma).exp_()
    down, right, diagonal = weights.view(3, batch, -1).unbind(0)
    # Flat index of (i, j) is i * (M + 2) + j; on anti-diagonal d that is i * (M + 1) + d (step M + 1);
    # the successors (i+1, j), (i, j+1), (i+1, j+1) are shifted by M + 2, 1 and M + 3.
    e = torch.zeros((batch, (n + 2) * width), dtype=cost.dtype, device=cost.device)
    e[:, (n + 1) * width + m + 1] = 1.0
    step = m + 1
    for d in range(n + m, 1, -1):
        lo, hi = _diagonal_bounds(d, n, m)
        start, stop = lo * step + d, hi * step + d + 1
        cells = slice(start, stop, step)
        e[:, cells] = (
            e[:, start + width : stop + width : step] * down[:, cells]
            + e[:, start + 1 : stop + 1 : step] * right[:, cells]
            + e[:, start + width + 1 : stop + width + 1 : step] * diagonal[:, cells]
        )
    return e.view(batch, n + 2, width)[:, 1 : n + 1, 1 : m + 1]


class _SoftDTWFromCost(torch.autograd.Function):
    """``R[N, M]`` from a cost matrix ``[B, N, M]`` (torch recursion); backward returns ``E * grad_output``."""

    @staticmethod
    def forward(ctx, cost: torch.Tensor, gamma: float) -> torch.Tensor:  # type: ignore[override]
        cost = cost.detach()
        ctx.gamma = gamma
        table = _accumulated_cost(cost, gamma)
        ctx.save_for_backward(cost, table)
        return table[:, -1, -1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        saved, table = ctx.saved_tensors
        return _alignment_matrix(saved, table, ctx.gamma) * grad_output.view(-1, 1, 1), None


# -- CPU kernels ------------------------------------------------------------------------------------
# A batch of short sequences makes anti-diagonals of a few cells, so the torch recursion above spends its time in
# dispatch. On CPU (numba installed) one compiled call per direction does everything for every pair, the cost
# included, in float64 and in scaled units ``Q = -R / gamma``, ``c = -C / gamma``, where the soft-min is a
# log-sum-exp over the three predecessors ``a = Q[i-1, j-1]``, ``u = Q[i-1, j]``, ``v = Q[i, j-1]``:
#     Q[i, j] = c[i, j] + top + log(exp(a - top) + exp(u - top) + exp(v - top)),   top = max(a, u, v)
# (the term of ``top`` is exp(0) = 1, so a cell costs two exp and one log). The backward weight of a predecessor,
# ``exp(Q[pred] - Q[i, j] + c[i, j])``, is its share ``exp(Q[pred] - top) / S`` of that soft-min, which the forward
# pass stores (``shares [B, N, M, 3]``): the backward recursion then needs no exp at all. The gradients follow
# from ``E`` directly:
#     d/dx_i = sum_j E[i, j] (x_i - y_j),   d/dy_j = -sum_i E[i, j] (x_i - y_j).


def _pairs_forward(x, y, gamma, table, shares):  # pragma: no cover - compiled by numba
    """Fill ``table [B, N+1, M+1]`` (``Q``) and ``shares [B, N, M, 3]`` (soft-min weights of the predecessors
    ``a``, ``u``, ``v`` of every cell) for every pair."""
    batch, n, dim = x.shape
    m = y.shape[1]
    inv = 1.0 / gamma
    for b in range(batch):
        q, w = table[b], shares[b]
        q[:, :] = -np.inf
        q[0, 0] = 0.0
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                total = 0.0
                for d in range(dim):
                    diff = np.float64(x[b, i - 1, d]) - np.float64(y[b, j - 1, d])
                    total += diff * diff
                a, u, v = q[i - 1, j - 1], q[i - 1, j], q[i, j - 1]
                top = max(a, max(u, v))
                if top == -np.inf:
                    q[i, j] = -np.inf
                    w[i - 1, j - 1, 0] = w[i - 1, j - 1, 1] = w[i - 1, j - 1, 2] = 0.0
                    continue
                ea = 1.0 if a == top else np.exp(a - top)
                eu = 1.0 if u == top else np.exp(u - top)
                ev = 1.0 if v == top else np.exp(v - top)
                norm = ea + eu + ev
                q[i, j] = -0.5 * total * inv + top + np.log(norm)
                scale = 1.0 / norm
                w[i - 1, j - 1, 0], w[i - 1, j - 1, 1], w[i - 1, j - 1, 2] = ea * scale, eu * scale, ev * scale


def _pairs_backward(x, y, shares, grad_out, e, grad_x, grad_y):  # pragma: no cover - compiled by numba
    """``E`` by the backward recursion for every pair (weights from ``shares``), then ``grad_x``, ``grad_y``
    (``grad_out`` per pair)."""
    batch, n, dim = x.shape
    m = y.shape[1]
    for b in range(batch):
        w, eb = shares[b], e[b]
        for i in range(n - 1, -1, -1):                  # 0-based cells; successors (i+1, j) u, (i, j+1) v, (i+1, j+1) a
            for j in range(m - 1, -1, -1):
                if i == n - 1 and j == m - 1:
                    eb[i, j] = 1.0
                    continue
                total = 0.0
                if i < n - 1:
                    total += eb[i + 1, j] * w[i + 1, j, 1]
                if j < m - 1:
                    total += eb[i, j + 1] * w[i, j + 1, 2]
                if i < n - 1 and j < m - 1:
                    total += eb[i + 1, j + 1] * w[i + 1, j + 1, 0]
                eb[i, j] = total
        g = grad_out[b]
        for i in range(n):
            for j in range(m):
                weight = g * eb[i, j]
                if weight == 0.0:
                    continue
                for d in range(dim):
                    diff = weight * (np.float64(x[b, i, d]) - np.float64(y[b, j, d]))
                    grad_x[b, i, d] += diff
                    grad_y[b, j, d] -= diff


_CPU_KERNELS: tuple[Any, Any] | None = None


def _cpu_kernels() -> tuple[Any, Any] | None:
    """The compiled (forward, backward) pair, or ``None`` without numba (then the torch recursion runs)."""
    global _CPU_KERNELS
    if _CPU_KERNELS is None and numba_available("Soft-DTW runs its torch recursion on CPU"):
        _CPU_KERNELS = (compile_kernel(_pairs_forward, "the Soft-DTW kernels"),
                        compile_kernel(_pairs_backward, "the Soft-DTW kernels"))
    return _CPU_KERNELS


class _SoftDTWPairs(torch.autograd.Function):
    """``R[N, M]`` of every pair ``(x[b], y[b])`` on the CPU kernels; backward gives ``d/dx`` and ``d/dy``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:  # type: ignore[override]
        forward, _ = _CPU_KERNELS
        xs, ys = x.detach().contiguous().numpy(), y.detach().contiguous().numpy()
        batch, n, m = xs.shape[0], xs.shape[1], ys.shape[1]
        table = np.empty((batch, n + 1, m + 1))
        shares = np.empty((batch, n, m, 3))
        forward(xs, ys, gamma, table, shares)
        value = table[:, n, m] * -gamma
        if not np.isfinite(value).all():        # every x_i meets every y_j: a NaN or inf in either shows here
            _check_finite(x, y)
        ctx.arrays = (xs, ys, shares)
        return torch.from_numpy(value.astype(xs.dtype, copy=False))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        _, backward = _CPU_KERNELS
        xs, ys, shares = ctx.arrays
        e = np.empty(shares.shape[:3])
        grad_x, grad_y = np.zeros(xs.shape), np.zeros(ys.shape)
        backward(xs, ys, shares, np.ascontiguousarray(grad_output.numpy(), dtype=np.float64), e, grad_x, grad_y)
        return (torch.from_numpy(grad_x.astype(xs.dtype, copy=False)),
                torch.from_numpy(grad_y.astype(ys.dtype, copy=False)), None)


def _soft_dtw_checked(x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """Soft-DTW of inputs whose shapes are checked; raises on non-finite ``x`` or ``y``.

    Every ``x_i`` meets every ``y_j`` in the cost, so a NaN or inf in either makes the value non-finite: one check of
    the value replaces two of the inputs (which then name the culprit)."""
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and _cpu_kernels() is not None:
        return _SoftDTWPairs.apply(x, y, gamma)         # checks its value
    cost = _half_squared_distances(x, y)
    if not bool(torch.isfinite(cost).all()):
        _check_finite(x, y)
    return _SoftDTWFromCost.apply(cost, gamma)


def soft_dtw(x: torch.Tensor, y: torch.Tensor, *, gamma: float = 1.0) -> torch.Tensor:
    """Soft-DTW value between paired sequences, with cost ``0.5 * ||x_i - y_j||^2``.

    Parameters
    ----------
    x : Tensor, shape [B, N, D]
        First sequences (floating point, finite).
    y : Tensor, shape [B, M, D]
        Second sequences; ``M`` may differ from ``N``.
    gamma : float, keyword-only
        Soft-min smoothing, ``> 0`` (default 1.0); smaller approaches hard DTW.

    Returns
    -------
    Tensor, shape [B]
        ``R[N, M]`` per batch element, in the dtype of ``x``; differentiable w.r.t. ``x`` and ``y``.

    Raises
    ------
    ValueError
        On a wrong rank, mismatched batch or feature sizes, an empty sequence, ``gamma <= 0``,
        non-floating or mismatched dtypes, or NaN / infinite entries.
    """
    gamma = _check_gamma(gamma)
    _check_sequences(x, y, finite=False)
    return _soft_dtw_checked(x, y, gamma)


def soft_dtw_divergence(
    x: torch.Tensor, y: torch.Tensor, *, gamma: float = 1.0, normalize: bool = True
) -> torch.Tensor:
    """Soft-DTW divergence ``sdtw(x, y) - 0.5 * sdtw(x, x) - 0.5 * sdtw(y, y)``.

    Parameters
    ----------
    x : Tensor, shape [B, N, D]
        First sequences.
    y : Tensor, shape [B, M, D]
        Second sequences; ``M`` may differ from ``N``.
    gamma : float, keyword-only
        Soft-min smoothing, ``> 0`` (default 1.0).
    normalize : bool, keyword-only
        Divide by the mean length ``(N + M) / 2`` (default True).

    Returns
    -------
    Tensor, shape [B]
        The divergence per batch element: ``0`` when ``x == y``, ``>= 0`` otherwise.

    Raises
    ------
    ValueError
        As :func:`soft_dtw`.
    """
    gamma = _check_gamma(gamma)
    _check_sequences(x, y, finite=False)
    if x.shape[1] == y.shape[1]:
        # One batch of the three pairs (x, y), (x, x), (y, y): the same values per row, a third of the steps.
        xy, xx, yy = _soft_dtw_checked(torch.cat((x, x, y)), torch.cat((y, x, y)), gamma).view(3, -1)
    else:
        xy, xx, yy = _soft_dtw_checked(x, y, gamma), _soft_dtw_checked(x, x, gamma), _soft_dtw_checked(y, y, gamma)
    divergence = xy - 0.5 * xx - 0.5 * yy
    if normalize:
        divergence = divergence / (0.5 * (x.shape[1] + y.shape[1]))
    return divergence


class SoftDTWDivergence(torch.nn.Module):
    """Soft-DTW divergence loss between paired sequences ``[B, N, D]`` and ``[B, M, D]``.

    Parameters
    ----------
    gamma : float, keyword-only
        Soft-min smoothing, ``> 0`` (default 1.0).
    normalize : bool, keyword-only
        Divide each divergence by ``(N + M) / 2`` (default True).
    reduction : {"mean", "sum", "none"}, keyword-only
        Reduction over the batch (default ``"mean"``); ``"none"`` returns shape ``[B]``.
    """

    def __init__(self, *, gamma: float = 1.0, normalize: bool = True, reduction: Reduction = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {_REDUCTIONS}; received {reduction!r}. Pass e.g. reduction='mean'."
            )
        self.gamma = _check_gamma(gamma)
        self.normalize = bool(normalize)
        self.reduction: Reduction = reduction

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Reduced divergence between ``x: [B, N, D]`` and ``y: [B, M, D]``."""
        divergence = soft_dtw_divergence(x, y, gamma=self.gamma, normalize=self.normalize)
        if self.reduction == "mean":
            return divergence.mean()
        if self.reduction == "sum":
            return divergence.sum()
        return divergence

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, normalize={self.normalize}, reduction={self.reduction!r}"


def _warm_cache() -> int:
    """Compile the CPU kernels into numba's disk cache (``python -m snnrl.continual.soft_dtw``; run by ``make``)."""
    if _cpu_kernels() is None:
        return 0
    for dtype in (torch.float32, torch.float64):
        x = torch.zeros(1, 2, 1, dtype=dtype, requires_grad=True)
        soft_dtw_divergence(x, torch.ones(1, 2, 1, dtype=dtype)).sum().backward()
    print("snnrl: Soft-DTW kernels compiled and cached.")
    return 0


if __name__ == "__main__":
    raise SystemExit(_warm_cache())
