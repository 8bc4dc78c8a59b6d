"""The hyper-parameters of the continual strategies (one source of their defaults; no Avalanche import)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STRATEGIES", "BUFFER_UPDATES", "BUFFER_UPDATE", "NEURONS", "LIF_NEURONS", "LIF_BETA", "OPTIMIZERS",
           "ERConfig", "DERPPConfig", "STAERConfig"]

STRATEGIES = ("naive", "er", "derpp", "staer")

BUFFER_UPDATES = ("reservoir", "class-balanced")
"""Replay-buffer update rules (:func:`snnrl.continual.buffer.make_buffer`): ``reservoir``, every training batch is
offered to a reservoir and extra fields (logits) are recorded at insertion (the DER paper's and Mammoth's rule);
``class-balanced``, at the end of every experience the capacity is split equally over the classes seen and the new
classes get a uniform sample, their fields recorded by the model trained on them (Avalanche's ``DER`` rule)."""
BUFFER_UPDATE = "reservoir"
"""The library default of :data:`BUFFER_UPDATES`."""

NEURONS = ("lif", "plif", "selfpred-lif", "atmn", "relu")
"""Hidden neurons of the continual backbones by name (:func:`snnrl.continual.backbones.named_neuron`): the STAER
LIF, parametric LIF, LIF with a self-prediction current, the ternary ATMN neuron; ``relu`` is the non-spiking twin
(:class:`snnrl.neurons.ReLUUnit`)."""

LIF_NEURONS = ("lif", "selfpred-lif")
"""The neurons of :data:`NEURONS` built on the STAER LIF, whose decay ``lif_beta`` sets."""

LIF_BETA = 0.5
"""Membrane decay of the backbones' LIF-based hidden neurons (the STAER reference's LIF)."""

OPTIMIZERS = ("adamw", "sgd", "sgd-cosine")
"""``adamw``: AdamW with a cosine schedule restarted at every experience (the STAER reference's setup); ``sgd``:
plain SGD at a constant rate (the DER paper's, and Avalanche's ANN rows'); ``sgd-cosine``: plain SGD with the
cosine schedule restarted at every experience."""


@dataclass(frozen=True)
class ERConfig:
    """Experience replay: ``minibatch_size`` buffer samples join each batch (``None``: the batch size)."""

    buffer_size: int = 200
    minibatch_size: int | None = None


@dataclass(frozen=True)
class DERPPConfig:
    """DER++: ``alpha`` weighs the logit-matching MSE, ``beta`` the buffer cross-entropy (our defaults;
    the DER paper tunes both per data set and buffer size)."""

    buffer_size: int = 200
    minibatch_size: int | None = None
    alpha: float = 0.5
    beta: float = 0.5


@dataclass(frozen=True)
class STAERConfig:
    """STAER, named as in the methods notes, with the reference values as defaults.

    ``alignment=False`` drops the Soft-DTW term (ablation); ``expansion_contraction=False`` keeps only the
    ``T``-vs-``T`` term (``α1 = α2 = 0``, ablation). ``logit_alpha`` adds DER++'s logit replay beside the
    alignment, ``logit_alpha·MSE(f(x), z_T)`` on the same replayed batch (not in the reference: 0, off).
    """

    buffer_size: int = 200
    minibatch_size: int | None = None
    alpha1: float = 0.5
    alpha2: float = 0.5
    beta: float = 1e-4
    gamma: float = 1.0
    normalize: bool = True
    alignment: bool = True
    expansion_contraction: bool = True
    logit_alpha: float = 0.0
