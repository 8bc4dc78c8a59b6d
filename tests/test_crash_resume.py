"""Crash and resume with a real ``kill -9`` (SIGKILL) of the command-line runs.

* Teacher training (``snnrl train-teacher``): killed in the middle of a replay-buffer write (slow variant: also
  after a checkpoint and in the middle of a model write); every restart resumes from the last complete checkpoint
  (nothing lost beyond it), the files left by the killed process still load, and the run finishes with exactly the
  budgeted number of steps and one replay transition per step.
* A continual run (``snnrl continual``): killed in the middle of its second per-experience checkpoint write (slow
  variant, on the whole data set: killed after a checkpoint, then in the middle of a later checkpoint write), then
  resumed; the final results equal an uninterrupted run's bit for bit (on CPU).

A kill "in the middle of a write" is deterministic: the run is started through :data:`_KILL_IN_WRITE`, which makes
the process write the first half of that file's bytes to the temporary file, fsync it and SIGKILL itself, exactly
at the chosen write (a kill from outside, timed by polling, may land before or after the write instead).

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

import numpy as np
import pytest

from snnrl.io import load_versioned

POLL_S = 0.005


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    # One thread, like this test process (tests/conftest.py): the in-process reference run computes the same way.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


# Runs ``snnrl.cli`` with SNNRL_TEST_KILL_IN_WRITE="<file name>:<n>": at the n-th write of that checkpoint file the
# process puts the first half of the file's bytes into the temporary file of the atomic write, fsyncs them and
# SIGKILLs itself (before the rename). Hooks: SB3's pickle writer (replay_buffer.pkl) and zip writer (model.zip),
# and the file object of snnrl.io.atomic_write_bytes (the continual checkpoint.pt).
_KILL_IN_WRITE = r"""
import os, pickle, signal, sys

name, nth = os.environ["SNNRL_TEST_KILL_IN_WRITE"].rsplit(":", 1)
writes = [0]


def due():
    writes[0] += 1
    return writes[0] == int(nth)


def die_halfway(handle, data):
    handle.write(data[: len(data) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    print(f"test hook: SIGKILL halfway through write {nth} of {name}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if name == "replay_buffer.pkl":
    import stable_baselines3.common.off_policy_algorithm as algorithm
    real_pkl = algorithm.save_to_pkl

    def save_to_pkl(path, obj, verbose=0):
        if due():
            with open(path, "wb") as handle:
                die_halfway(handle, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        return real_pkl(path, obj, verbose)

    algorithm.save_to_pkl = save_to_pkl
elif name == "model.zip":
    import io
    import stable_baselines3.common.base_class as base
    real_zip = base.save_to_zip_file

    def save_to_zip_file(path, *args, **kwargs):
        if due():
            archive = io.BytesIO()
            real_zip(archive, *args, **kwargs)
            with open(path, "wb") as handle:
                die_halfway(handle, archive.getvalue())
        return real_zip(path, *args, **kwargs)

    base.save_to_zip_file = save_to_zip_file
else:  # snnrl.io.atomic_write_bytes: mkstemp(".<name>.*.tmp"), os.fdopen(fd, "wb"), write, fsync, os.replace
    real_fdopen = os.fdopen

    class Halfway:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def write(self, data):
            die_halfway(self.handle, data)

        def __getattr__(self, attr):
            return getattr(self.handle, attr)

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{name}.") and due():
            return Halfway(handle)
        return handle

    os.fdopen = fdopen

from snnrl.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _start(args: list[str], log: Path, *, kill_in_write: tuple[str, int] | None = None) -> subprocess.Popen:
    """Start ``snnrl`` with ``args``; with ``kill_in_write=(file name, n)`` it kills itself halfway through the n-th
    write of that file (see :data:`_KILL_IN_WRITE`)."""
    handle = open(log, "ab")
    env, command = _env(), ["-m", "snnrl.cli"]
    if kill_in_write is not None:
        env["SNNRL_TEST_KILL_IN_WRITE"] = f"{kill_in_write[0]}:{kill_in_write[1]}"
        command = ["-c", _KILL_IN_WRITE]
    return subprocess.Popen([sys.executable, *command, *args], stdout=handle, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _killed_in_write(args: list[str], log: Path, name: str, nth: int, partial: Path) -> str:
    """Run until the process SIGKILLs itself halfway through the ``nth`` write of ``name``; checks that it did and
    left the half-written temporary file ``partial`` (a glob) behind. Returns the kill's description."""
    process = _start(args, log, kill_in_write=(name, nth))
    try:
        code = process.wait(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("timed out waiting for the run to reach the write")
    assert code == -signal.SIGKILL, log.read_text()[-3000:]       # not finished, not failed: killed in the write
    assert f"SIGKILL halfway through write {nth} of {name}" in log.read_text()
    written = [p for p in partial.parent.glob(partial.name) if p.stat().st_size > 0]
    assert written, f"no half-written {partial.name} left behind"
    return f"halfway through writing {name}"


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


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# -- teacher training ----------------------------------------------------------------------------------------------

TEACHER = "td3-invertedpendulum"  # learning_starts 1000 (spec); the first steps are random actions, then TD3 updates
TEACHER_STEPS, TEACHER_EVERY = 1200, 200


def _teacher_files_load(work: Path) -> tuple[int, int, int, dict]:
    """(progress steps, model steps, replay-buffer transitions, stored transitions) of what a killed run left;
    each file must load."""
    from stable_baselines3 import TD3

    from snnrl.agents.teachers import TrainingProgress

    progress = TrainingProgress.load(work / "progress.json", TEACHER)
    model = TD3.load(work / "model.zip", device="cpu")
    model.load_replay_buffer(work / "replay_buffer.pkl")
    buffer = model.replay_buffer
    n = buffer.buffer_size if buffer.full else buffer.pos
    stored = {k: getattr(buffer, k)[:n].copy() for k in ("observations", "actions", "rewards", "dones")}
    return progress.steps, model.num_timesteps, n, stored


def _model_parameters(work: Path) -> dict[str, bytes]:
    """The policy's parameters (actor, critics, their targets) of a work folder's model, as bytes."""
    from stable_baselines3 import TD3

    model = TD3.load(work / "model.zip", device="cpu")
    return {k: v.numpy().tobytes() for k, v in model.policy.state_dict().items()}


def _teacher_kill_resume(tmp_path: Path, record_property, kill_moments: tuple[str, ...], steps: int) -> None:
    """Start, SIGKILL at each of ``kill_moments``, restart; then finish. A moment is ``"checkpoint"`` (SIGKILL from
    outside once a new checkpoint is complete: it may land anywhere after it) or a checkpoint file name (the run
    kills itself halfway through its first write of that file after a complete checkpoint)."""
    work, log = tmp_path / "work", tmp_path / "train.log"
    args = ["-v", "train-teacher", TEACHER, "--steps", str(steps), "--checkpoint-every", str(TEACHER_EVERY),
            "--workdir", str(work)]

    def progress_steps() -> int:
        progress = _read_json(work / "progress.json")
        return progress["steps"] if progress else 0

    kills, last, kept = [], 0, None
    for name in kill_moments:
        if name == "checkpoint":
            reason = _kill_when(_start(args, log), lambda: "after a checkpoint" if progress_steps() > last else None)
        else:                      # the first run writes its first checkpoint completely and dies in the second
            reason = _killed_in_write(args, log, name, 1 if last else 2, work / f".{name}.tmp")
        at_kill, model_steps, transitions, stored = _teacher_files_load(work)   # what the killed run left loads
        assert at_kill >= TEACHER_EVERY and at_kill % TEACHER_EVERY == 0
        if name == "checkpoint":
            # The model is the last complete checkpoint or the one being written; the buffer matches or leads it.
            assert model_steps in (at_kill, at_kill + TEACHER_EVERY) and transitions >= model_steps, (
                reason, at_kill, model_steps, transitions)
        else:
            # Killed in the write after the checkpoint it resumed from (the first run: after its first one): that
            # checkpoint is intact. The buffer is written before the model: a kill in the model write leaves the
            # new buffer ahead of it.
            expected = kills[-1][2] if kills else TEACHER_EVERY
            assert model_steps == expected and at_kill in (model_steps, last), (reason, at_kill, model_steps)
            assert transitions == model_steps + (TEACHER_EVERY if name == "model.zip" else 0), (reason, transitions)
        kills.append((reason, at_kill, model_steps))
        last, kept = at_kill, (model_steps, stored)
    _finish(args, log)
    # Every restart resumed exactly at the model checkpoint the killed run left ...
    resumed = [int(n) for n in re.findall(r"resumed at (\d+) steps", log.read_text())]
    assert resumed == [k[2] for k in kills], (resumed, kills)
    # ... and the finished run has every step's transition exactly once: nothing lost, nothing doubled ...
    at_end, model_steps, transitions, stored = _teacher_files_load(work)
    assert at_end == model_steps == transitions == steps, (at_end, model_steps, transitions)
    assert _read_json(work / "progress.json")["finished"]
    # ... the transitions up to the last resumed checkpoint are the checkpointed ones, unchanged ...
    n, before = kept
    assert all(np.array_equal(stored[k][:n], before[k][:n]) for k in before)
    # ... and the run ends bit for bit where an uninterrupted run ends (the checkpoints carry every RNG state):
    # the same transitions, the same parameters.
    from snnrl.cli import main

    reference = tmp_path / "reference"
    assert main(["train-teacher", TEACHER, "--steps", str(steps), "--checkpoint-every", str(TEACHER_EVERY),
                 "--workdir", str(reference)]) == 0
    *_, stored_reference = _teacher_files_load(reference)
    assert all(np.array_equal(stored[k], stored_reference[k]) for k in stored), "replay buffers differ"
    assert _model_parameters(work) == _model_parameters(reference), "final parameters differ"
    record_property("cycles", len(kills))
    record_property("kills", json.dumps(kills))


def test_teacher_training_survives_kill_9_during_a_checkpoint_write(tmp_path, record_property):
    """Killed halfway through the replay-buffer write of its second checkpoint, restarted from the first (which
    still loads), finished."""
    _teacher_kill_resume(tmp_path, record_property, ("replay_buffer.pkl",), TEACHER_STEPS)


@pytest.mark.slow
def test_teacher_training_survives_three_kills(tmp_path, record_property):
    """Killed after a checkpoint, halfway through a replay-buffer write and halfway through a model write, with TD3
    updates between."""
    _teacher_kill_resume(tmp_path, record_property, ("checkpoint", "replay_buffer.pkl", "model.zip"), 1600)


# -- continual learning --------------------------------------------------------------------------------------------

def _continual_args(out: Path, *extra: str) -> list[str]:
    return ["continual", "--benchmark", "split-digits", "--strategy", "er", "--buffer-size", "50", "--out", str(out),
            "--no-progress", "--seeds", "1", *extra]


def _comparable(results: dict) -> dict:
    return {k: v for k, v in results.items() if not k.startswith("wall_s")}


def _continual_kill_resume(tmp_path: Path, record_property, kill_moments: tuple[str, ...],
                           extra: tuple[str, ...]) -> None:
    """SIGKILL at each of ``kill_moments``, restart; compare with an uninterrupted run. ``"checkpoint"``: from
    outside once a new checkpoint is complete; ``"write"``: halfway through the next checkpoint write after a
    complete one (deterministic, see :data:`_KILL_IN_WRITE`)."""
    out, reference, log = tmp_path / "killed", tmp_path / "reference", tmp_path / "continual.log"
    run_dir = out / "er-b50-s0"
    ckpt = run_dir / "checkpoint.pt"

    def done() -> int:
        try:
            return load_versioned(ckpt, kind="snnrl-continual-checkpoint", version=1)["state"]["next_experience"]
        except (FileNotFoundError, ValueError):
            return 0

    kills, last = [], 0
    for name in kill_moments:
        args = _continual_args(out, *extra)
        if name == "checkpoint":
            reason = _kill_when(_start(args, log), lambda: "after a checkpoint" if done() > last else None)
        else:
            for stale in run_dir.glob(".checkpoint.pt.*.tmp"):    # left by an earlier kill: not this one's
                stale.unlink()
            reason = _killed_in_write(args, log, "checkpoint.pt", 1 if last else 2, run_dir / ".checkpoint.pt.*.tmp")
        state = load_versioned(ckpt, kind="snnrl-continual-checkpoint", version=1)["state"]  # still loads
        assert 1 <= state["next_experience"] < 5 and not (run_dir / "results.json").exists()
        if name == "write":       # the checkpoint before the interrupted write, exactly
            assert state["next_experience"] == (last or 1), (state["next_experience"], last)
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
    """Killed halfway through its second per-experience checkpoint write, resumed from the first (which still
    loads): the same results as an uninterrupted run."""
    _continual_kill_resume(tmp_path, record_property, ("write",),
                           ("--train-per-class", "40", "--test-per-class", "20"))


@pytest.mark.slow
def test_continual_full_split_digits_survives_two_kills(tmp_path, record_property):
    """On the whole split-digits data set (the documented command): killed after a checkpoint, then halfway
    through the next checkpoint write, resumed: identical results."""
    _continual_kill_resume(tmp_path, record_property, ("checkpoint", "write"), ())


# -- evaluation sweeps ---------------------------------------------------------------------------------------------

def _sweep_numbers(results: dict) -> dict:
    """What an evaluation computed (not how long it took, nor where)."""
    return {"jobs": [{k: v for k, v in job.items() if k != "wall_s"} for job in results["jobs"]],
            "episodes": results["episodes"], "summary": [{k: v for k, v in row.items() if "wall" not in k}
                                                         for row in results["summary"]],
            "energy_traces": results["energy_traces"]}


@pytest.mark.slow
def test_killed_evaluate_resumes_to_the_uninterrupted_results(tmp_path, record_property):
    """SIGKILL an `snnrl evaluate` once two jobs are written; the rerun reads them back, runs the rest and ends with
    the numbers of an uninterrupted run."""
    from snnrl.cli import main

    quick = ["evaluate", "td3-invertedpendulum", "--timesteps", "2", "--alphas", "0.5", "--episodes", "1",
             "--calibration-steps", "200", "--no-progress"]
    out, log = tmp_path / "killed", tmp_path / "evaluate.log"
    jobs = out / "jobs"
    reason = _kill_when(_start([*quick, "--out", str(out)], log),
                        lambda: "after 2 jobs" if jobs.is_dir() and len(list(jobs.glob("*.json"))) >= 2 else None)
    kept = sorted(p.name for p in jobs.glob("*.json"))
    assert 2 <= len(kept) < 4 and not (out / "results.json").exists(), kept
    _finish([*quick, "--out", str(out)], log)
    assert f"resuming, {len(kept)} of 4 jobs done" in log.read_text()
    assert main([*quick, "--out", str(tmp_path / "reference")]) == 0
    resumed, reference = (json.loads((folder / "results.json").read_text()) for folder in (out, tmp_path / "reference"))
    assert _sweep_numbers(resumed) == _sweep_numbers(reference)
    record_property("cycles", 1)
    record_property("kills", json.dumps([[reason, len(kept)]]))
