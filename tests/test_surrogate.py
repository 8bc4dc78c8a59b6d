import math

import pytest
import torch

from snnrl.surrogate import ATan, FastSigmoid, Sigmoid, Triangle, surrogate_from_name

X = torch.linspace(-2, 2, 41)


def _grad(surrogate, x):
    x = x.clone().requires_grad_(True)
    y = surrogate(x)
    y.sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize(
    "surrogate, formula",
    [
        (ATan(2.0), lambda x: 1.0 / (1 + (math.pi * x) ** 2)),
        (ATan(3.0), lambda x: 1.5 / (1 + (1.5 * math.pi * x) ** 2)),
        (Sigmoid(4.0), lambda x: 4 * torch.sigmoid(4 * x) * (1 - torch.sigmoid(4 * x))),
        (FastSigmoid(25.0), lambda x: 1 / (1 + 25 * x.abs()) ** 2),
        (Triangle(0.5), lambda x: torch.clamp(1 - x.abs() / 0.5, min=0) / 0.5),
    ],
)
def test_surrogate_gradient_equals_formula(surrogate, formula):
    y, grad = _grad(surrogate, X)
    assert torch.equal(y, (X >= 0).float())
    assert torch.allclose(grad, formula(X), atol=1e-7)


def test_atan_matches_snntorch():
    from snntorch import surrogate as snn_surrogate

    x = X.clone().requires_grad_(True)
    snn_surrogate.atan(alpha=2.0)(x).sum().backward()
    _, ours = _grad(ATan(2.0), X)
    assert torch.allclose(ours, x.grad, atol=1e-7)


def test_triangle_has_unit_area():
    x = torch.linspace(-3, 3, 60001)
    area = torch.trapezoid(Triangle(0.7).derivative(x), x)
    assert area.item() == pytest.approx(1.0, abs=1e-4)


def test_surrogate_from_name():
    assert surrogate_from_name("atan") == ATan()
    with pytest.raises(ValueError, match="Unknown surrogate"):
        surrogate_from_name("relu")
