"""NeuroBench's metric set (Yik et al., *NeuroBench*, Nature Communications 2025) from our operation counter.

Definitions, as the ``neurobench`` package (2.3.0) computes them, per sample of the measured run:

* **synaptic operations** — ``effective_macs``: multiply-accumulates of synaptic layers whose input is not spikes
  (``output elements × fan-in``); ``effective_acs``: accumulates of layers fed spikes (``Σ non-zero inputs ×
  fan-out``); ``dense_synops``: every synaptic layer counted dense, whatever its input;
* **activation sparsity** — zero neuron outputs / all neuron outputs, over layers, timesteps and samples;
* **membrane updates** — neuron state updates (every neuron at every timestep; NeuroBench counts only the
  potentials that changed, which is the same number unless a potential stays exactly equal for a step);
* **footprint** — bytes of parameters and buffers; **connection sparsity** — zero weights / all weights of the
  synaptic (Linear, Conv) layers; **parameter count**.

Where we differ from the package: its *effective* operations skip every zero weight and every zero input (it
multiplies binarised inputs by binarised weights), while our counter counts a dense layer's MACs in full and a
spike-fed layer's accumulates as ``non-zero inputs × fan-out`` (hardware that does not skip zero weights). The
numbers are equal when the synaptic layers have no zero weights (``connection_sparsity == 0``) and analog inputs
have no exact zeros — the case of converted actors and of backbones on zero-free inputs (tested against
``neurobench`` 2.3.0 in ``tests/test_neurobench.py``). The package counts membrane updates only for snnTorch
neurons (0 for ours).

The counts come from :class:`~snnrl.opcount.OperationCounter` hooks on ``net`` while ``run()`` executes (twice:
once counting spike inputs as accumulates, once dense), so ``run`` must be deterministic. Like the package, they
count the work as it ran: a layer that :class:`~snnrl.layers.MultiStep` computed once on a static input repeated
over time (a backbone's first layer under direct coding) counts once
(:meth:`~snnrl.opcount.OperationCounter.computed_summary`). It takes any callable,
e.g. ``lambda: actor(obs, 16)`` for a converted actor or ``lambda: backbone(images)`` for a continual backbone.

Example
-------
>>> import torch
>>> from snnrl.layers import SpikingSequential
>>> from snnrl.neurons import IFNeuron
>>> net = SpikingSequential(torch.nn.Linear(4, 3), IFNeuron(), torch.nn.Linear(3, 2))
>>> x = torch.full((2, 1, 4), 0.5)                  # T=2, one sample
>>> m = neurobench_metrics(net, lambda: net(x), samples=1)
>>> m.effective_macs, m.dense_synops, m.membrane_updates   # 2 x 3 x 4 MACs; dense adds 2 x 2 x 3
(24.0, 36.0, 6.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from snnrl.opcount import OperationCounter

__all__ = ["NeuroBenchMetrics", "neurobench_metrics", "footprint_bytes", "connection_sparsity"]

_SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class NeuroBenchMetrics:
    """NeuroBench's static and workload metrics of one network on one run (workload metrics per sample)."""

    effective_macs: float
    effective_acs: float
    dense_synops: float
    activation_sparsity: float
    membrane_updates: float
    footprint_bytes: int
    connection_sparsity: float
    parameter_count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def footprint_bytes(net: nn.Module) -> int:
    """Bytes of ``net``'s parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))


def connection_sparsity(net: nn.Module) -> float:
    """Zero weights over all weights of ``net``'s Linear / Conv layers (0 when it has none)."""
    weights = [m.weight for m in net.modules() if isinstance(m, _SYNAPTIC)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total if total else 0.0


def neurobench_metrics(net: nn.Module, run: Callable[[], Any], *, samples: int) -> NeuroBenchMetrics:
    """NeuroBench's metric set of ``net`` on the work ``run()`` does; ``samples`` is the batch the workload
    metrics are divided by."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an integer >= 1 (the batch run() processes), got {samples!r}.")
    with torch.no_grad():
        with OperationCounter(net) as counter:
            run()
        with OperationCounter(net, dense=True) as dense:
            run()
    ops, dense_ops = counter.computed_summary(), dense.computed_summary()   # as NeuroBench counts: what ran
    sparsity = 1.0 - ops.spikes / ops.neuron_updates if ops.neuron_updates else 0.0
    return NeuroBenchMetrics(effective_macs=ops.macs / samples, effective_acs=ops.accumulates / samples,
                             dense_synops=dense_ops.macs / samples, activation_sparsity=sparsity,
                             membrane_updates=ops.neuron_updates / samples, footprint_bytes=footprint_bytes(net),
                             connection_sparsity=connection_sparsity(net),
                             parameter_count=sum(p.numel() for p in net.parameters()))
