"""What every data source returns (:class:`ImageDataset`) and raises (:class:`DatasetError`), and their checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["DatasetError", "ImageDataset"]


class DatasetError(ValueError):
    """A dataset's files are missing, damaged or not in the expected format."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """An image-classification dataset held in memory.

    Parameters
    ----------
    name : str
        Canonical name (one of :data:`DATASET_NAMES` for the built-in loaders).
    train_x, test_x : torch.Tensor
        Images ``[N, C, H, W]``, ``float32`` in ``[0, 1]``.
    train_y, test_y : torch.Tensor
        Labels ``[N]``, ``int64`` in ``[0, num_classes)``.
    num_classes : int
        Number of classes of the dataset (not necessarily all present in a small subset).
    """

    name: str
    train_x: torch.Tensor = field(repr=False)
    train_y: torch.Tensor = field(repr=False)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    num_classes: int

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"ImageDataset {self.name!r}: num_classes must be an integer >= 1, got "
                             f"{self.num_classes!r}.")
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.dtype != torch.float32:
                raise ValueError(f"ImageDataset {self.name!r}: {split}_x must be a float32 tensor [N, C, H, W], got "
                                 f"{_describe(x)}.")
            if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.dtype != torch.int64:
                raise ValueError(f"ImageDataset {self.name!r}: {split}_y must be an int64 tensor [N], got "
                                 f"{_describe(y)}.")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"ImageDataset {self.name!r}: {split}_x has {x.shape[0]} images but {split}_y has "
                                 f"{y.shape[0]} labels; they must match.")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"ImageDataset {self.name!r}: {split}_y must lie in [0, {self.num_classes}), got "
                                 f"labels in [{int(y.min())}, {int(y.max())}].")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"ImageDataset {self.name!r}: train images {tuple(self.train_x.shape[1:])} and test "
                             f"images {tuple(self.test_x.shape[1:])} must have the same [C, H, W].")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, shape={self.shape}, num_classes={self.num_classes}, "
                f"train={len(self.train_y)}, test={len(self.test_y)})")


def _describe(obj: Any) -> str:
    if isinstance(obj, torch.Tensor):
        return f"a {obj.dtype} tensor of shape {tuple(obj.shape)}"
    return f"an object of type {type(obj).__name__}"


def _missing_text(missing: list[str], total: int) -> str:
    return "none of them exists" if len(missing) == total else f"missing: {', '.join(missing)}"


def _to_dataset(name: str, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                *, num_classes: int, scale: float) -> ImageDataset:
    """Build an :class:`ImageDataset` from ``[N, C, H, W]`` arrays; images are divided by ``scale``."""

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32) / np.float32(scale))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.int64))

    return ImageDataset(name=name, train_x=images(train_x), train_y=labels(train_y), test_x=images(test_x),
                        test_y=labels(test_y), num_classes=num_classes)


def _check_split(name: str, split: str, x: np.ndarray, y: np.ndarray, *, shape: tuple[int, ...],
                 counts: tuple[int, ...], fix: str) -> None:
    """Raise :class:`DatasetError` unless ``x`` is uint8 of ``shape`` and ``y`` has the given per-class counts."""
    if x.dtype != np.uint8 or tuple(x.shape) != shape:
        raise DatasetError(f"{name} data is damaged: expected {split} images of shape {shape} and dtype uint8, got "
                           f"shape {tuple(x.shape)} and dtype {x.dtype}. {fix}")
    if y.ndim != 1 or len(y) != shape[0]:
        raise DatasetError(f"{name} data is damaged: expected {shape[0]} {split} labels, got an array of shape "
                           f"{tuple(y.shape)}. {fix}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(counts)):
        raise DatasetError(f"{name} data is damaged: {split} labels must lie in [0, {len(counts)}), got labels in "
                           f"[{int(y.min())}, {int(y.max())}]. {fix}")
    got = tuple(int(c) for c in np.bincount(np.asarray(y, dtype=np.int64), minlength=len(counts)))
    if got != tuple(counts):
        raise DatasetError(f"{name} data is damaged: expected {split} label counts per class {list(counts)}, got "
                           f"{list(got)}. {fix}")
