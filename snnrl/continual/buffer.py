"""Replay buffers of tensors (inputs, labels, stored per-timestep logits, ...), by their update rule.

* :class:`ReservoirBuffer` — offered every training batch (``update_at = "iteration"``; the DER paper's and
  Mammoth's rule).
* :class:`ClassBalancedBuffer` — refilled at the end of every experience (``update_at = "experience"``; the rule
  of Avalanche's ``DER``): the capacity is split equally over the classes seen so far and the new classes get a
  uniform sample of their training images, their extra fields computed then, by the model trained on them.

Both decide with their own ``torch.Generator``, whose state is part of ``state_dict()``.

Reservoir sampling (Vitter's algorithm R) keeps every sample of the stream seen so far with the same
probability ``capacity / seen``: the ``n``-th sample (0-based) goes to slot ``n`` while the buffer fills, then
replaces a uniformly drawn slot ``j ∈ [0, n]`` if ``j < capacity``. The decisions use the buffer's own
``torch.Generator``, whose state is part of :meth:`ReservoirBuffer.state_dict`, so a resumed run makes the same
decisions as an uninterrupted one.

Example
-------
>>> import torch
>>> buf = ReservoirBuffer(3, seed=0)
>>> stored = buf.add(x=torch.arange(10).float().unsqueeze(1), y=torch.arange(10))
>>> len(buf), buf.seen
(3, 10)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from snnrl.continual.configs import BUFFER_UPDATES

__all__ = ["ReservoirBuffer", "ClassBalancedBuffer", "BUFFER_UPDATES", "make_buffer"]


def _check_capacity(capacity: object) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"buffer capacity must be an integer >= 1 (samples kept), got {capacity!r}. "
                         "Use e.g. --buffer-size 200.")
    return capacity


def _sample(buffer: Any, n: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """``min(n, len(buffer))`` distinct stored samples of ``buffer``, drawn uniformly."""
    if len(buffer) == 0:
        raise ValueError("cannot sample from an empty buffer; check len(buffer) first.")
    index = torch.randperm(len(buffer), generator=generator or buffer.generator)[:n]
    return {k: v[index] for k, v in buffer.data.items()}


class ReservoirBuffer:
    """Fixed-capacity reservoir of named tensors, the first dimension indexing samples.

    Parameters
    ----------
    capacity
        Number of samples kept (>= 1).
    seed
        Seed of the buffer's generator (insertion and sampling decisions).
    """

    update_at = "iteration"

    def __init__(self, capacity: int, *, seed: int = 0) -> None:
        self.capacity = _check_capacity(capacity)
        self.seen = 0
        self.data: dict[str, torch.Tensor] = {}
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def reservoir_slots(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Decide where ``n`` new samples go: ``(indices into the new batch, buffer slots)``; advances ``seen``."""
        kept, slots = [], []
        for i in range(n):
            if self.seen < self.capacity:
                kept.append(i)
                slots.append(self.seen)
            else:
                j = int(torch.randint(0, self.seen + 1, (1,), generator=self.generator))
                if j < self.capacity:
                    kept.append(i)
                    slots.append(j)
            self.seen += 1
        # A slot drawn twice within the batch ends up holding the later row (the stream's order): drop the earlier
        # one, so that only stored rows are returned and each slot is written once (torch leaves an index
        # assignment with repeated indices undefined).
        pairs = sorted((i, slot) for slot, i in {slot: i for i, slot in zip(kept, slots)}.items())
        kept, slots = [i for i, _ in pairs], [slot for _, slot in pairs]
        return torch.tensor(kept, dtype=torch.long), torch.tensor(slots, dtype=torch.long)

    def write(self, slots: torch.Tensor, fields: Mapping[str, torch.Tensor]) -> None:
        """Store ``fields`` (each with ``len(slots)`` rows) at ``slots``."""
        for name, value in fields.items():
            value = value.detach().cpu()
            if name not in self.data:
                self.data[name] = torch.zeros((self.capacity, *value.shape[1:]), dtype=value.dtype)
            elif self.data[name].shape[1:] != value.shape[1:]:
                raise ValueError(f"buffer field '{name}' holds rows of shape {tuple(self.data[name].shape[1:])}, "
                                 f"got {tuple(value.shape[1:])}.")
            self.data[name][slots] = value

    def add(self, *, record: Callable[[torch.Tensor], Mapping[str, torch.Tensor]] | None = None,
            **fields: torch.Tensor) -> int:
        """Offer a batch to the reservoir; returns how many samples were stored.

        ``record(index)`` may compute extra fields only for the kept rows (e.g. logits that need a forward pass);
        it receives the indices of the kept rows within the batch.
        """
        sizes = {len(v) for v in fields.values()}
        if len(sizes) != 1:
            raise ValueError(f"all fields must have the same number of rows, got {sizes}.")
        kept, slots = self.reservoir_slots(sizes.pop())
        if len(kept) == 0:
            return 0
        chosen = {k: v[kept] for k, v in fields.items()}
        if record is not None:
            chosen.update(record(kept))
        self.write(slots, chosen)
        return len(kept)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``min(n, len(self))`` distinct stored samples, drawn uniformly."""
        return _sample(self, n, generator)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: capacity, count seen, stored tensors and generator state."""
        return {"capacity": self.capacity, "seen": self.seen, "data": {k: v.clone() for k, v in self.data.items()},
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` for a state that does not fit this buffer."""
        if not isinstance(state, Mapping) or not {"capacity", "seen", "data", "generator"} <= state.keys():
            raise ValueError("buffer state must hold capacity, seen, data and generator (see state_dict()).")
        if state["capacity"] != self.capacity:
            raise ValueError(f"buffer state has capacity {state['capacity']}, this buffer {self.capacity}.")
        data = state["data"]
        if (not isinstance(state["seen"], int) or state["seen"] < 0 or not isinstance(data, Mapping)
                or any(not isinstance(v, torch.Tensor) or v.dim() < 1 or len(v) != self.capacity
                       for v in data.values())):
            raise ValueError(f"buffer state is inconsistent: 'seen' must be an integer >= 0 and every field a "
                             f"tensor of {self.capacity} rows.")
        self.generator.set_state(state["generator"])
        self.seen = int(state["seen"])
        self.data = {k: v.clone() for k, v in data.items()}


class ClassBalancedBuffer:
    """Named tensors refilled at the end of every experience, the capacity split equally over the classes seen.

    After an experience with classes ``C_new``, the ``n`` classes seen so far get ``capacity // n`` slots each (the
    first ``capacity % n`` classes, in the order seen, one more; Avalanche's rule). A new class keeps a uniform
    sample of its images; an old class keeps the first rows of its earlier (randomly ordered) sample, so what it
    keeps is again a uniform sample. Labels must be in the field ``y``.

    Parameters
    ----------
    capacity
        Number of samples kept (>= 1).
    seed
        Seed of the buffer's generator (which images are kept, and sampling).

    Example
    -------
    >>> import torch
    >>> buf = ClassBalancedBuffer(4, seed=0)
    >>> labels = torch.tensor([0, 0, 0, 1, 1, 1])
    >>> buf.add_experience(y=labels, load=lambda i: {"x": i.float().unsqueeze(1), "y": labels[i]})
    4
    >>> buf.data["y"].tolist()
    [0, 0, 1, 1]
    """

    update_at = "experience"

    def __init__(self, capacity: int, *, seed: int = 0) -> None:
        self.capacity = _check_capacity(capacity)
        self.seen = 0
        self.classes: list[int] = []
        self.data: dict[str, torch.Tensor] = {}
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.data["y"]) if self.data else 0

    def shares(self, n_classes: int) -> list[int]:
        """Slots of each of ``n_classes`` classes, in the order seen."""
        base, extra = divmod(self.capacity, n_classes)
        return [base + (i < extra) for i in range(n_classes)]

    def add_experience(self, *, y: torch.Tensor, load: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
                       record: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]] | None = None
                       ) -> int:
        """Refill from an experience whose samples have labels ``y``; returns how many new samples were stored.

        ``load(index)`` returns the fields (``x``, ``y``, ...) of the experience's samples ``index``;
        ``record(fields)`` may add fields computed from them (e.g. logits of the trained model).
        """
        y = torch.as_tensor(y).long().flatten()
        new = [c for c in dict.fromkeys(y.tolist()) if c not in self.classes]
        classes = self.classes + new
        share = dict(zip(classes, self.shares(len(classes))))
        picked = [i[torch.randperm(len(i), generator=self.generator)[: share[c]]]
                  for c in new for i in [torch.nonzero(y == c).flatten()]]
        index = torch.cat(picked) if picked else torch.zeros(0, dtype=torch.long)
        if len(index) == 0 and not self.data:
            self.seen += len(y)
            return 0
        fields: dict[str, torch.Tensor] = {}
        if len(index):
            fields = {k: v.detach().cpu() for k, v in load(index).items()}
            if record is not None:
                fields.update({k: v.detach().cpu() for k, v in record(fields).items()})
            if self.data and fields.keys() != self.data.keys():
                raise ValueError(f"buffer fields {sorted(self.data)} stored, got {sorted(fields)}.")
        self.seen += len(y)
        if self.data:
            old = torch.cat([torch.nonzero(self.data["y"] == c).flatten()[: share[c]] for c in self.classes])
            kept = {k: v[old] for k, v in self.data.items()}
            self.data = {k: torch.cat([v, fields[k]]) for k, v in kept.items()} if fields else kept
        else:
            self.data = fields
        self.classes = classes
        return len(index)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``min(n, len(self))`` distinct stored samples, drawn uniformly."""
        return _sample(self, n, generator)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: capacity, classes in the order seen, stored tensors and generator state."""
        return {"capacity": self.capacity, "seen": self.seen, "classes": list(self.classes),
                "data": {k: v.clone() for k, v in self.data.items()}, "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` for a state that does not fit this buffer."""
        if not isinstance(state, Mapping) or not {"capacity", "seen", "classes", "data", "generator"} <= state.keys():
            raise ValueError("class-balanced buffer state must hold capacity, seen, classes, data and generator "
                             "(see state_dict()); a reservoir buffer's state does not fit.")
        if state["capacity"] != self.capacity:
            raise ValueError(f"buffer state has capacity {state['capacity']}, this buffer {self.capacity}.")
        data = state["data"]
        rows = {len(v) for v in data.values()} if isinstance(data, Mapping) else {-1}
        if (not isinstance(state["seen"], int) or state["seen"] < 0 or len(rows) > 1 or (data and "y" not in data)
                or any(not isinstance(v, torch.Tensor) for v in data.values()) or max(rows, default=0) > self.capacity):
            raise ValueError(f"buffer state is inconsistent: 'seen' must be an integer >= 0 and every field a "
                             f"tensor of the same number of rows (<= {self.capacity}), labels in 'y'.")
        self.generator.set_state(state["generator"])
        self.seen = int(state["seen"])
        self.classes = [int(c) for c in state["classes"]]
        self.data = {k: v.clone() for k, v in data.items()}


def make_buffer(update: str, capacity: int, *, seed: int = 0) -> ReservoirBuffer | ClassBalancedBuffer:
    """The buffer of update rule ``update`` (:data:`BUFFER_UPDATES`)."""
    if update not in BUFFER_UPDATES:
        raise ValueError(f"Unknown buffer update {update!r}; choose one of {BUFFER_UPDATES}.")
    return (ReservoirBuffer if update == "reservoir" else ClassBalancedBuffer)(capacity, seed=seed)
