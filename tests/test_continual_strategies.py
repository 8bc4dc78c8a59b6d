"""Strategies on split digits (scikit-learn, offline): ER beats Naive, resume after a crash, clear errors."""

import numpy as np
import pytest
import torch

import snnrl.continual  # noqa: F401  (torchvision shim before avalanche)
from snnrl.continual.experiment import ContinualConfig, run_continual
from snnrl.continual.strategies import STAERConfig, check_sequence_logits, make_strategy
from snnrl.io import ArtifactError

QUICK = dict(benchmark="split-digits", backbone="mlp", timesteps=4, batch_size=10, lr=3e-3, n_experiences=5,
             buffer_size=100, epochs=2)


class _Crash(RuntimeError):
    """A simulated crash right after a checkpoint."""


def _crash_after(experience: int):
    """An ``after_experience`` callback that crashes once experience ``experience`` is checkpointed."""
    def callback(index, state):
        if index == experience:
            raise _Crash

    return callback


def test_er_beats_naive_after_two_experiences():
    naive = [run_continual(ContinualConfig(strategy="naive", seed=s, **QUICK), progress=False, max_experiences=2)
             for s in (0, 1)]
    er = [run_continual(ContinualConfig(strategy="er", seed=s, **QUICK), progress=False, max_experiences=2)
          for s in (0, 1)]
    acc = lambda runs: np.mean([r["class_il_matrix"][-1][:2] for r in runs])  # noqa: E731
    # Naive forgets the first experience almost entirely; ER keeps it.
    assert acc(er) > acc(naive) + 0.2, (acc(er), acc(naive))
    assert all(r["class_il_matrix"][-1][0] < 0.3 for r in naive)


@pytest.mark.parametrize("strategy", ["derpp", "staer"])
def test_rehearsal_strategies_run_and_remember(strategy):
    result = run_continual(ContinualConfig(strategy=strategy, seed=0, **QUICK), progress=False, max_experiences=2)
    matrix = np.array(result["class_il_matrix"])
    assert matrix.shape == (2, 5) and matrix[-1][0] > 0.3
    assert result["task_il_matrix"][-1][0] >= matrix[-1][0]  # task-IL is never harder than class-IL


def test_resume_after_simulated_crash_gives_identical_results(tmp_path):
    config = ContinualConfig(strategy="staer", seed=3, **{**QUICK, "n_experiences": 5, "epochs": 1})
    with pytest.raises(_Crash):
        run_continual(config, run_dir=tmp_path / "killed", progress=False, after_experience=_crash_after(1))
    resumed_log = []
    resumed = run_continual(config, run_dir=tmp_path / "killed", progress=False,
                            after_experience=lambda i, s: resumed_log.append(i))
    assert resumed_log == [2, 3, 4]  # only the experiences after the checkpoint were trained again
    straight = run_continual(config, run_dir=tmp_path / "straight", progress=False)
    assert resumed["class_il_matrix"] == straight["class_il_matrix"]
    assert resumed["task_il_matrix"] == straight["task_il_matrix"]


def test_checkpoint_of_another_version_or_config_is_refused(tmp_path):
    from snnrl.io import save_versioned

    config = ContinualConfig(strategy="er", seed=0, **QUICK)
    save_versioned(tmp_path / "checkpoint.pt", kind="snnrl-continual-checkpoint", version=0, payload={})
    with pytest.raises(ArtifactError, match="format version 0"):
        run_continual(config, run_dir=tmp_path, progress=False)
    run_continual(config, run_dir=tmp_path / "a", progress=False, max_experiences=1)
    other = ContinualConfig(strategy="er", seed=1, **QUICK)
    with pytest.raises(ArtifactError, match="another configuration"):
        run_continual(other, run_dir=tmp_path / "a", progress=False)


def test_backbone_returning_batch_logits_is_refused():
    class Flat(torch.nn.Module):
        timesteps = 4

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x, timesteps=None):
            return self.fc(x.flatten(1))  # [B, C]: wrong

    with pytest.raises(ValueError, match=r"per-timestep logits \[T, B, C\].*looks like \[B, C\]"):
        check_sequence_logits(Flat()(torch.zeros(3, 1, 8, 8)), 3)
    from snnrl.continual.benchmarks import class_incremental

    bench = class_incremental("digits", n_experiences=5, seed=0, train_per_class=5, test_per_class=2)
    strategy, _ = make_strategy("er", Flat(), evaluator=None)
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        strategy.train(bench.train_stream[0])


def test_bad_settings():
    with pytest.raises(ValueError, match="buffer_size must be >= 1"):
        ContinualConfig(strategy="er", buffer_size=0)
    with pytest.raises(ValueError, match="Unknown strategy"):
        ContinualConfig(strategy="ewc")
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1"):
        ContinualConfig(timesteps=0)
    assert STAERConfig().beta == 1e-4 and STAERConfig().alpha1 == 0.5


def test_ahsar_state_is_checkpointed_and_resumes_identically(tmp_path):
    from snnrl.io import load_versioned

    config = ContinualConfig(strategy="er", seed=2, ahsar=True, **{**QUICK, "n_experiences": 5, "epochs": 2})
    assert config.label == "er-b100-ahsar-s2"
    with pytest.raises(_Crash):
        run_continual(config, run_dir=tmp_path / "killed", progress=False, after_experience=_crash_after(0))
    saved = load_versioned(tmp_path / "killed" / "checkpoint.pt", kind="snnrl-continual-checkpoint", version=1)
    assert saved["ahsar"] is not None and len(saved["ahsar"]["base"]) >= 1
    resumed = run_continual(config, run_dir=tmp_path / "killed", progress=False, max_experiences=3)
    straight = run_continual(config, run_dir=tmp_path / "straight", progress=False, max_experiences=3)
    assert resumed["class_il_matrix"] == straight["class_il_matrix"]
    plain = run_continual(ContinualConfig(strategy="er", seed=2, **{**QUICK, "n_experiences": 5, "epochs": 2}),
                          progress=False, max_experiences=3)
    assert plain["class_il_matrix"] != straight["class_il_matrix"]  # the regulator did change training
