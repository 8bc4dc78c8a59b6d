import numpy as np
import pytest
import torch

import snnrl.continual  # noqa: F401  (torchvision shim before avalanche)
from snnrl.continual.buffer import ReservoirBuffer
from snnrl.continual.metrics import backward_transfer, final_average_accuracy, forgetting


def test_reservoir_keeps_every_sample_with_equal_probability():
    # 2000 independent streams of 100 items into a buffer of 10: each item kept with probability 0.1.
    stream, capacity, trials = 100, 10, 2000
    counts = np.zeros(stream)
    gen_seeds = np.random.default_rng(0).integers(0, 2**31, size=trials)
    for seed in gen_seeds:
        buf = ReservoirBuffer(capacity, seed=int(seed))
        for start in range(0, stream, 7):  # uneven batches
            items = torch.arange(start, min(stream, start + 7))
            buf.add(x=items.unsqueeze(1), y=items)
        counts[buf.data["y"].numpy()] += 1
    expected = trials * capacity / stream
    assert counts.sum() == trials * capacity
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # 99 degrees of freedom: the 99.9% quantile of chi-square is about 148.2
    assert chi2 < 148.2, chi2
    # early and late items are kept equally often (no bias towards the start or the end of the stream)
    assert abs(counts[:50].mean() - counts[50:].mean()) < 0.05 * expected


def test_buffer_fills_in_order_then_samples_and_resumes():
    buf = ReservoirBuffer(5, seed=1)
    buf.add(x=torch.arange(3).float().unsqueeze(1), y=torch.arange(3))
    assert len(buf) == 3 and buf.data["y"][:3].tolist() == [0, 1, 2]
    state = buf.state_dict()
    buf.add(x=torch.arange(3, 20).float().unsqueeze(1), y=torch.arange(3, 20))
    other = ReservoirBuffer(5, seed=99)
    other.load_state_dict(state)
    other.add(x=torch.arange(3, 20).float().unsqueeze(1), y=torch.arange(3, 20))
    assert torch.equal(other.data["y"], buf.data["y"]) and other.seen == buf.seen == 20
    sample = buf.sample(3)
    assert len(set(sample["y"].tolist())) == 3 and set(sample["y"].tolist()) <= set(buf.data["y"].tolist())


def test_record_computes_extra_fields_only_for_kept_rows():
    buf = ReservoirBuffer(2, seed=0)
    seen_rows = []

    def record(kept):
        seen_rows.append(len(kept))
        return {"z": torch.ones(len(kept), 3)}

    buf.add(x=torch.zeros(5, 1), y=torch.zeros(5, dtype=torch.long), record=record)
    assert seen_rows[0] <= 5 and buf.data["z"].shape == (2, 3)


@pytest.mark.parametrize("capacity", [0, -3, 2.5])
def test_bad_buffer_size(capacity):
    with pytest.raises(ValueError, match="buffer capacity must be an integer >= 1"):
        ReservoirBuffer(capacity)


def test_accuracy_matrix_summaries():
    a = np.array([[0.9, 0.0, 0.0], [0.6, 0.8, 0.0], [0.5, 0.7, 0.9]])
    assert final_average_accuracy(a) == pytest.approx(0.7)
    assert forgetting(a) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)
    assert backward_transfer(a) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert forgetting(np.array([[0.5]])) == 0.0
