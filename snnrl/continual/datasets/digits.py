"""scikit-learn's 8x8 digits with a fixed stratified split."""

from __future__ import annotations

import numpy as np

from snnrl.continual.datasets.common import ImageDataset, _to_dataset

__all__ = ["load_digits"]


def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits (1797 images, ``[N, 1, 8, 8]``, 10 classes), split per class.

    Pixel values ``0..16`` are divided by 16. The split is stratified and deterministic: for each
    class (in label order) a ``numpy.random.default_rng(seed)`` permutation of its images puts
    ``round(test_fraction * n_class)`` of them in the test set; both sets keep the original order.
    The defaults give 1438 train / 359 test images.

    Parameters
    ----------
    test_fraction : float
        Fraction of each class held out for testing, in ``(0, 1)``.
    seed : int
        Seed of the split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}. Use e.g. test_fraction=0.2.")
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images, target = np.asarray(bunch.images), np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(len(target), dtype=bool)
    for cls in range(10):
        members = np.flatnonzero(target == cls)
        n_test = int(round(test_fraction * len(members)))
        test_mask[rng.permutation(members)[:n_test]] = True
    return _to_dataset("digits", images[~test_mask, None], target[~test_mask], images[test_mask, None],
                       target[test_mask], num_classes=10, scale=16.0)
