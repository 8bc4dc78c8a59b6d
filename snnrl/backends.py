"""Where the independent tasks of a sweep run: in-process, a process pool on this machine, or a Ray cluster.

A :class:`Backend` maps a top-level function over picklable tasks (small dataclasses) and returns the results in
task order; a failing task raises :class:`TaskError` naming it. Two implementations:

* :class:`LocalBackend` — ``workers=1`` runs the tasks one after the other in this process; ``workers>1`` runs
  them in a ``spawn`` process pool (kept until :meth:`~LocalBackend.close`), each worker with one torch thread.
* :class:`RayBackend` — one Ray task per sweep task (``num_cpus=1``, one torch thread), on a running cluster
  (``address``) or on a local instance bound to the loopback interface. Needs ``pip install snnrl[ray]``.

Each task seeds what it uses (episode seeds, ``ContinualConfig.seed``), so every backend gives the same numbers;
``benchmarks/sweep_backends.py`` checks it with this process on one torch thread too (``torch.set_num_threads(1)``).

The tasks themselves live above: a conversion sweep's in :mod:`snnrl.sweeps.evaluator`, continual-learning runs
in :mod:`snnrl.sweeps.continual`.

Example
-------
>>> make_backend("local").map(abs, [-2, 3, -5], desc="abs", progress=False)
[2, 3, 5]
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = ["Backend", "LocalBackend", "RayBackend", "TaskError", "make_backend", "BACKENDS", "LOOPBACK_RAY_ENV",
           "task_label"]

BACKENDS = ("local", "ray")

T = TypeVar("T")
R = TypeVar("R")


class TaskError(RuntimeError):
    """A task of a sweep failed; the message names the task and the original error (also its ``__cause__``)."""


def task_label(task: Any) -> str:
    """A task's ``label`` attribute when it has one, else its (shortened) repr."""
    label = getattr(task, "label", None)
    if isinstance(label, str) and label:
        return label
    text = repr(task)
    return text if len(text) <= 120 else text[:117] + "..."


def _failure(index: int, task: Any, desc: str, exc: BaseException) -> TaskError:
    return TaskError(f"{desc}: task {index} ({task_label(task)}) failed: {type(exc).__name__}: {exc}")


class Backend(Protocol):
    """Runs ``fn`` over ``tasks``; results come back in task order."""

    name: str

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, desc: str = "tasks", progress: bool = True,
            on_result: Callable[[int, R], None] | None = None) -> list[R]:
        """``[fn(t) for t in tasks]``, with a tqdm bar; ``on_result(index, result)`` as each task finishes.

        Raises
        ------
        TaskError
            A task raised; the message names it.
        """
        ...

    def close(self) -> None:
        """Release what the backend started (pools, a local Ray instance)."""
        ...


def _bar(total: int, desc: str, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="task", disable=None if progress else True)  # None: off without a tty


def _one_thread() -> None:
    """Worker start-up: one torch thread (no oversubscription, same arithmetic as a 1-thread parent)."""
    import torch

    torch.set_num_threads(1)


def _call_in_worker(fn: Callable[[Any], Any], task: Any) -> Any:
    _one_thread()
    return fn(task)


@dataclass
class LocalBackend:
    """Tasks on this machine.

    Parameters
    ----------
    workers
        ``1``: in this process, one after the other; ``>1``: a process pool of that many workers (``spawn`` start
        method, one torch thread each), started at the first :meth:`map` and kept until :meth:`close`.
    """

    workers: int = 1
    name: str = "local"
    _pool: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {self.workers!r}.")

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, desc: str = "tasks", progress: bool = True,
            on_result: Callable[[int, R], None] | None = None) -> list[R]:
        tasks = list(tasks)
        results: list[Any] = [None] * len(tasks)
        bar = _bar(len(tasks), desc, progress)
        try:
            if self.workers == 1:
                for index, task in enumerate(tasks):
                    try:
                        results[index] = fn(task)
                    except Exception as exc:
                        raise _failure(index, task, desc, exc) from exc
                    bar.update(1)
                    if on_result is not None:
                        on_result(index, results[index])
                return results
            from concurrent.futures import FIRST_COMPLETED, wait

            pool = self._start_pool()
            futures = {pool.submit(fn, task): index for index, task in enumerate(tasks)}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)   # report each as it ends
                    for future in sorted(done, key=futures.__getitem__):
                        index = futures[future]
                        exc = future.exception()
                        if exc is not None:
                            raise _failure(index, tasks[index], desc, exc) from exc
                        results[index] = future.result()
                        bar.update(1)
                        if on_result is not None:
                            on_result(index, results[index])
            finally:
                for future in pending:  # after a failure: drop the queued tasks (running ones finish unseen)
                    future.cancel()
            return results
        finally:
            bar.close()

    def _start_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_one_thread)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes (after their running tasks)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "LocalBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# A local Ray instance stays on the loopback interface when Ray runs in its single-machine mode (the environment
# variable is read when ray is imported, and by Ray's own processes); no usage statistics are sent.
LOOPBACK_RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _import_ray(*, loopback: bool = False) -> Any:
    if loopback:
        if sys.modules.get("ray") is not None and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
            warnings.warn("ray was imported before the Ray backend could keep its local instance on the loopback "
                          "interface; set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing ray.", stacklevel=3)
        for key, value in LOOPBACK_RAY_ENV.items():
            os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the Ray backend needs Ray: pip install snnrl[ray]") from exc
    return ray


class RayBackend:
    """Tasks on a Ray cluster, one Ray task (``num_cpus=1``) per sweep task.

    Parameters
    ----------
    address
        A running cluster (``"ray://host:10001"``, ``"host:6379"`` or ``"auto"``); ``None`` starts a local
        instance on the loopback interface (no dashboard, no usage reporting; :data:`LOOPBACK_RAY_ENV`) — unless
        this process is already connected to one, which is then used.
    num_cpus
        CPUs of the local instance (default: all of this machine's); ignored with ``address``.

    The tasks' functions and data must be importable and picklable on the workers: install the same snnrl there.
    :meth:`close` disconnects (and stops the local instance it started); it never stops a cluster it joined.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._ray = _import_ray(loopback=address is None)
        self._connected_here = False

    def _connect(self) -> Any:
        ray = self._ray
        if ray.is_initialized():
            return ray
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")
        self._connected_here = True
        return ray

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, desc: str = "tasks", progress: bool = True,
            on_result: Callable[[int, R], None] | None = None) -> list[R]:
        tasks = list(tasks)
        if not tasks:
            return []
        ray = self._connect()
        remote = ray.remote(num_cpus=1, max_retries=0)(_call_in_worker)
        refs = [remote.remote(fn, task) for task in tasks]
        index_of = {ref: index for index, ref in enumerate(refs)}
        results: list[Any] = [None] * len(tasks)
        pending = list(refs)
        bar = _bar(len(tasks), desc, progress)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    index = index_of[ref]
                    try:
                        results[index] = ray.get(ref)
                    except Exception as exc:
                        for other in pending:
                            ray.cancel(other)
                        cause = getattr(exc, "cause", None) or exc  # RayTaskError wraps the task's exception
                        raise _failure(index, tasks[index], desc, cause) from exc
                    bar.update(1)
                    if on_result is not None:
                        on_result(index, results[index])
        finally:
            bar.close()
        return results

    def close(self) -> None:
        if self._connected_here and self._ray.is_initialized():
            self._ray.shutdown()
        self._connected_here = False

    def __enter__(self) -> "RayBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_backend(name: str = "local", *, workers: int = 1, address: str | None = None) -> Backend:
    """``"local"`` (:class:`LocalBackend` with ``workers``) or ``"ray"`` (:class:`RayBackend` at ``address``).

    Raises
    ------
    ValueError
        Unknown name, or an ``address`` for the local backend.
    """
    if name == "local":
        if address:
            raise ValueError("--address is for the Ray backend; use --backend ray (or drop --address).")
        return LocalBackend(workers=workers)
    if name == "ray":
        return RayBackend(address=address, num_cpus=None if address or workers <= 1 else workers)
    raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}.")
