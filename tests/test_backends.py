"""Sweep backends: in-process, a process pool and Ray give the numbers of a sequential loop.

The evaluation sweep is tiny (committed InvertedPendulum teacher, 200 calibration steps, 2 episodes capped at
60 steps); the continual sweep is two short split-digits runs. The Ray tests (``-m ray``) start a local Ray
instance on the loopback interface and stop it at the end.
"""

from __future__ import annotations

import pytest

from snnrl.agents.conversion import ConversionConfig
from snnrl.agents.zoo import load_teacher
from snnrl.backends import LocalBackend, RayBackend, TaskError, make_backend, task_label
from snnrl.sweeps.continual import ContinualTask, run_continual_task
from snnrl.sweeps.evaluator import SweepTarget, run_sweep, run_sweeps
from snnrl.sweeps.jobs import EvalJob, JobResult, SweepConfig

CONFIG = SweepConfig(timesteps=(4,), alphas=(1.0,), episodes=2, max_steps=60,
                     conversion=ConversionConfig(calibration_steps=200))
JOBS = [EvalJob("ann"), EvalJob("snn", 4), EvalJob("snn+crpi", 4, 1.0)]
CONTINUAL = dict(benchmark="split-digits", backbone="mlp", timesteps=4, batch_size=10, n_experiences=2,
                 train_per_class=20, test_per_class=4, buffer_size=20, epochs=2)


def _numbers(results: list[JobResult]) -> list[tuple]:
    """Everything a sweep measures, except wall times."""
    return [(r.job, [(e.seed, e.episode_return, e.length, e.energy["energy_pj"], e.energy["spikes"],
                      e.action_error_rms, e.action_error_lag1,
                      None if e.action_errors is None else e.action_errors.tobytes()) for e in r.episodes])
            for r in results]


def _continual_numbers(runs: list[dict]) -> list[tuple]:
    return [(r["config"]["strategy"], r["config"]["seed"], r["class_il_matrix"], r["task_il_matrix"],
             r["class_order"]) for r in runs]


def _continual_tasks(tmp_path) -> list[ContinualTask]:
    from snnrl.continual.experiment import ContinualConfig

    configs = [ContinualConfig(strategy=s, seed=seed, **CONTINUAL) for s in ("er", "derpp") for seed in (0,)]
    return [ContinualTask(c, run_dir=str(tmp_path / c.label)) for c in configs]


@pytest.fixture(scope="module")
def pool():
    """One 2-process pool for the module's tests (spawning workers is the slow part)."""
    with LocalBackend(workers=2) as backend:
        yield backend


@pytest.fixture(scope="module")
def teacher():
    actor, entry = load_teacher("td3-invertedpendulum")
    return actor, entry["env_id"]


@pytest.fixture(scope="module")
def sequential(teacher):
    """The plain in-process sweep (no backend): the reference numbers."""
    actor, env_id = teacher
    results, calibration = run_sweep(actor, env_id, CONFIG, jobs=JOBS, progress=False)
    assert [e.length for e in results[0].episodes] == [60, 60]
    return results, calibration


@pytest.fixture(scope="module")
def continual_sequential(tmp_path_factory):
    tasks = _continual_tasks(tmp_path_factory.mktemp("sequential"))
    return [run_continual_task(t) for t in tasks]


def test_local_backend_in_process_matches_the_plain_sweep(teacher, sequential):
    actor, env_id = teacher
    seen = []
    results, calibration = run_sweep(actor, env_id, CONFIG, jobs=JOBS, progress=False, backend=LocalBackend(),
                                     on_job=seen.append)
    assert _numbers(results) == _numbers(sequential[0])
    assert calibration["threshold_mean"] == sequential[1]["threshold_mean"]
    assert [r.job for r in seen] == JOBS


def test_process_pool_matches_the_plain_sweep(teacher, sequential, pool):
    actor, env_id = teacher
    results, _ = run_sweep(actor, env_id, CONFIG, jobs=JOBS, progress=False, backend=pool)
    assert _numbers(results) == _numbers(sequential[0])


def test_several_teachers_in_one_sweep(teacher, sequential, pool):
    actor, env_id = teacher
    targets = [SweepTarget("a", actor, env_id), SweepTarget("b", actor, env_id)]
    (first, _), (second, _) = run_sweeps(targets, CONFIG, jobs=JOBS[:2], progress=False, backend=pool)
    assert _numbers(first) == _numbers(second) == _numbers(sequential[0][:2])


def test_continual_runs_in_a_pool_match_a_sequential_loop(tmp_path, continual_sequential, pool):
    tasks = _continual_tasks(tmp_path)
    runs = pool.map(run_continual_task, tasks, desc="continual", progress=False)
    assert _continual_numbers(runs) == _continual_numbers(continual_sequential)
    assert len({str(r["class_il_matrix"]) for r in runs}) == 2  # two different runs, both learning something
    assert all((tmp_path / t.config.label / "checkpoint.pt").is_file() for t in tasks)


def _fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three is not allowed")
    return value * 10


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_task_is_named_and_results_keep_task_order(workers, pool):
    backend = LocalBackend() if workers == 1 else pool
    finished = []
    assert backend.map(_fail_on_three, [-1, 2, 5], progress=False,
                       on_result=lambda i, r: finished.append(i)) == [-10, 20, 50]
    assert sorted(finished) == [0, 1, 2]
    with pytest.raises(TaskError, match=r"numbers: task 2 \(3\) failed: ValueError: three is not allowed"):
        backend.map(_fail_on_three, [1, 2, 3, 4], desc="numbers", progress=False)


def _sleep_then_return(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


def test_pool_reports_each_task_as_it_ends(pool):
    finished = []
    assert pool.map(_sleep_then_return, [3.0, 0.0], progress=False,
                    on_result=lambda i, r: finished.append(i)) == [3.0, 0.0]
    assert finished == [1, 0]         # the quick task is reported while the slow one still runs


def test_unknown_backend_and_bad_settings():
    with pytest.raises(ValueError, match="unknown backend 'dask'; choose one of: local, ray"):
        make_backend("dask")
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        LocalBackend(workers=0)
    with pytest.raises(ValueError, match="--address is for the Ray backend"):
        make_backend("local", address="127.0.0.1:6379")
    assert isinstance(make_backend("local", workers=2), LocalBackend)


def test_task_labels(tmp_path):
    task = _continual_tasks(tmp_path)[0]
    assert task_label(task) == "split-digits er-b20-s0"
    assert task_label(7) == "7" and task_label("x" * 500).endswith("...")


# -- Ray (pytest -m ray) -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_backend():
    """A local Ray instance on the loopback interface, started here (so the backend must leave it running)."""
    import os

    from snnrl.backends import LOOPBACK_RAY_ENV

    for key, value in LOOPBACK_RAY_ENV.items():  # before ray is imported
        os.environ.setdefault(key, value)
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        backend = RayBackend()
        yield backend
        backend.close()  # it joined an instance it did not start: leaves it running
        assert ray.is_initialized()
    finally:
        ray.shutdown()


@pytest.mark.ray
def test_ray_sweep_matches_the_local_backend(teacher, sequential, ray_backend):
    actor, env_id = teacher
    results, _ = run_sweep(actor, env_id, CONFIG, jobs=JOBS, progress=False, backend=ray_backend)
    assert _numbers(results) == _numbers(sequential[0])


@pytest.mark.ray
def test_ray_continual_runs_match_the_local_backend(tmp_path, continual_sequential, ray_backend):
    tasks = _continual_tasks(tmp_path)
    runs = ray_backend.map(run_continual_task, tasks, desc="continual", progress=False)
    assert _continual_numbers(runs) == _continual_numbers(continual_sequential)


@pytest.mark.ray
def test_ray_failing_task_is_named(ray_backend):
    # a builtin: Ray workers import functions by module, and the test module is not importable there
    assert ray_backend.map(int, ["4", "2"], progress=False) == [4, 2]
    with pytest.raises(TaskError, match=r"numbers: task 1 \('x'\) failed: ValueError: invalid literal"):
        ray_backend.map(int, ["4", "x"], desc="numbers", progress=False)


def test_ray_backend_without_ray_says_how_to_install(monkeypatch):
    import sys

    from snnrl.backends import LOOPBACK_RAY_ENV

    for key, value in LOOPBACK_RAY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r"pip install snnrl\[ray\]"):
        RayBackend()
    with pytest.raises(ImportError, match=r"pip install snnrl\[ray\]"):
        make_backend("ray", address="127.0.0.1:6379")
