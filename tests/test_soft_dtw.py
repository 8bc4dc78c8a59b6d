"""Tests for snnrl.continual.soft_dtw: values and gradients against tslearn, gradcheck, a hand-computed case,
divergence properties and input validation.

Our cost is ``0.5 * ||x_i - y_j||^2``; tslearn's is ``||x_i - y_j||^2``. Scaling both inputs by ``1 / sqrt(2)``
maps one onto the other exactly, at the same gamma, so tslearn is called on ``x / sqrt(2)`` and ``y / sqrt(2)``.
"""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.continual.soft_dtw import SoftDTWDivergence, soft_dtw, soft_dtw_divergence

tslearn_metrics = pytest.importorskip("tslearn.metrics")

SQRT2 = math.sqrt(2.0)


def _random_pair(
    batch: int, n: int, m: int, d: int, *, seed: int, dtype: torch.dtype = torch.float64, scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(batch, n, d, generator=gen, dtype=dtype)
    y = scale * torch.randn(batch, m, d, generator=gen, dtype=dtype)
    return x, y


def _reference_soft_dtw(x: torch.Tensor, y: torch.Tensor, gamma: float) -> float:
    """Plain double loop over the recursion, for one pair ``[N, D]``, ``[M, D]``."""
    n, m = x.shape[0], y.shape[0]
    r = [[math.inf] * (m + 1) for _ in range(n + 1)]
    r[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0.5 * float(((x[i - 1] - y[j - 1]) ** 2).sum())
            prev = (r[i - 1][j - 1], r[i - 1][j], r[i][j - 1])
            low = min(prev)
            r[i][j] = cost + low - gamma * math.log(sum(math.exp(-(p - low) / gamma) for p in prev))
    return r[n][m]


@pytest.mark.parametrize("gamma", [0.1, 1.0, 2.5])
def test_values_match_tslearn(gamma: float) -> None:
    x, y = _random_pair(3, 7, 5, 4, seed=1)
    ours = soft_dtw(x, y, gamma=gamma)
    assert ours.shape == (3,)
    for b in range(3):
        expected = tslearn_metrics.soft_dtw((x[b] / SQRT2).numpy(), (y[b] / SQRT2).numpy(), gamma=gamma)
        assert float(ours[b]) == pytest.approx(float(expected), abs=1e-5)


@pytest.mark.parametrize("gamma", [0.1, 1.0])
def test_gradients_match_tslearn_alignment(gamma: float) -> None:
    x, y = _random_pair(3, 7, 5, 4, seed=2)
    x.requires_grad_(True)
    y.requires_grad_(True)
    soft_dtw(x, y, gamma=gamma).sum().backward()
    for b in range(3):
        xb, yb = x[b].detach(), y[b].detach()
        # tslearn's torch backend (float64) avoids a second numba compilation; same algorithm as its numpy path.
        alignment, value = tslearn_metrics.soft_dtw_alignment(xb / SQRT2, yb / SQRT2, gamma=gamma)
        alignment = torch.as_tensor(alignment, dtype=torch.float64)
        # dC[i, j]/dx_i = x_i - y_j and dC[i, j]/dy_j = y_j - x_i for C = 0.5 * ||x_i - y_j||^2.
        difference = xb[:, None, :] - yb[None, :, :]
        expected_grad_x = (alignment[:, :, None] * difference).sum(dim=1)
        expected_grad_y = -(alignment[:, :, None] * difference).sum(dim=0)
        torch.testing.assert_close(x.grad[b], expected_grad_x, atol=1e-5, rtol=0)
        torch.testing.assert_close(y.grad[b], expected_grad_y, atol=1e-5, rtol=0)


def test_values_match_reference_loop_for_edge_lengths() -> None:
    for n, m in [(1, 1), (1, 4), (4, 1), (6, 6)]:
        x, y = _random_pair(2, n, m, 3, seed=10 + n * 7 + m)
        ours = soft_dtw(x, y, gamma=0.5)
        for b in range(2):
            assert float(ours[b]) == pytest.approx(_reference_soft_dtw(x[b], y[b], 0.5), abs=1e-10)


def test_gradcheck_small_float64() -> None:
    x, y = _random_pair(2, 4, 3, 2, seed=3)
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw(a, b, gamma=0.7), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw_divergence(a, b, gamma=0.7), (x, y))


def test_hand_computed_two_by_two() -> None:
    x = torch.tensor([[[0.0], [1.0]]], dtype=torch.float64)
    y = torch.tensor([[[0.0], [2.0]]], dtype=torch.float64)
    # C = 0.5 * (x_i - y_j)^2 = [[0, 2], [0.5, 0.5]]
    # R11 = 0 + softmin(0, inf, inf) = 0;  R12 = 2 + R11 = 2;  R21 = 0.5 + R11 = 0.5
    # R22 = 0.5 + softmin(R11, R12, R21) = 0.5 - log(exp(0) + exp(-2) + exp(-0.5))
    expected = 0.5 - math.log(1.0 + math.exp(-2.0) + math.exp(-0.5))
    assert float(soft_dtw(x, y, gamma=1.0)[0]) == pytest.approx(expected, abs=1e-12)
    # With gamma = 0.5 the soft-min divides by gamma first: -0.5 * log(exp(0) + exp(-4) + exp(-1)).
    expected_half = 0.5 - 0.5 * math.log(1.0 + math.exp(-4.0) + math.exp(-1.0))
    assert float(soft_dtw(x, y, gamma=0.5)[0]) == pytest.approx(expected_half, abs=1e-12)


def test_small_gamma_and_large_costs_stay_finite() -> None:
    x, y = _random_pair(2, 9, 6, 3, seed=4, scale=30.0)
    x.requires_grad_(True)
    value = soft_dtw(x, y, gamma=1e-3)
    value.sum().backward()
    assert torch.isfinite(value).all()
    assert torch.isfinite(x.grad).all()
    for b in range(2):  # gamma -> 0 approaches hard DTW; the loop reference handles it the same way
        assert float(value[b].detach()) == pytest.approx(_reference_soft_dtw(x[b].detach(), y[b], 1e-3), rel=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept(dtype: torch.dtype) -> None:
    x, y = _random_pair(2, 5, 4, 3, seed=5, dtype=dtype)
    x.requires_grad_(True)
    value = soft_dtw(x, y)
    value.sum().backward()
    assert value.dtype == dtype
    assert x.grad is not None and x.grad.dtype == dtype
    reference = soft_dtw(x.detach().double(), y.double())
    torch.testing.assert_close(value.detach().double(), reference, atol=1e-4, rtol=1e-5)


def test_divergence_is_zero_on_identical_inputs() -> None:
    x, _ = _random_pair(3, 6, 6, 4, seed=6)
    for gamma in (0.1, 1.0):
        divergence = soft_dtw_divergence(x, x.clone(), gamma=gamma)
        torch.testing.assert_close(divergence, torch.zeros(3, dtype=x.dtype), atol=1e-6, rtol=0)


@pytest.mark.parametrize("gamma", [0.1, 1.0, 5.0])
def test_divergence_is_non_negative(gamma: float) -> None:
    for seed in range(4):
        x, y = _random_pair(4, 6, 4 + seed, 3, seed=20 + seed)
        assert (soft_dtw_divergence(x, y, gamma=gamma) >= -1e-9).all()


def test_divergence_definition_and_normalization() -> None:
    x, y = _random_pair(3, 7, 5, 4, seed=7)
    raw = soft_dtw_divergence(x, y, gamma=0.5, normalize=False)
    expected = soft_dtw(x, y, gamma=0.5) - 0.5 * soft_dtw(x, x, gamma=0.5) - 0.5 * soft_dtw(y, y, gamma=0.5)
    torch.testing.assert_close(raw, expected)
    torch.testing.assert_close(soft_dtw_divergence(x, y, gamma=0.5), raw / ((7 + 5) / 2))


def test_module_reductions_and_backward() -> None:
    x, y = _random_pair(3, 5, 6, 2, seed=8)
    per_element = soft_dtw_divergence(x, y, gamma=0.3)
    torch.testing.assert_close(SoftDTWDivergence(gamma=0.3)(x, y), per_element.mean())
    torch.testing.assert_close(SoftDTWDivergence(gamma=0.3, reduction="sum")(x, y), per_element.sum())
    torch.testing.assert_close(SoftDTWDivergence(gamma=0.3, reduction="none")(x, y), per_element)
    x.requires_grad_(True)
    SoftDTWDivergence()(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="reduction must be one of"):
        SoftDTWDivergence(reduction="max")  # type: ignore[arg-type]


def _bad_calls() -> list[tuple[str, torch.Tensor, torch.Tensor, float, str]]:
    x = torch.zeros(2, 4, 3)
    y = torch.zeros(2, 5, 3)
    nan_x = x.clone()
    nan_x[1, 2, 0] = math.nan
    return [
        ("rank", torch.zeros(4, 3), y, 1.0, r"must be 3-D with shape \[B, T, D\].*received shape \(4, 3\)"),
        ("batch", x, torch.zeros(3, 5, 3), 1.0, "batch sizes differ"),
        ("features", x, torch.zeros(2, 5, 2), 1.0, "feature dimensions differ"),
        ("empty", torch.zeros(2, 0, 3), y, 1.0, "empty input"),
        ("gamma zero", x, y, 0.0, r"gamma must be a positive finite number \(gamma > 0\)"),
        ("gamma negative", x, y, -1.0, r"gamma must be a positive finite number"),
        ("nan", nan_x, y, 1.0, "x contains NaN or infinite values"),
        ("integer", x.long(), y, 1.0, "floating-point dtype"),
        ("dtype", x, y.double(), 1.0, "dtypes differ"),
    ]


@pytest.mark.parametrize("case", _bad_calls(), ids=lambda case: case[0])
def test_invalid_inputs_raise_clear_errors(case: tuple[str, torch.Tensor, torch.Tensor, float, str]) -> None:
    _, x, y, gamma, pattern = case
    with pytest.raises(ValueError, match=pattern):
        soft_dtw(x, y, gamma=gamma)
    with pytest.raises(ValueError, match=pattern):
        soft_dtw_divergence(x, y, gamma=gamma)
    if case[0] not in ("gamma zero", "gamma negative"):
        with pytest.raises(ValueError, match=pattern):
            SoftDTWDivergence()(x, y)
    else:
        with pytest.raises(ValueError, match=pattern):
            SoftDTWDivergence(gamma=gamma)


@pytest.mark.parametrize("n, m", [(1, 1), (1, 4), (5, 1), (4, 4), (6, 9), (9, 6)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_kernels_match_the_torch_recursion(n: int, m: int, dtype: torch.dtype) -> None:
    """CPU tensors take the compiled kernels (cost, recursions and gradients in one call each); other devices, and
    CPU without numba, the torch recursion. Both give the same values and gradients."""
    pytest.importorskip("numba")
    from snnrl.continual.soft_dtw import _SoftDTWFromCost, _half_squared_distances, _soft_dtw_checked

    x, y = _random_pair(3, n, m, 4, seed=20 + n * 10 + m)
    x, y = x.to(dtype).requires_grad_(), y.to(dtype).requires_grad_()
    gamma, weights = 0.7, torch.tensor([1.0, -0.5, 2.0], dtype=dtype)
    fast = _soft_dtw_checked(x, y, gamma)
    gx, gy = torch.autograd.grad((fast * weights).sum(), (x, y))
    ref = _SoftDTWFromCost.apply(_half_squared_distances(x, y), gamma)
    rx, ry = torch.autograd.grad((ref * weights).sum(), (x, y))
    tol = {"atol": 1e-10, "rtol": 1e-10} if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-5}
    assert fast.dtype == gx.dtype == gy.dtype == dtype
    torch.testing.assert_close(fast, ref, **tol)
    torch.testing.assert_close(gx, rx, **tol)
    torch.testing.assert_close(gy, ry, **tol)
