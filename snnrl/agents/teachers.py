"""Training of stable-baselines3 teachers (TD3 / SAC with ReLU actors) on MuJoCo gymnasium tasks.

Training is resumable: every ``checkpoint_every`` steps the model and its replay buffer are written
atomically to a work directory (default ``$SNNRL_HOME/teachers/<name>``, ``~/.cache/snnrl`` if unset).
A killed run continues from its last checkpoint when started again with the same name, and ends exactly where an
uninterrupted run ends: the model file also holds every random state the rest of the run draws from (Python's,
NumPy's and torch's global generators, the action space's, the training and evaluation environments' generators,
the training environment's MuJoCo integration state and time-limit counter), restored on resume. The best actor
seen by the periodic evaluation is kept beside the checkpoint; :func:`export_teacher` turns it into a
small actor-only zoo file (see :mod:`snnrl.agents.zoo`).

Example
-------
>>> spec = TEACHER_SPECS["td3-invertedpendulum"]  # doctest: +SKIP
>>> train_teacher(spec)                           # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.io import ArtifactError, atomic_write_json, describe_error, snnrl_home

__all__ = ["TeacherSpec", "TEACHER_SPECS", "TrainingProgress", "default_workdir", "train_teacher"]

logger = logging.getLogger("snnrl")


@dataclass(frozen=True)
class TeacherSpec:
    """What to train: algorithm, task, budget and the return the teacher must reach.

    Attributes
    ----------
    name
        Zoo name, ``"<algo>-<task>"`` in lower case (e.g. ``"td3-hopper"``).
    algo
        ``"TD3"`` or ``"SAC"``.
    env_id
        A gymnasium id, e.g. ``"Hopper-v5"``.
    total_steps
        Environment steps budget.
    target_return
        Mean return over 10 evaluation episodes that makes the teacher good enough to commit.
    seed
        Seed of the algorithm and environment.
    net_arch
        Hidden layer sizes of actor and critics (ReLU).
    learning_starts
        Random-action warm-up steps.
    action_noise_std
        Gaussian exploration noise for TD3 (fraction of the action range).
    eval_every
        Steps between evaluations of 10 episodes (the best actor is kept).
    stop_return
        Stop early once an evaluation reaches this mean return with every episode running to the time limit
        (``None``: train the whole budget).
    eval_episodes
        Episodes per periodic evaluation.

    The best actor is chosen by a fixed rule over the periodic evaluations: first whether the mean return
    reaches ``target_return``, then the share of episodes that run to the environment's time limit (a teacher
    that falls in some episodes makes every fidelity ratio on it noisy), then the mean return.
    """

    name: str
    algo: str
    env_id: str
    total_steps: int
    target_return: float
    seed: int = 0
    net_arch: tuple[int, ...] = (400, 300)
    learning_starts: int = 10_000
    action_noise_std: float = 0.1
    eval_every: int = 10_000
    stop_return: float | None = None
    eval_episodes: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


def _spec(algo: str, task: str, version: str, steps: int, target: float, **kw: Any) -> TeacherSpec:
    return TeacherSpec(
        name=f"{algo.lower()}-{task.lower()}", algo=algo, env_id=f"{task}-{version}", total_steps=steps,
        target_return=target, **kw,
    )


#: The zoo's teachers. Targets are the project's quality bar (issue: Hopper/Walker2d >= 2500,
#: HalfCheetah >= 5000, InvertedDoublePendulum >= 9000, InvertedPendulum = 1000; Reacher >= -5, the state teacher
#: of the pixel Reacher task, RL Zoo TD3 -3.6; Swimmer >= 250, the state teacher of a pixel locomotion task, RL Zoo TD3
#: 359). Early stopping sits a little above the bar so an independent
#: 10-episode evaluation still clears it. Hopper and Walker2d evaluate 30 episodes: a teacher that stopped on 20 of
#: 20 full episodes still fell in fresh ones (td3-hopper, 140k steps).
TEACHER_SPECS: dict[str, TeacherSpec] = {
    s.name: s
    for s in (
        _spec("TD3", "InvertedPendulum", "v5", 60_000, 1000.0, learning_starts=1_000, eval_every=5_000,
              stop_return=1000.0),
        _spec("TD3", "InvertedDoublePendulum", "v5", 300_000, 9000.0, learning_starts=5_000,
              eval_every=10_000, stop_return=9300.0),
        _spec("TD3", "Hopper", "v5", 1_000_000, 2500.0, stop_return=3000.0, eval_episodes=30),
        _spec("TD3", "HalfCheetah", "v5", 1_000_000, 5000.0, stop_return=6000.0),
        _spec("TD3", "Walker2d", "v5", 1_000_000, 2500.0, stop_return=3000.0, eval_episodes=30),
        _spec("TD3", "Reacher", "v5", 200_000, -5.0, learning_starts=1_000, eval_every=5_000, stop_return=-4.5,
              eval_episodes=20),
        # Swimmer: RL Zoo's discount 0.9999 (its reward comes from slow forward progress); its TD3 reaches 359
        _spec("TD3", "Swimmer", "v5", 1_000_000, 250.0, stop_return=330.0, extra={"gamma": 0.9999}),
        _spec("TD3", "Ant", "v5", 1_000_000, 2500.0, stop_return=4000.0, eval_episodes=20),
        _spec("SAC", "Hopper", "v5", 1_000_000, 2500.0, net_arch=(256, 256), stop_return=3000.0,
              eval_episodes=20),
        _spec("SAC", "Walker2d", "v5", 1_000_000, 2500.0, net_arch=(256, 256), stop_return=3000.0,
              eval_episodes=30),
    )
}


@dataclass
class TrainingProgress:
    """What a work directory records about a (possibly unfinished) training run."""

    name: str
    steps: int = 0
    best_return: float = float("-inf")
    best_return_std: float = 0.0
    best_step: int = 0
    best_full_fraction: float = 0.0
    finished: bool = False
    wall_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, name: str) -> "TrainingProgress":
        """Read ``path`` (a fresh record if it does not exist).

        Raises
        ------
        ArtifactError
            If the file is truncated, corrupt or not a progress record (the message names the file).
        """
        if not path.exists():
            return cls(name=name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, found {type(data).__name__}")
            progress = cls(**data)
            numbers = (progress.steps, progress.best_step, progress.best_return, progress.wall_s)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers) \
                    or not isinstance(progress.history, list):
                raise TypeError("a field has the wrong type")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise ArtifactError(f"Training progress file '{path}' is damaged ({type(exc).__name__}: {exc}). "
                                "Delete it to resume from the model checkpoint with a fresh record, or delete "
                                "the work directory to start over.") from exc
        return progress

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))


def default_workdir(name: str) -> Path:
    """Work directory of a teacher's training run: ``$SNNRL_HOME/teachers/<name>``."""
    return snnrl_home() / "teachers" / name


def _make_model(spec: TeacherSpec, env: Any) -> Any:
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    policy_kwargs = {"net_arch": list(spec.net_arch), "activation_fn": torch.nn.ReLU}
    if spec.algo == "TD3":
        n_act = env.action_space.shape[0]
        noise = NormalActionNoise(np.zeros(n_act), spec.action_noise_std * np.ones(n_act))
        return TD3("MlpPolicy", env, learning_starts=spec.learning_starts, action_noise=noise,
                   policy_kwargs=policy_kwargs, seed=spec.seed, verbose=0, device="cpu", **spec.extra)
    if spec.algo == "SAC":
        return SAC("MlpPolicy", env, learning_starts=spec.learning_starts, policy_kwargs=policy_kwargs,
                   seed=spec.seed, verbose=0, device="cpu", **spec.extra)
    raise ValueError(f"Unsupported teacher algorithm {spec.algo!r}: expected 'TD3' or 'SAC'.")


def _atomic_sb3_save(save_fn: Any, target: Path) -> None:
    """Run an SB3 ``save``-style function into a temporary file, then rename it over ``target``."""
    tmp = target.with_name(f".{target.name}.tmp")
    save_fn(tmp)
    # SB3 appends ".zip" to model paths that lack it.
    written = tmp if tmp.exists() else tmp.with_name(tmp.name + ".zip")
    os.replace(written, target)


def _read_checkpoint(read: Any, source: Path) -> Any:
    """Run ``read()``; SB3's zipfile / pickle / EOF / torch errors on a damaged file become an ArtifactError."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - SB3 raises many types for truncated or corrupt files
        raise ArtifactError(f"Teacher checkpoint '{source}' is damaged ({describe_error(exc)}). "
                            f"Delete its work directory '{source.parent}' to train from scratch.") from exc


def _trim_replay_buffer(model: Any) -> None:
    """Drop the transitions a killed run stored after its model checkpoint (the buffer is written first).

    Only possible while the buffer has not wrapped around; one environment adds one transition per step.
    """
    buffer = model.replay_buffer
    if getattr(buffer, "n_envs", 1) == 1 and not buffer.full and buffer.pos > model.num_timesteps:
        logger.info("replay buffer holds %d transitions, the model %d steps: dropping the %d newer ones",
                    buffer.pos, model.num_timesteps, buffer.pos - model.num_timesteps)
        buffer.pos = model.num_timesteps


_RESUME_STATE = "_snnrl_resume_state"   # attribute of the model: saved in its zip by SB3, restored on load


def _wrappers(env: Any) -> list[Any]:
    chain = [env]
    while hasattr(chain[-1], "env"):
        chain.append(chain[-1].env)
    return chain


def _resume_state(model: Any, eval_env: Any) -> dict[str, Any]:
    """Everything random the rest of a run depends on, at a point where training continues from the model."""
    import random

    import torch

    env = model.env.envs[0]
    unwrapped = env.unwrapped
    state: dict[str, Any] = {
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
        "env_np_random": unwrapped.np_random.bit_generator.state,
        "eval_env_np_random": eval_env.unwrapped.np_random.bit_generator.state,
        "elapsed_steps": [getattr(w, "_elapsed_steps", None) for w in _wrappers(env)],
        "monitor_rewards": [list(w.rewards) if hasattr(w, "rewards") else None for w in _wrappers(env)],
    }
    if hasattr(unwrapped, "model") and hasattr(unwrapped, "data"):   # a MuJoCo env: its physics state
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(unwrapped.model, spec))
        mujoco.mj_getState(unwrapped.model, unwrapped.data, physics, spec)
        state["mujoco"] = physics
    return state


def _restore_resume_state(model: Any, eval_env: Any, state: dict[str, Any]) -> None:
    """Put back what :func:`_resume_state` recorded (the training env is reset first: its wrappers require it)."""
    import random

    import torch

    model.env.reset()
    env = model.env.envs[0]
    unwrapped = env.unwrapped
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    model.action_space.np_random.bit_generator.state = state["action_space"]
    unwrapped.np_random.bit_generator.state = state["env_np_random"]
    eval_env.unwrapped.np_random.bit_generator.state = state["eval_env_np_random"]
    for wrapper, steps, rewards in zip(_wrappers(env), state["elapsed_steps"], state["monitor_rewards"]):
        if steps is not None:
            wrapper._elapsed_steps = steps
        if rewards is not None:
            wrapper.rewards = list(rewards)
    if "mujoco" in state:
        import mujoco

        mujoco.mj_setState(unwrapped.model, unwrapped.data, state["mujoco"], mujoco.mjtState.mjSTATE_INTEGRATION)


def _selection_key(spec: TeacherSpec, mean: float, full_fraction: float) -> tuple[bool, float, float]:
    """Order of evaluations for keeping the best actor: target reached, share to the time limit, return."""
    return (mean >= spec.target_return, full_fraction, mean)


def _stop_reached(spec: TeacherSpec, progress: TrainingProgress) -> bool:
    return (spec.stop_return is not None and progress.best_return >= spec.stop_return
            and progress.best_full_fraction >= 1.0)


def train_teacher(
    spec: TeacherSpec,
    *,
    workdir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 25_000,
    max_steps: int | None = None,
    eval_episodes: int | None = None,
    report: Callable[[str], None] | None = None,
) -> TrainingProgress:
    """Train (or resume) a teacher; returns its progress record.

    Parameters
    ----------
    spec
        The teacher to train.
    workdir
        Where checkpoints go; default :func:`default_workdir`.
    checkpoint_every
        Steps between atomic checkpoints of model and replay buffer.
    max_steps
        Override of ``spec.total_steps`` (e.g. for a smoke test).
    eval_episodes
        Episodes per periodic evaluation (default ``spec.eval_episodes``).
    report
        Called with a one-line progress report (steps, steps/s, the last evaluation) at every evaluation and
        checkpoint (the command line prints it).
    """
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    torch.set_num_threads(1)
    n_eval = spec.eval_episodes if eval_episodes is None else int(eval_episodes)
    work = Path(workdir) if workdir is not None else default_workdir(spec.name)
    work.mkdir(parents=True, exist_ok=True)
    total = int(max_steps if max_steps is not None else spec.total_steps)
    ckpt, buf = work / "model.zip", work / "replay_buffer.pkl"
    best_path, progress_path = work / "best_actor.pt", work / "progress.json"
    atomic_write_json(work / "spec.json", asdict(replace(spec, total_steps=total)))
    progress = TrainingProgress.load(progress_path, spec.name)
    stop_reached = _stop_reached(spec, progress)
    if progress.finished and (progress.steps >= total or stop_reached):
        logger.info("%s: already finished (%d steps, best %.1f)", spec.name, progress.steps, progress.best_return)
        return progress
    progress.finished = False

    env = Monitor(gym.make(spec.env_id))
    eval_env = Monitor(gym.make(spec.env_id))
    eval_env.reset(seed=spec.seed + 10_000)
    time_limit = getattr(eval_env.spec, "max_episode_steps", None)
    algo_cls = {"TD3": TD3, "SAC": SAC}[spec.algo]
    if ckpt.exists():  # anything there must be a readable checkpoint
        # force_reset=False keeps the model's last observation: the restored environment continues that episode.
        model = _read_checkpoint(lambda: algo_cls.load(ckpt, env=env, device="cpu", force_reset=False), ckpt)
        if buf.exists():
            _read_checkpoint(lambda: model.load_replay_buffer(buf), buf)
            _trim_replay_buffer(model)
        saved = getattr(model, _RESUME_STATE, None)
        if saved is not None and model._last_obs is not None:
            _restore_resume_state(model, eval_env, saved)
        else:  # a checkpoint of an older snnrl: fresh randomness (the same seed would replay the same noise)
            model._last_obs = None
            model.set_random_seed(spec.seed + model.num_timesteps)
        logger.info("%s: resumed at %d steps", spec.name, model.num_timesteps)
    else:
        model = _make_model(spec, env)
    start_wall = time.monotonic() - progress.wall_s
    session = (time.monotonic(), model.num_timesteps)   # for the steps/s of this process

    def tell(n: int) -> None:
        if report is None:
            return
        rate = (n - session[1]) / max(time.monotonic() - session[0], 1e-9)
        last = progress.history[-1] if progress.history else None
        evaluation = ("no evaluation yet" if last is None else
                      f"last evaluation {last['return_mean']:.1f} ± {last['return_std']:.1f} at step {last['steps']}"
                      f" (best {progress.best_return:.1f} at {progress.best_step})")
        report(f"{spec.name}: {n}/{total} steps, {rate:.0f} steps/s, {evaluation}")

    class _Checkpointing(BaseCallback):
        due = False  # a checkpoint step was reached; written at the end of its rollout

        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            if n % spec.eval_every == 0:
                returns, lengths = evaluate_policy(self.model, eval_env, n_eval_episodes=n_eval, deterministic=True,
                                                   return_episode_rewards=True)
                mean, std = float(np.mean(returns)), float(np.std(returns))
                full = float(np.mean(np.asarray(lengths) >= time_limit)) if time_limit else 1.0
                progress.history.append({"steps": n, "return_mean": mean, "return_std": std,
                                         "full_fraction": full, "wall_s": time.monotonic() - start_wall})
                if _selection_key(spec, mean, full) > _selection_key(spec, progress.best_return,
                                                                     progress.best_full_fraction):
                    progress.best_return, progress.best_return_std, progress.best_step = mean, std, n
                    progress.best_full_fraction = full
                    _atomic_sb3_save(lambda p: torch.save(self.model.policy.state_dict(), p), best_path)
                logger.info("%s: %d steps, eval %.1f ± %.1f, %.0f%% to the time limit (best %.1f @ %d)", spec.name,
                            n, mean, std, 100 * full, progress.best_return, progress.best_step)
                tell(n)
            stop = _stop_reached(spec, progress)
            if stop:
                self._checkpoint(n)
                logger.info("%s: reached stop return %.1f with every episode to the time limit, stopping",
                            spec.name, spec.stop_return)
            elif n % checkpoint_every == 0:
                self.due = True
            return not stop

        def _on_rollout_start(self) -> None:
            # SB3 calls on_step before it stores the step's transition and trains after the rollout: checkpoint at
            # the start of the next rollout, when the transition is stored and the gradient steps of the rollout are
            # done, so that a resumed run continues exactly where this one goes on.
            if self.due:
                self.due = False
                self._checkpoint(self.model.num_timesteps)

        def _checkpoint(self, n: int) -> None:
            # Buffer before model: a kill between the two leaves a buffer ahead of the model, which a resume trims
            # (the other order would leave a model whose last transitions are missing from the buffer).
            _atomic_sb3_save(self.model.save_replay_buffer, buf)
            setattr(self.model, _RESUME_STATE, _resume_state(self.model, eval_env))
            _atomic_sb3_save(self.model.save, ckpt)
            progress.steps = n
            progress.wall_s = time.monotonic() - start_wall
            progress.save(progress_path)
            tell(n)

    remaining = total - model.num_timesteps
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=_Checkpointing(), reset_num_timesteps=False)
        if progress.steps != model.num_timesteps:  # steps after the last checkpoint: keep their transitions too
            _atomic_sb3_save(model.save_replay_buffer, buf)
    progress.steps = model.num_timesteps
    progress.finished = True
    progress.wall_s = time.monotonic() - start_wall
    setattr(model, _RESUME_STATE, _resume_state(model, eval_env))
    _atomic_sb3_save(model.save, ckpt)
    progress.save(progress_path)
    return progress
