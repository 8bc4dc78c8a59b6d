"""Class-incremental Avalanche benchmarks built from the offline datasets of :mod:`snnrl.continual.datasets`.

:func:`class_incremental` splits the classes of an :class:`~snnrl.continual.datasets.ImageDataset`
into ``n_experiences`` groups of equal size and returns Avalanche's ``NCScenario`` (the object
behind Avalanche's own ``SplitMNIST`` / ``SplitCIFAR10``): a ``train_stream`` and a ``test_stream``
of ``n_experiences`` experiences each, task label 0 everywhere, original class ids kept. Inputs are
the ``[C, H, W]`` float tensors of the dataset, without transforms.

Class order
-----------
The order is ``numpy.random.default_rng(seed).permutation(num_classes)`` (see
:func:`draw_class_order`); experience ``i`` holds classes ``order[i * k:(i + 1) * k]`` with
``k = num_classes // n_experiences``. It is stored by Avalanche as ``benchmark.classes_order`` (a
list; the same as ``benchmark.classes_order_original_ids``, since class ids are not remapped). For
10 classes, seed 0 gives ``[4, 6, 2, 7, 3, 5, 9, 0, 8, 1]``. No global random state is read or
written: the order is passed to Avalanche as a fixed class order.

Example
-------
>>> bm = class_incremental("digits", n_experiences=5, seed=0, train_per_class=20, test_per_class=5)
>>> bm.classes_order
[4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
>>> [sorted(exp.classes_in_this_experience) for exp in bm.train_stream]
[[4, 6], [2, 7], [3, 5], [0, 9], [1, 8]]
>>> [len(exp.dataset) for exp in bm.test_stream]
[10, 10, 10, 10, 10]
>>> x, y, task = bm.train_stream[0].dataset[0]
>>> tuple(x.shape), task
((1, 8, 8), 0)
"""

from __future__ import annotations

import os

import numpy as np
import torch
from avalanche.benchmarks.scenarios.deprecated.generators import nc_benchmark
from avalanche.benchmarks.scenarios.deprecated.new_classes.nc_scenario import NCScenario
from torch.utils.data import TensorDataset

from snnrl.continual.datasets import ImageDataset, load_dataset

__all__ = ["draw_class_order", "class_incremental"]

# Streams of the seed sequence: the class order uses ``default_rng(seed)``, subsampling its own children.
_TRAIN_SUBSAMPLE_STREAM = 1
_TEST_SUBSAMPLE_STREAM = 2
_VALIDATION_STREAM = 3


def _check_int(name: str, value: object, *, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}. {hint}")
    return int(value)


def draw_class_order(num_classes: int, *, seed: int = 0) -> list[int]:
    """The class order used by :func:`class_incremental`: ``default_rng(seed).permutation(num_classes)``.

    >>> draw_class_order(10, seed=0)
    [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
    """
    num_classes = _check_int("num_classes", num_classes, minimum=1, hint="Use the dataset's num_classes.")
    return [int(c) for c in np.random.default_rng(seed).permutation(num_classes)]


def _subsample(labels: torch.Tensor, per_class: int, *, num_classes: int, rng: np.random.Generator,
               split: str, name: str) -> torch.Tensor:
    """Indices of ``per_class`` random images of every class, in their original order."""
    y = labels.numpy()
    chosen = []
    for cls in range(num_classes):
        members = np.flatnonzero(y == cls)
        if len(members) < per_class:
            raise ValueError(f"{split}_per_class={per_class} but class {cls} of {name!r} has only {len(members)} "
                             f"{split} images. Use {split}_per_class <= {len(members)}, or None for all images.")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return torch.from_numpy(np.sort(np.concatenate(chosen)))


def _validation_splits(x: torch.Tensor, y: torch.Tensor, fraction: float, *, seed: int,
                       num_classes: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train": rest, "test": held out}``: ``fraction`` of every class's training images held out (stratified,
    original order kept in both parts)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"validation must be a fraction between 0 and 1 (e.g. 0.1), got {fraction!r}.")
    rng = np.random.default_rng([seed, _VALIDATION_STREAM])
    held = np.zeros(len(y), dtype=bool)
    labels = y.numpy()
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        n = int(round(float(fraction) * len(rows)))
        if n < 1 or n >= len(rows):
            raise ValueError(f"validation={fraction} leaves class {c} ({len(rows)} training images) without "
                             "training or validation images; use a fraction that keeps both.")
        held[rng.choice(rows, size=n, replace=False)] = True
    keep = torch.from_numpy(held)
    return {"train": (x[~keep], y[~keep]), "test": (x[keep], y[keep])}


def class_incremental(
    dataset: ImageDataset | str,
    *,
    n_experiences: int = 5,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    validation: float | None = None,
) -> NCScenario:
    """A class-incremental Avalanche benchmark: ``n_experiences`` experiences of equally many classes.

    Parameters
    ----------
    dataset : ImageDataset or str
        The data, or a name for :func:`~snnrl.continual.datasets.load_dataset` (e.g. ``"split-mnist"``).
    n_experiences : int
        Number of experiences; must divide the number of classes.
    seed : int
        Seed of the class order (:func:`draw_class_order`) and of the subsampling.
    root : path, optional
        Data folder passed to :func:`~snnrl.continual.datasets.load_dataset` when ``dataset`` is a name.
    train_per_class, test_per_class : int, optional
        Keep only this many images per class (drawn without replacement from
        ``default_rng([seed, 1])`` for train and ``default_rng([seed, 2])`` for test, kept in their
        original order), for fast tests and quick runs. ``None`` keeps every image.
    validation : float, optional
        Tuning mode: hold out this fraction (0 < f < 1) of every class's training images (drawn from
        ``default_rng([seed, 3])``, after ``train_per_class``) and evaluate on them instead of the test set, which
        is then never read. Settings chosen this way can be reported on the test set.

    Returns
    -------
    NCScenario
        Avalanche benchmark with ``train_stream`` / ``test_stream``; every experience has
        ``classes_in_this_experience`` and task label 0; the class order is ``classes_order``.

    Raises
    ------
    ValueError
        If ``n_experiences`` does not divide the number of classes, a class is absent from the data,
        or a class has fewer images than requested.
    """
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, root=root)
    elif not isinstance(dataset, ImageDataset):
        raise TypeError(f"dataset must be an ImageDataset or a dataset name, got {type(dataset).__name__}.")
    elif root is not None:
        raise ValueError("root= is only used when dataset is a name; an ImageDataset is already loaded. "
                         "Drop root=.")
    num_classes = dataset.num_classes
    n_experiences = _check_int("n_experiences", n_experiences, minimum=1,
                               hint=f"Use a divisor of the {num_classes} classes of {dataset.name!r}.")
    if num_classes % n_experiences:
        divisors = [d for d in range(1, num_classes + 1) if num_classes % d == 0]
        raise ValueError(f"n_experiences={n_experiences} does not divide the {num_classes} classes of "
                         f"{dataset.name!r}; every experience must hold the same number of classes. Use one of "
                         f"{divisors}.")
    seed = _check_int("seed", seed, minimum=0, hint="Use e.g. seed=0.")

    splits = {}
    for split, per_class, stream in (("train", train_per_class, _TRAIN_SUBSAMPLE_STREAM),
                                     ("test", test_per_class, _TEST_SUBSAMPLE_STREAM)):
        x, y = getattr(dataset, f"{split}_x"), getattr(dataset, f"{split}_y")
        absent = sorted(set(range(num_classes)) - set(torch.unique(y).tolist()))
        if absent:
            raise ValueError(f"The {split} set of {dataset.name!r} has no images of classes {absent}; a "
                             f"class-incremental benchmark needs all {num_classes} classes in train and test.")
        if per_class is not None:
            per_class = _check_int(f"{split}_per_class", per_class, minimum=1,
                                   hint="Use None to keep every image.")
            rng = np.random.default_rng([seed, stream])
            keep = _subsample(y, per_class, num_classes=num_classes, rng=rng, split=split, name=dataset.name)
            x, y = x[keep], y[keep]
        splits[split] = (x, y)
    if validation is not None:
        splits = _validation_splits(*splits["train"], validation, seed=seed, num_classes=num_classes)
    splits = {k: TensorDataset(*v) for k, v in splits.items()}

    return nc_benchmark(
        splits["train"],
        splits["test"],
        n_experiences=n_experiences,
        task_labels=False,
        shuffle=False,
        fixed_class_order=draw_class_order(num_classes, seed=seed),
        class_ids_from_zero_from_first_exp=False,
    )
