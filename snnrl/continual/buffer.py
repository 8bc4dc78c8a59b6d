"""A reservoir-sampling replay buffer of tensors (inputs, labels, stored per-timestep logits, ...).

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

__all__ = ["ReservoirBuffer"]


class ReservoirBuffer:
    """Fixed-capacity reservoir of named tensors, the first dimension indexing samples.

    Parameters
    ----------
    capacity
        Number of samples kept (>= 1).
    seed
        Seed of the buffer's generator (insertion and sampling decisions).
    """

    def __init__(self, capacity: int, *, seed: int = 0) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"buffer capacity must be an integer >= 1 (samples kept), got {capacity!r}. "
                             "Use e.g. --buffer-size 200.")
        self.capacity = capacity
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
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer; check len(buffer) first.")
        index = torch.randperm(len(self), generator=generator or self.generator)[:n]
        return {k: v[index] for k, v in self.data.items()}

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
