"""A network's whole spiking state as one object.

:func:`capture_state` copies the state of every stateful module (anything with ``get_state`` /
``set_state`` / ``reset_state``, e.g. the neurons of :mod:`snnrl.neurons`) into a :class:`NetworkState`;
:func:`restore_state` writes it back, checking that it fits. A :class:`NetworkState` can be sliced by batch
rows (:meth:`NetworkState.select`) and rows can be replaced (:meth:`NetworkState.assign`), which is what
per-environment state in a vector env needs. CRPI, vector envs and checkpoints all use this.

Example
-------
>>> import torch
>>> from snnrl.layers import SpikingSequential
>>> from snnrl.neurons import IFNeuron
>>> net = SpikingSequential(torch.nn.Linear(3, 2), IFNeuron())
>>> _ = net(torch.rand(4, 5, 3))
>>> state = capture_state(net)
>>> state.batch_size
5
>>> restore_state(net, state)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from snnrl.neurons import StateShapeError

__all__ = ["NetworkState", "stateful_modules", "capture_state", "restore_state", "reset_state", "StateShapeError"]


def _is_stateful(module: nn.Module) -> bool:
    return all(callable(getattr(module, name, None)) for name in ("get_state", "set_state", "reset_state"))


def stateful_modules(net: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(name, module)`` for every stateful module of ``net`` (``net`` itself included, named ``""``)."""
    for name, module in net.named_modules():
        if _is_stateful(module):
            yield name, module


@dataclass(frozen=True)
class NetworkState:
    """State tensors of a network: ``{module name: {state name: tensor [B, ...]}}``."""

    tensors: Mapping[str, Mapping[str, torch.Tensor]] = field(default_factory=dict)

    @property
    def batch_size(self) -> int | None:
        """Batch size of the state (``None`` if empty)."""
        for module_state in self.tensors.values():
            for tensor in module_state.values():
                return int(tensor.shape[0])
        return None

    def _map(self, fn) -> "NetworkState":
        return NetworkState({m: {k: fn(v) for k, v in s.items()} for m, s in self.tensors.items()})

    def clone(self) -> "NetworkState":
        """A deep copy (tensors cloned)."""
        return self._map(lambda v: v.detach().clone())

    def select(self, index: torch.Tensor | slice | list[int] | int) -> "NetworkState":
        """The rows ``index`` of every tensor (per-environment slice). An int keeps a batch of 1."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self._map(lambda v: v[index].clone())

    def assign(self, index: torch.Tensor | slice | list[int] | int, other: "NetworkState") -> "NetworkState":
        """A copy of this state with rows ``index`` replaced by ``other``'s rows."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        if set(other.tensors) != set(self.tensors):
            raise StateShapeError("assign: the two states come from networks with different stateful modules.")
        out: dict[str, dict[str, torch.Tensor]] = {}
        for m, s in self.tensors.items():
            out[m] = {}
            for k, v in s.items():
                new = v.clone()
                new[index] = other.tensors[m][k].to(v)
                out[m][k] = new
        return NetworkState(out)

    def to_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """Plain nested dict (for ``torch.save``)."""
        return {m: dict(s) for m, s in self.tensors.items()}

    def equal(self, other: "NetworkState") -> bool:
        """Bit-exact equality of two states."""
        if set(self.tensors) != set(other.tensors):
            return False
        for m, s in self.tensors.items():
            o = other.tensors[m]
            if set(s) != set(o) or any(not torch.equal(s[k], o[k]) for k in s):
                return False
        return True


def capture_state(net: nn.Module) -> NetworkState:
    """Copy the state of every stateful module of ``net``."""
    return NetworkState({name: {k: v.detach().clone() for k, v in module.get_state().items()}
                         for name, module in stateful_modules(net)})


def restore_state(net: nn.Module, state: NetworkState) -> None:
    """Write ``state`` (from :func:`capture_state`) into ``net``.

    Raises
    ------
    StateShapeError
        If ``state`` names other stateful modules than ``net`` has, or a tensor does not fit its neuron.
    """
    modules = dict(stateful_modules(net))
    missing, extra = sorted(set(modules) - set(state.tensors)), sorted(set(state.tensors) - set(modules))
    if missing or extra:
        raise StateShapeError(
            f"State does not fit this network: modules without state {missing}, state for unknown modules "
            f"{extra}. Restore a state captured from a network of the same architecture.")
    batches = {int(v.shape[0]) for s in state.tensors.values() for v in s.values() if v.dim() > 0}
    if len(batches) > 1:
        raise StateShapeError(f"State mixes batch sizes {sorted(batches)}; it must have one batch size.")
    for name, module in modules.items():
        try:
            module.set_state({k: v.clone() for k, v in state.tensors[name].items()})
        except StateShapeError as exc:
            raise StateShapeError(f"module '{name}': {exc}") from None


def reset_state(net: nn.Module, batch_mask: torch.Tensor | None = None) -> None:
    """Reset every stateful module of ``net`` (all rows, or only where ``batch_mask`` is true)."""
    for _, module in stateful_modules(net):
        module.reset_state(batch_mask)
