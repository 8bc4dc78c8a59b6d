"""Crash and resume with a real ``kill -9`` (SIGKILL) of the command-line runs.

* Teacher training (``snnrl train-teacher``): killed inside a replay-buffer write (slow variant: also after a
  checkpoint and inside a model write); every restart resumes from the last complete checkpoint (nothing lost
  beyond it), the files left by the killed process still load, and the run finishes with exactly the budgeted
  number of steps and one replay transition per step.
* A continual run (``snnrl continual``): killed after its first per-experience checkpoint (slow variant, on the
  whole data set: and again during a later checkpoint write), then resumed; the final results equal an
  uninterrupted run's bit for bit (on CPU).

Every kill/resume cycle is recorded with ``record_property("cycles", n)`` (read by ``benchmarks/reliability.py``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from snnrl.io import load_versioned

POLL_S = 0.005


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    # One thread, like this test process (tests/conftest.py): the in-process reference run computes the same way.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _start(args: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "snnrl.cli", *args], stdout=handle, stderr=subprocess.STDOUT,
                            env=_env(), start_new_session=True)


def _kill_when(process: subprocess.Popen, condition: Callable[[], str | None], *, timeout: float = 240) -> str:
    """SIGKILL ``process`` as soon as ``condition()`` returns a reason; returns it. Fails if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reason = condition()
        if reason:
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(timeout=60) == -signal.SIGKILL
            return reason
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before it could be killed")
        time.sleep(POLL_S)
    process.kill()
    pytest.fail("timed out waiting for the moment to kill the run")


def _finish(args: list[str], log: Path, *, timeout: float = 300) -> None:
    process = _start(args, log)
    assert process.wait(timeout=timeout) == 0, log.read_text()[-3000:]


def _written_since(pattern: Path, since: float) -> bool:
    """A file matching ``pattern`` (a glob in its name) was modified at or after ``since`` (not a stale leftover)."""
    for path in pattern.parent.glob(pattern.name):
        try:
            if path.stat().st_mtime >= since - 0.5:
                return True
        except FileNotFoundError:
            pass
    return False


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# -- teacher training ----------------------------------------------------------------------------------------------

TEACHER = "td3-invertedpendulum"  # learning_starts 1000 (spec); the first steps are random actions, then TD3 updates
TEACHER_STEPS, TEACHER_EVERY = 1200, 200


def _teacher_files_load(work: Path) -> tuple[int, int, int]:
    """(progress steps, model steps, replay-buffer transitions) of what a killed run left; each file must load."""
    from stable_baselines3 import TD3

    from snnrl.agents.teachers import TrainingProgress

    progress = TrainingProgress.load(work / "progress.json", TEACHER)
    model = TD3.load(work / "model.zip", device="cpu")
    model.load_replay_buffer(work / "replay_buffer.pkl")
    buffer = model.replay_buffer
    return progress.steps, model.num_timesteps, buffer.buffer_size if buffer.full else buffer.pos


def _teacher_kill_resume(tmp_path: Path, record_property, kill_moments: tuple[str, ...], steps: int) -> None:
    """Start, SIGKILL at each of ``kill_moments`` (a checkpoint file name, or "checkpoint"), restart; then finish."""
    work, log = tmp_path / "work", tmp_path / "train.log"
    args = ["-v", "train-teacher", TEACHER, "--steps", str(steps), "--checkpoint-every", str(TEACHER_EVERY),
            "--workdir", str(work)]

    def progress_steps() -> int:
        progress = _read_json(work / "progress.json")
        return progress["steps"] if progress else 0

    def moment(name: str, last: int, since: float) -> str | None:
        if name != "checkpoint" and progress_steps() > 0 and _written_since(work / f".{name}.tmp", since):
            return f"while writing {name}"  # with a complete checkpoint before it
        # A missed write falls back to "after the next checkpoint".
        return "after a checkpoint" if progress_steps() > last + (name != "checkpoint") * TEACHER_EVERY else None

    kills, last = [], 0
    for name in kill_moments:
        since = time.time()
        reason = _kill_when(_start(args, log), lambda: moment(name, last, since))
        at_kill, model_steps, transitions = _teacher_files_load(work)       # what the killed run left still loads
        assert at_kill >= TEACHER_EVERY and at_kill % TEACHER_EVERY == 0
        # The model is the last complete checkpoint or the one being written; the buffer matches or leads it.
        assert model_steps in (at_kill, at_kill + TEACHER_EVERY) and transitions >= model_steps, (
            reason, at_kill, model_steps, transitions)
        kills.append((reason, at_kill, model_steps))
        last = at_kill
    _finish(args, log)
    # Every restart resumed exactly at the model checkpoint the killed run left ...
    resumed = [int(n) for n in re.findall(r"resumed at (\d+) steps", log.read_text())]
    assert resumed == [k[2] for k in kills], (resumed, kills)
    # ... and the finished run has every step's transition exactly once: nothing lost, nothing doubled.
    at_end, model_steps, transitions = _teacher_files_load(work)
    assert at_end == model_steps == transitions == steps, (at_end, model_steps, transitions)
    assert _read_json(work / "progress.json")["finished"]
    record_property("cycles", len(kills))
    record_property("kills", json.dumps(kills))


def test_teacher_training_survives_kill_9_during_a_checkpoint_write(tmp_path, record_property):
    """Killed inside the replay-buffer write of its second checkpoint, restarted from the first, finished."""
    _teacher_kill_resume(tmp_path, record_property, ("replay_buffer.pkl",), TEACHER_STEPS)


@pytest.mark.slow
def test_teacher_training_survives_three_kills(tmp_path, record_property):
    """Killed after a checkpoint, inside a replay-buffer write and inside a model write, with TD3 updates between."""
    _teacher_kill_resume(tmp_path, record_property, ("checkpoint", "replay_buffer.pkl", "model.zip"), 1600)


# -- continual learning --------------------------------------------------------------------------------------------

def _continual_args(out: Path, *extra: str) -> list[str]:
    return ["continual", "--benchmark", "split-digits", "--strategy", "er", "--buffer-size", "50", "--out", str(out),
            "--no-progress", "--seeds", "1", *extra]


def _comparable(results: dict) -> dict:
    return {k: v for k, v in results.items() if not k.startswith("wall_s")}


def _continual_kill_resume(tmp_path: Path, record_property, kill_moments: tuple[str, ...],
                           extra: tuple[str, ...]) -> None:
    """SIGKILL at each of ``kill_moments`` ("checkpoint" or "write"), restart; compare with an uninterrupted run."""
    out, reference, log = tmp_path / "killed", tmp_path / "reference", tmp_path / "continual.log"
    run_dir = out / "er-b50-s0"
    ckpt = run_dir / "checkpoint.pt"

    def done() -> int:
        try:
            return load_versioned(ckpt, kind="snnrl-continual-checkpoint", version=1)["state"]["next_experience"]
        except (FileNotFoundError, ValueError):
            return 0

    def moment(name: str, last: int, since: float) -> str | None:
        if name == "write" and done() > 0 and _written_since(run_dir / ".checkpoint.pt.*.tmp", since):
            return "while writing the checkpoint"
        return "after a checkpoint" if done() > last else None

    kills, last = [], 0
    for name in kill_moments:
        since = time.time()
        reason = _kill_when(_start(_continual_args(out, *extra), log), lambda: moment(name, last, since))
        state = load_versioned(ckpt, kind="snnrl-continual-checkpoint", version=1)["state"]  # still loads
        assert 1 <= state["next_experience"] < 5 and not (run_dir / "results.json").exists()
        kills.append((reason, state["next_experience"]))
        last = state["next_experience"]
    _finish(_continual_args(out, *extra), log)
    from snnrl.cli import main

    assert main(_continual_args(reference, *extra)) == 0  # the uninterrupted run, in this process (one thread)
    resumed = json.loads((run_dir / "results.json").read_text())
    expected = json.loads((reference / "er-b50-s0" / "results.json").read_text())
    assert _comparable(resumed) == _comparable(expected)   # matrices, accuracies, forgetting, class order, ...
    assert len(resumed["wall_s_per_experience"]) == 5
    record_property("cycles", len(kills))
    record_property("kills", json.dumps(kills))


def test_continual_run_survives_kill_9_with_identical_results(tmp_path, record_property):
    """Killed after its first per-experience checkpoint, resumed: the same results as an uninterrupted run."""
    _continual_kill_resume(tmp_path, record_property, ("checkpoint",),
                           ("--train-per-class", "40", "--test-per-class", "20"))


@pytest.mark.slow
def test_continual_full_split_digits_survives_two_kills(tmp_path, record_property):
    """On the whole split-digits data set (the documented command): killed after a checkpoint and during the next
    checkpoint write (or just after it), resumed: identical results."""
    _continual_kill_resume(tmp_path, record_property, ("checkpoint", "write"), ())
