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


def test_record_computes_extra_fields_only_for_the_rows_it_stores():
    """``record`` sees exactly the rows that end up in the buffer (none that are dropped or overwritten within the
    same batch), its fields land beside their own inputs, and ``add`` returns that number of rows."""
    buf = ReservoirBuffer(3, seed=0)
    recorded: list[torch.Tensor] = []

    def record(kept):
        recorded.append(kept.clone())
        return {"z": 10 * batch[kept]}                      # a field computed from the row it belongs to

    for start in range(0, 300, 10):                           # a stream of 300 distinct items, batches of 10
        batch = torch.arange(start, start + 10).float().unsqueeze(1)
        calls = len(recorded)
        stored = buf.add(x=batch, y=batch[:, 0].long(), record=record)
        kept = recorded[-1] if len(recorded) > calls else torch.tensor([], dtype=torch.long)
        assert stored == len(kept) == len(set(kept.tolist()))
        held = set(buf.data["x"][:, 0].tolist())
        assert set(batch[kept, 0].tolist()) <= held           # every recorded row is in the buffer after the add
        assert len(held & set(batch[:, 0].tolist())) == stored   # ... and no row was stored without being recorded
        assert torch.equal(buf.data["z"], 10 * buf.data["x"])    # z sits beside its own input, slot by slot
    total = sum(len(k) for k in recorded)
    # reservoir sampling keeps about 3·(1 + ln(300/3)) ≈ 17 of the 300 rows: far from every row
    assert len(buf) == 3 and 3 <= total < 60, total


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


def test_class_balanced_buffer_splits_its_capacity_over_the_classes_seen_and_records_only_new_rows():
    from snnrl.continual.buffer import ClassBalancedBuffer, make_buffer

    buf = ClassBalancedBuffer(10, seed=0)
    assert buf.shares(3) == [4, 3, 3] and len(buf) == 0
    recorded = []

    def add(labels):
        labels = torch.tensor(labels)

        def record(fields):
            recorded.append(fields["y"].tolist())
            return {"z": fields["x"] * 2}

        return buf.add_experience(y=labels, load=lambda i: {"x": (100 * labels[i] + i).float(), "y": labels[i]},
                                  record=record)

    assert add([0] * 8 + [1] * 8) == 10                        # two classes: 5 slots each
    assert torch.bincount(buf.data["y"]).tolist() == [5, 5] and buf.seen == 16
    first = buf.data["x"].clone()
    assert len(set(first.tolist())) == 10 and torch.equal(buf.data["z"], 2 * first)
    assert add([2] * 3) == 3                                    # class 2 has only 3 images for its 3 slots
    assert buf.classes == [0, 1, 2] and torch.bincount(buf.data["y"]).tolist() == [4, 3, 3]
    assert torch.equal(buf.data["x"][:4], first[:4]) and torch.equal(buf.data["x"][4:7], first[5:8])
    assert recorded[-1] == [2, 2, 2]                           # only the new rows were recorded
    with pytest.raises(ValueError, match="buffer fields"):
        buf.add_experience(y=torch.tensor([3]), load=lambda i: {"x": torch.zeros(1), "y": torch.tensor([3]),
                                                                "w": torch.zeros(1)})
    with pytest.raises(ValueError, match="inconsistent"):
        ClassBalancedBuffer(10).load_state_dict({**buf.state_dict(), "data": {"y": torch.zeros(11, dtype=torch.long)}})
    with pytest.raises(ValueError, match="Unknown buffer update 'fifo'"):
        make_buffer("fifo", 10)
    assert isinstance(make_buffer("class-balanced", 10), ClassBalancedBuffer)
