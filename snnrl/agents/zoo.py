"""The committed teacher zoo: small actor-only files and a manifest, inside the package (no downloads).

``snnrl/zoo/manifest.json`` has one entry per teacher: algorithm, env id, training steps, seed, evaluation
return (mean ± std over 10 seeded episodes), the actor file's SHA-256 and the package versions it was made
with. :func:`export_teacher` writes an entry from a finished training run (:mod:`snnrl.agents.teachers`);
:func:`load_teacher` reads one back, checking the file hash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.agents.actor import TeacherActor, actor_from_sb3, load_actor, save_actor
from snnrl.io import ArtifactError, atomic_write_json, sha256_file
from snnrl.results import package_versions

__all__ = ["ZOO_DIR", "SB3_ALGOS", "TeacherLoadError", "list_teachers", "state_teachers", "not_state_teacher",
           "load_teacher", "load_sb3_teacher", "export_teacher", "add_to_zoo"]

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"


def _manifest_path(zoo_dir: Path) -> Path:
    return zoo_dir / "manifest.json"


def list_teachers(zoo_dir: str | os.PathLike[str] = ZOO_DIR) -> dict[str, dict[str, Any]]:
    """The manifest: ``{name: entry}`` (empty if there is no zoo yet)."""
    path = _manifest_path(Path(zoo_dir))
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc["format"] != "snnrl-teacher-zoo" or doc["format_version"] != 1:
            raise ArtifactError(f"Teacher manifest '{path}' is a {doc['format']!r} file of format version "
                                f"{doc['format_version']!r}; this snnrl reads 'snnrl-teacher-zoo' version 1. Restore "
                                "it from version control.")
        teachers = doc["teachers"]
        if not isinstance(teachers, dict) or not all(isinstance(e, dict) for e in teachers.values()):
            raise TypeError("'teachers' must map names to entries")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"Teacher manifest '{path}' is damaged ({type(exc).__name__}: {exc}); restore it from "
                            "version control.") from exc
    return teachers


def state_teachers(zoo_dir: str | os.PathLike[str] = ZOO_DIR) -> list[str]:
    """Sorted names of the zoo's teachers on vector states (not the CNNs distilled from them, which name their
    ``state_teacher``)."""
    return sorted(name for name, entry in list_teachers(zoo_dir).items() if "state_teacher" not in entry)


def not_state_teacher(names: Sequence[str], zoo_dir: str | os.PathLike[str] = ZOO_DIR) -> str | None:
    """One line naming the first of ``names`` that is not in :func:`state_teachers` and the names that are, for a
    command's argument check; ``None`` when every name is one."""
    known = state_teachers(zoo_dir)
    bad = next((name for name in names if name not in known), None)
    if bad is None:
        return None
    return f"teacher {bad!r}: not a state teacher of the zoo; give one of {', '.join(known)}."


def load_teacher(name: str, zoo_dir: str | os.PathLike[str] = ZOO_DIR) -> tuple[TeacherActor, dict[str, Any]]:
    """Load zoo teacher ``name``; returns ``(actor, manifest entry)``. Checks the file's SHA-256."""
    zoo = Path(zoo_dir)
    teachers = list_teachers(zoo)
    if name not in teachers:
        known = ", ".join(sorted(teachers)) or "none yet"
        raise KeyError(f"No teacher {name!r} in the zoo ({zoo}). Known teachers: {known}.")
    entry = teachers[name]
    if not isinstance(entry.get("file"), str) or not isinstance(entry.get("sha256"), str):
        raise ArtifactError(f"Teacher manifest '{_manifest_path(zoo)}': entry {name!r} lacks its 'file' or 'sha256'; "
                            "restore the manifest from version control.")
    path = zoo / entry["file"]
    if not path.is_file():
        raise ArtifactError(f"Teacher file '{path}' is missing; restore it from version control.")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ArtifactError(f"Teacher file '{path}' does not match its manifest hash (file changed or damaged). "
                            "Restore it from version control or re-export the teacher.")
    actor, _ = load_actor(path)
    return actor, entry


#: The SB3 algorithms :func:`load_sb3_teacher` tries, in order.
SB3_ALGOS = ("TD3", "SAC", "PPO", "A2C", "DDPG")


class TeacherLoadError(ValueError):
    """A user's SB3 zip (or its VecNormalize file) does not fit the environment it is to act in."""


def _spaces_mismatch(model: Any, env: Any) -> str | None:
    """What differs between a model's observation/action spaces and an environment's (``None``: they fit)."""
    from gymnasium import spaces

    obs_model, obs_env = model.observation_space, env.observation_space
    if type(obs_model) is not type(obs_env) or getattr(obs_model, "shape", None) != getattr(obs_env, "shape", None):
        return f"observation space {obs_model} (the zip) vs {obs_env} (the environment)"
    act_model, act_env = model.action_space, env.action_space
    if not isinstance(act_env, spaces.Box):
        return f"the environment's action space {act_env} is not continuous (Box); only Box actions convert"
    if not isinstance(act_model, spaces.Box) or act_model.shape != act_env.shape \
            or not (np.array_equal(act_model.low, act_env.low) and np.array_equal(act_model.high, act_env.high)):
        return f"action space {act_model} (the zip) vs {act_env} (the environment)"
    return None


def _vecnormalize_evidence(model: Any, source: Path) -> str | None:
    """Why ``model`` (loaded from ``source``) looks trained under VecNormalize; ``None`` if nothing says so."""
    beside = sorted(p.name for p in source.parent.glob("*.pkl")
                    if "vecnormalize" in p.name.lower().replace("_", "").replace("-", ""))
    if beside:
        return f"{', '.join(beside)} lies beside it"
    if type(model).__name__ in ("PPO", "A2C") and getattr(model, "_last_original_obs", None) is not None:
        return "SB3 recorded unnormalised observations in it"
    return None


def load_sb3_teacher(path: str | os.PathLike[str], *, env_id: str,
                     vecnormalize: str | os.PathLike[str] | None = None) -> TeacherActor:
    """The deterministic actor of a user's SB3 zip, checked against ``env_id``, with its VecNormalize statistics.

    Parameters
    ----------
    path
        A TD3 / SAC / PPO / A2C / DDPG zip (``model.save``).
    env_id
        The gymnasium id it acts in; the zip's observation and action spaces must equal the environment's.
    vecnormalize
        The ``VecNormalize`` file saved with the model (``vec_env.save(...)``): its observation statistics become
        the actor's normalisation, which conversion folds into the first layer.

    A zip is taken as trained under VecNormalize, and refused without ``vecnormalize`` (its actor expects
    normalised observations), when (a) a VecNormalize file lies beside it (a ``*.pkl`` whose name holds
    ``vecnormalize`` / ``vec_normalize``, as rl-baselines3-zoo and SB3's examples save it), or (b) it is a PPO / A2C
    zip in which SB3 recorded an unnormalised last observation (``_last_original_obs``: on-policy algorithms set it
    only under VecNormalize). A TD3 / SAC / DDPG zip whose statistics file was moved away cannot be told from the
    zip alone (off-policy algorithms keep ``_last_original_obs`` either way).

    Raises
    ------
    TeacherLoadError
        On an unloadable file, spaces that do not fit ``env_id``, a missing or mismatched VecNormalize file.
    """
    import pickle

    import gymnasium as gym
    import stable_baselines3 as sb3

    source = Path(path)
    model = None
    for algo in SB3_ALGOS:
        try:
            model = getattr(sb3, algo).load(source, device="cpu")
            break
        except Exception:  # noqa: BLE001 - try the next algorithm
            continue
    if model is None:
        raise TeacherLoadError(f"{source} is not a loadable {'/'.join(SB3_ALGOS)} zip; give a file saved with "
                               "SB3's model.save().")
    env = gym.make(env_id)
    try:
        mismatch = _spaces_mismatch(model, env)
    finally:
        env.close()
    if mismatch:
        raise TeacherLoadError(f"{source} does not fit {env_id}: {mismatch}; give the environment it was trained on (--env).")
    stats = None
    if vecnormalize is not None:
        try:
            with open(vecnormalize, "rb") as handle:
                stats = pickle.load(handle)
        except Exception as exc:  # noqa: BLE001 - pickle raises many types on foreign or damaged files
            raise TeacherLoadError(f"{vecnormalize} is not a readable VecNormalize file ({type(exc).__name__}); "
                                   "give the file of vec_env.save(...).") from exc
        if not hasattr(stats, "obs_rms") or not hasattr(stats, "norm_obs"):
            raise TeacherLoadError(f"{vecnormalize} holds a {type(stats).__name__}, not a VecNormalize; give the "
                                   "file of vec_env.save(...).")
        if stats.norm_obs and np.shape(stats.obs_rms.mean) != model.observation_space.shape:
            raise TeacherLoadError(f"{vecnormalize} normalises observations of shape {np.shape(stats.obs_rms.mean)}, "
                                   f"the zip's are {model.observation_space.shape}; give the zip's own file.")
    else:
        evidence = _vecnormalize_evidence(model, source)
        if evidence:
            raise TeacherLoadError(f"{source} was trained under VecNormalize ({evidence}): give its statistics "
                                   "(vecnormalize=, --vecnormalize PATH); without them its actor sees unnormalised "
                                   "observations.")
    return actor_from_sb3(model, env_id=env_id, vec_normalize=stats)


def export_teacher(name: str, *, workdir: str | os.PathLike[str] | None = None,
                   zoo_dir: str | os.PathLike[str] = ZOO_DIR, eval_episodes: int = 10, eval_seed: int = 1000,
                   require_target: bool = True) -> dict[str, Any]:
    """Turn a training run's best actor into a zoo entry (file + manifest), after a fresh evaluation.

    Raises
    ------
    ValueError
        If ``require_target`` and the evaluation's mean return is below the teacher's target.
    """
    import gymnasium as gym
    import torch

    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.policy import AnnPolicy
    from snnrl.agents.teachers import TEACHER_SPECS, TrainingProgress, _make_model, default_workdir

    spec = TEACHER_SPECS[name]
    work = Path(workdir) if workdir is not None else default_workdir(name)
    best = work / "best_actor.pt"
    if not best.is_file():
        raise FileNotFoundError(f"No best actor at '{best}': train first (snnrl train-teacher {name}).")
    progress = TrainingProgress.load(work / "progress.json", name)
    env = gym.make(spec.env_id)
    model = _make_model(spec, env)
    model.policy.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    actor = actor_from_sb3(model, env_id=spec.env_id)
    results = run_episodes(AnnPolicy(actor, metering=False), spec.env_id, episodes=eval_episodes, seed=eval_seed)
    returns = np.array([r.episode_return for r in results])
    mean, std = float(returns.mean()), float(returns.std())
    if require_target and mean < spec.target_return:
        raise ValueError(f"{name}: evaluation return {mean:.1f} ± {std:.1f} is below the target "
                         f"{spec.target_return:.0f}; train longer before exporting.")
    entry = {
        "algo": spec.algo, "env_id": spec.env_id, "net_arch": list(spec.net_arch), "seed": spec.seed,
        "steps": progress.best_step, "steps_trained": progress.steps, "target_return": spec.target_return,
        "return_mean": mean, "return_std": std, "eval_episodes": eval_episodes, "eval_seed": eval_seed,
    }
    return add_to_zoo(name, actor, entry, zoo_dir=zoo_dir)


def add_to_zoo(name: str, actor: TeacherActor, entry: dict[str, Any], *,
               zoo_dir: str | os.PathLike[str] = ZOO_DIR) -> dict[str, Any]:
    """Write ``actor`` as ``<name>.pt`` and its manifest ``entry`` (plus file name, package versions and SHA-256),
    atomically; an entry of the same name is replaced. Returns the entry written."""
    zoo = Path(zoo_dir)
    file_name = f"{name}.pt"
    entry = {**entry, "file": file_name, "versions": package_versions()}
    save_actor(zoo / file_name, actor, meta={"name": name, **{k: v for k, v in entry.items() if k != "versions"}})
    entry["sha256"] = sha256_file(zoo / file_name)
    manifest = {"format": "snnrl-teacher-zoo", "format_version": 1,
                "teachers": {**list_teachers(zoo), name: entry}}
    atomic_write_json(_manifest_path(zoo), manifest)
    return entry
