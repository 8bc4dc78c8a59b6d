"""Policies with stable-baselines3's ``predict(observation, state, episode_start, deterministic)`` contract.

* :class:`SpikingPolicy` — a converted actor run for ``T`` IF timesteps per decision, optionally with CRPI. Its
  recurrent ``state`` is the CRPI carry of every IF layer, one row per environment; ``episode_start`` resets
  only the rows of the environments that start an episode. So
  ``stable_baselines3.common.evaluation.evaluate_policy`` works on it with single and vectorised envs.
* :class:`AnnPolicy` — the teacher actor under the same contract (for side-by-side evaluation and energy).

Both meter their operations per decision and per environment row when ``metering`` is on
(:attr:`last_decision_ops`), which the energy wrapper and the evaluation read.

Example
-------
>>> policy = SpikingPolicy.load("policy.pt")                                     # doctest: +SKIP
>>> from stable_baselines3.common.evaluation import evaluate_policy             # doctest: +SKIP
>>> evaluate_policy(policy, env, n_eval_episodes=10)                             # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import Decision, SpikingActor
from snnrl.agents.crpi import CRPIConfig, next_carry, start_potential
from snnrl.agents.spike_engine import (EngineDecision, LayerCounts, SpikeEngine, engine_setting, engine_supports,
                                      resolve_engine)
from snnrl.encoding import check_timesteps
from snnrl.io import ArtifactError, load_versioned_any, save_versioned
from snnrl.opcount import OperationCounter

__all__ = ["SpikingPolicy", "PolicyState", "AnnPolicy", "ConstantPolicy", "ObservationError", "POLICY_FORMAT_VERSION",
           "save_policy_set", "load_policy_set", "observation_array", "observation_batch",
           "episode_start_array", "episode_start_mask"]

PolicyState = tuple[np.ndarray, ...]
"""A spiking policy's recurrent state: the CRPI carry of each IF layer, float32 ``[n_envs, width]`` (SB3's
``PolicyPredictor`` state type; the env row is the first axis)."""

POLICY_FORMAT = "snnrl-spiking-policy"
POLICY_FORMAT_VERSION = 2
"""2: policies for several ``T`` in one file (1, one policy, is still read)."""


class ObservationError(ValueError):
    """An observation of the wrong shape, or with NaN / inf values."""


def observation_array(observation: Any, obs_dim: int,
                      obs_shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, bool]:
    """``(obs [B, obs_dim] float32 C-contiguous, was_single)``, with clear errors for bad input.

    With an image ``obs_shape`` (e.g. ``(9, 84, 84)``) observations come as ``obs_shape`` or ``(n_envs, *obs_shape)``
    and are flattened to ``[B, obs_dim]``."""
    obs = np.asarray(observation, dtype=np.float32)
    if obs_shape is not None and len(obs_shape) > 1:
        if obs.shape == tuple(obs_shape) or (obs.ndim == len(obs_shape) + 1 and obs.shape[1:] == tuple(obs_shape)):
            single = obs.ndim == len(obs_shape)
            obs = obs.reshape(1 if single else obs.shape[0], obs_dim)
        else:
            raise ObservationError(f"Expected observation of shape {tuple(obs_shape)} or (n_envs, "
                                   f"{', '.join(map(str, obs_shape))}), got {obs.shape}. Is the policy meant for this "
                                   "environment (frame size, frame stack)?")
    elif obs.shape == (obs_dim,):
        single = True
        obs = obs[None]
    elif obs.ndim == 2 and obs.shape[1] == obs_dim:
        single = False
    else:
        hint = " Did you forget to unbatch?" if obs.ndim > 2 else ""
        raise ObservationError(f"Expected observation of shape ({obs_dim},) or (n_envs, {obs_dim}), got "
                               f"{obs.shape}.{hint} Is the policy meant for this environment?")
    if not math.isfinite(float(obs.sum())) and not np.isfinite(obs).all():   # one reduction when all is well
        rows = sorted({int(r) for r in np.argwhere(~np.isfinite(obs))[:, 0]})
        raise ObservationError(f"Observation contains NaN or inf (env rows {rows}). Check the environment / "
                               "observation wrapper; the policy's state was left unchanged.")
    return (obs if obs.flags.c_contiguous else np.ascontiguousarray(obs)), single


def observation_batch(observation: Any, obs_dim: int,
                      obs_shape: tuple[int, ...] | None = None) -> tuple[torch.Tensor, bool]:
    """:func:`observation_array` as a tensor (shares its memory)."""
    obs, single = observation_array(observation, obs_dim, obs_shape)
    return torch.from_numpy(obs), single


def episode_start_array(episode_start: Any, batch: int) -> np.ndarray | None:
    """SB3's ``episode_start`` (None, a bool, or one per env) as a bool array ``[batch]``."""
    if episode_start is None:
        return None
    mask = np.asarray(episode_start, dtype=bool).reshape(-1)
    if mask.size == 1 and batch > 1:
        mask = np.repeat(mask, batch)
    if mask.shape != (batch,):
        raise ValueError(f"episode_start must have one entry per environment ({batch}), got shape {mask.shape}.")
    return mask


def episode_start_mask(episode_start: Any, batch: int) -> torch.Tensor | None:
    """:func:`episode_start_array` as a bool tensor ``[batch]``."""
    mask = episode_start_array(episode_start, batch)
    return None if mask is None else torch.from_numpy(mask)


class _MeteredPolicy:
    """Shared metering: an :class:`OperationCounter` around each decision, per-row results kept."""

    network: torch.nn.Module

    dense_ops = False  # count every synaptic layer as dense MACs (ANN hardware)

    def _init_metering(self, metering: bool) -> None:
        self.metering = metering
        self.last_decision_ops: Mapping[str, np.ndarray] = {}
        """Operations of the last decision per layer and environment row: ``{layer: int64 array [B, 4]}`` with
        columns ``macs, accumulates, neuron_updates, spikes`` (empty with metering off)."""
        self._counter: OperationCounter | None = None

    def _metered(self, fn, *args: Any) -> Any:
        if not self.metering:
            with torch.no_grad():
                result = fn(*args)
            self.last_decision_ops = {}
            return result
        counter = self.__dict__.get("_counter")
        if counter is None:  # one counter per policy: its hooked layers are found once, not at every decision
            counter = self._counter = OperationCounter(self.network, dense=self.dense_ops)
        counter.reset()
        with torch.no_grad(), counter:
            result = fn(*args)
        self.last_decision_ops = {name: counts.numpy() for name, counts in counter.by_sample().items()}
        return result

    def __getstate__(self) -> dict[str, Any]:
        # The counter holds hook closures (not picklable, and tied to this object): copies build their own.
        state = self.__dict__.copy()
        state["_counter"] = None
        return state


class SpikingPolicy(_MeteredPolicy):
    """A converted spiking actor with SB3's recurrent ``predict`` contract.

    Parameters
    ----------
    actor
        The converted actor (:func:`snnrl.agents.conversion.convert_actor`).
    timesteps
        IF timesteps ``T`` per decision (>= 1).
    crpi
        CRPI settings, or ``None`` for plain conversion (every decision starts fresh, at ``θ/2``).
    metering
        Count operations per decision (:attr:`last_decision_ops`); never changes actions.
    meta
        Free-form provenance (teacher name, env id, calibration) saved with the policy.
    engine
        ``"kernel"`` (the spike-driven engine of :mod:`snnrl.agents.spike_engine`), ``"torch"`` (the reference
        path) or ``"auto"`` (the kernel where numba is there). Default: the
        environment variable ``SNNRL_ENGINE``, else ``"auto"``; both paths give the same actions.
    """

    def __init__(self, actor: SpikingActor, *, timesteps: int, crpi: CRPIConfig | None = None,
                 metering: bool = True, meta: dict[str, Any] | None = None, engine: str | None = None) -> None:
        self.actor = actor.eval()
        self.network = actor
        self.timesteps = check_timesteps(timesteps)
        self.crpi = crpi
        self.meta = dict(meta or {})
        self.engine = engine_setting(engine)             # a bad setting fails here, before any decision
        self._kernel_runs = engine_supports(actor)
        if self.engine == "kernel" and not self._kernel_runs:
            raise ValueError("engine='kernel' needs convolutions with numeric zero padding; this actor runs on "
                             "'torch' (or 'auto').")
        self._obs_dim = actor.obs_dim
        self._obs_shape = actor.obs_shape
        self._engine: SpikeEngine | None = None
        self._flat: tuple[PolicyState, np.ndarray] | None = None   # the last returned state and its [B, N] carry
        self._init_metering(metering)

    # -- state ---------------------------------------------------------------------------------------
    def initial_state(self, n_envs: int = 1) -> PolicyState:
        """Zero carry for ``n_envs`` environments: one float32 array ``[n_envs, width]`` per IF layer."""
        return tuple(np.zeros((n_envs, theta.numel()), dtype=np.float32) for theta in self.actor.thresholds)

    def _carries(self, state: PolicyState | None, batch: int) -> PolicyState:
        """``state`` checked against this policy (``None``, or one of another batch size: a zero carry)."""
        if state is None:
            return self.initial_state(batch)
        widths = [theta.numel() for theta in self.actor.thresholds]
        if not isinstance(state, tuple) or len(state) != len(widths):
            raise ValueError(f"state must be None or the tuple of {len(widths)} carry arrays this policy's predict "
                             f"returned, got {type(state).__name__}.")
        if any(np.shape(c)[0] != batch for c in state):
            return self.initial_state(batch)
        for c, w in zip(state, widths):
            if np.shape(c) != (batch, w):
                raise ValueError(f"state arrays must have shapes {[(batch, w) for w in widths]}, got "
                                 f"{[np.shape(c) for c in state]}: is it another policy's state?")
        return state

    def _reset_rows(self, episode_start: Any, batch: int) -> np.ndarray | None:
        """The rows whose carry is zeroed before this decision: those starting an episode, unless CRPI keeps the
        carry across episodes (``None``: no row)."""
        mask = episode_start_array(episode_start, batch)
        if mask is None or (self.crpi is not None and not self.crpi.reset_on_episode_start):
            return None
        return mask

    @property
    def engine_path(self) -> str:
        """The path decisions take: ``"kernel"`` or ``"torch"`` (always for an actor the kernel cannot run)."""
        return resolve_engine(self.engine) if self._kernel_runs else "torch"

    # -- acting ---------------------------------------------------------------------------------------
    def decide(self, obs: torch.Tensor, state: PolicyState | None = None,
               episode_start: Any = None) -> tuple[Decision, PolicyState]:
        """One decision on ``obs [B, obs_dim]``: the actor's :class:`~snnrl.agents.conversion.Decision` (output
        pre-activation, end potentials, spike counts per layer) and the next state (the CRPI carry)."""
        if self.engine_path == "kernel":
            obs_np = np.ascontiguousarray(obs.detach().numpy(), dtype=np.float32)
            out, new_state = self._kernel_decision(obs_np, state, episode_start, detail=True)
            engine = self._engine
            decision = Decision(torch.from_numpy(out.pre_action),
                                [torch.from_numpy(v) for v in engine.split(out.v_end)],
                                [torch.from_numpy(n) for n in engine.split(out.spike_counts)])
            return decision, new_state
        batch = obs.shape[0]
        carries = [torch.as_tensor(np.asarray(c, dtype=np.float32)) for c in self._carries(state, batch)]
        mask = self._reset_rows(episode_start, batch)
        if mask is not None:
            keep = torch.from_numpy(~mask).to(torch.float32).unsqueeze(1)
            carries = [c * keep for c in carries]
        thetas = self.actor.thresholds
        halves = [0.5 * theta for theta in thetas]
        v_start = [start_potential(v0, c) for v0, c in zip(self.actor.start_potentials, carries)]
        decision = self._metered(self.actor.decide, obs, v_start, self.timesteps)
        if self.crpi is not None:
            carries = [next_carry(vs, ve, n, theta, self.crpi, half=h) for vs, ve, n, theta, h
                       in zip(v_start, decision.v_end, decision.spike_counts, thetas, halves)]
        else:
            carries = [torch.zeros_like(c) for c in carries]
        return decision, tuple(c.numpy() for c in carries)

    def _kernel_decision(self, obs: np.ndarray, state: PolicyState | None, episode_start: Any,
                         detail: bool = False) -> tuple[EngineDecision, PolicyState]:
        """A decision on the spike-driven engine (numpy in and out; counts kept when metering; end potentials and
        spike counts with ``detail``)."""
        engine = self._engine
        if engine is None:
            engine = self._engine = SpikeEngine(self.actor)
        batch = obs.shape[0]
        if self._flat is not None and self._flat[0] is state and len(self._flat[1]) == batch:
            carry = self._flat[1]                                    # the state this policy returned last
        else:
            carry = np.ascontiguousarray(np.concatenate(self._carries(state, batch), axis=1), dtype=np.float32)
        mask = self._reset_rows(episode_start, batch)
        reset = np.zeros(batch, dtype=bool) if mask is None else mask
        out = engine.run(obs, carry, reset, self.timesteps, self.crpi, detail=detail)
        new_state = tuple(engine.split(out.carry))
        self._flat = (new_state, out.carry)
        self.last_decision_ops = LayerCounts(engine.record_index, out.counts) if self.metering else {}
        return out, new_state

    def predict(self, observation: np.ndarray | Any, state: PolicyState | None = None,
                episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, PolicyState]:
        """Actions for ``observation`` (``(obs_dim,)`` or ``(n_envs, obs_dim)``) and the next state, as SB3's
        ``PolicyPredictor`` declares them: the state is a tuple of arrays (the CRPI carry per IF layer, one row per
        environment); pass back what the last call returned.

        ``deterministic`` is accepted for SB3 compatibility; a converted policy is always deterministic.
        """
        obs, single = observation_array(observation, self._obs_dim, self._obs_shape)
        if self.engine_path == "kernel":
            out, new_state = self._kernel_decision(obs, state, episode_start)
            actions = out.action
        else:
            decision, new_state = self.decide(torch.from_numpy(obs), state, episode_start)
            actions = self.actor.squash_action(decision.pre_action).numpy()
        return (actions[0] if single else actions), new_state

    # -- files ---------------------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        from snnrl.agents.actor import layer_spec

        a = self.actor
        layout = {} if not a.convolutional else {         # an MLP's layout follows from the widths (format 1-2)
            "feeds": [layer_spec(f) for f in (a.input_layer, *[h.layer for h in a.hidden_layers])],
            "shapes": [list(s) for s in a.shapes], "obs_shape": list(a.obs_shape)}
        return {
            **layout,
            "state_dict": {k: v.detach().clone() for k, v in a.state_dict().items()},
            "widths": [n.threshold.numel() for n in a.neurons],
            "obs_dim": a.obs_dim, "action_dim": a.action_dim, "squash": a.squash,
            "normalised": a.obs_low is not None,
            "timesteps": self.timesteps, "crpi": None if self.crpi is None else asdict(self.crpi),
            "meta": self.meta,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save actor, settings and provenance as a versioned file, atomically (a set of one, see
        :func:`save_policy_set`)."""
        return save_policy_set(path, [self])

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], metering: bool) -> "SpikingPolicy":
        from torch import nn

        from snnrl.agents.actor import layer_from_spec

        widths, sd = payload["widths"], payload["state_dict"]
        dims = [payload["obs_dim"], *widths]
        thresholds = [sd[f"neurons.{i}.threshold"] for i in range(len(widths))]
        if "feeds" in payload:                                        # a convolutional actor's layout
            feeds = [layer_from_spec(spec) for spec in payload["feeds"]]
            layout = {"shapes": [tuple(s) for s in payload["shapes"]], "obs_shape": tuple(payload["obs_shape"])}
        else:
            feeds = [nn.Linear(dims[i], dims[i + 1]) for i in range(len(widths))]
            layout = {}
        actor = SpikingActor(feeds[0], feeds[1:], nn.Linear(widths[-1], payload["action_dim"]), thresholds,
                             obs_low=sd.get("obs_low"), obs_high=sd.get("obs_high"),
                             action_low=sd["action_low"], action_high=sd["action_high"], squash=payload["squash"],
                             **layout)
        actor.load_state_dict(sd)
        crpi = None if payload["crpi"] is None else CRPIConfig(**payload["crpi"])
        return cls(actor, timesteps=payload["timesteps"], crpi=crpi, metering=metering, meta=payload["meta"])

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, timesteps: int | None = None,
             metering: bool = True) -> "SpikingPolicy":
        """Load a policy written by :meth:`save` or ``snnrl convert`` (raises :class:`~snnrl.io.ArtifactError` on a
        bad file). A file holding policies for several ``T`` gives the one for ``timesteps`` (default: the
        file's first)."""
        policies, _ = load_policy_set(path, metering=metering)
        if timesteps is None:
            return next(iter(policies.values()))
        if timesteps not in policies:
            raise ArtifactError(f"'{path}' holds spiking policies for T = {', '.join(map(str, policies))}, not "
                                f"T={timesteps}; pick one of those or convert again with --timesteps {timesteps}.")
        return policies[timesteps]


def load_policy_set(path: str | os.PathLike[str], *,
                    metering: bool = True) -> tuple[dict[int, SpikingPolicy], dict[str, Any]]:
    """Every policy of a spiking-policy file by ``T`` (in file order) and the file's provenance ``meta``."""
    version, payload = load_versioned_any(path, kind=POLICY_FORMAT, versions=(1, POLICY_FORMAT_VERSION))
    try:
        if version == 1:
            variants, meta = {int(payload["timesteps"]): payload}, {}
        else:
            variants = {int(t): v for t, v in payload["variants"].items()}
            meta = dict(payload["meta"])
        if not variants:
            raise ValueError("the file holds no policy")
        return {t: SpikingPolicy._from_payload(v, metering) for t, v in variants.items()}, meta
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as exc:
        raise ArtifactError(f"'{path}' is a damaged spiking-policy file ({type(exc).__name__}: {exc}). "
                            "Re-create it with `snnrl convert`.") from exc


def save_policy_set(path: str | os.PathLike[str], policies: Sequence[SpikingPolicy],
                    meta: dict[str, Any] | None = None) -> Path:
    """Save spiking policies for different ``T`` in one versioned file, atomically; :meth:`SpikingPolicy.load`
    picks one by ``timesteps``. ``meta`` (e.g. the teacher, the calibration, the tuning) goes with the set."""
    if not policies:
        raise ValueError("save_policy_set needs at least one policy.")
    ts = [p.timesteps for p in policies]
    if len(set(ts)) != len(ts):
        raise ValueError(f"one policy per T, got T = {ts}.")
    return save_versioned(path, kind=POLICY_FORMAT, version=POLICY_FORMAT_VERSION,
                          payload={"variants": {str(p.timesteps): p._payload() for p in policies},
                                   "meta": dict(meta or {})})


class AnnPolicy(_MeteredPolicy):
    """The ANN teacher under the same ``predict`` contract (stateless; ``state`` is passed through).

    Its operations are dense MACs (conventional ANN hardware), whatever the data: they are counted once, on the
    first metered decision, and repeated for every row after that (metering costs a broadcast).
    """

    dense_ops = True

    def __init__(self, actor: TeacherActor, *, metering: bool = True) -> None:
        self.actor = actor.eval()
        self.network = actor
        self._init_metering(metering)
        self._per_row: dict[str, np.ndarray] | None = None

    def predict(self, observation: np.ndarray | Any, state: PolicyState | None = None,
                episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, PolicyState | None]:
        obs, single = observation_batch(observation, self.actor.obs_dim, self.actor.obs_shape)
        if self.metering and self._per_row is not None:
            with torch.no_grad():
                actions = self.actor(obs).numpy()
            batch = obs.shape[0]
            if len(next(iter(self.last_decision_ops.values()), ())) != batch:    # read-only views: kept per batch size
                self.last_decision_ops = {name: np.broadcast_to(row, (batch, 4)) for name, row in self._per_row.items()}
        else:
            actions = self._metered(self.actor, obs).numpy()
            if self.metering:
                self._per_row = {name: counts[:1].copy() for name, counts in self.last_decision_ops.items()}
        return (actions[0] if single else actions), state


class ConstantPolicy:
    """The same action in every state (default: zero, e.g. no torque), under the ``predict`` contract: the
    reference policy of the fidelity score (:func:`snnrl.sweeps.statistics.fidelity_score`)."""

    def __init__(self, action_dim: int, obs_dim: int, value: float = 0.0, *,
                 obs_shape: tuple[int, ...] | None = None) -> None:
        self.action = np.full(int(action_dim), float(value), dtype=np.float32)
        self.obs_dim = int(obs_dim)
        self.obs_shape = obs_shape
        self.last_decision_ops = None

    def predict(self, observation: np.ndarray | Any, state: PolicyState | None = None,
                episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, PolicyState | None]:
        obs, single = observation_batch(observation, self.obs_dim, self.obs_shape)
        actions = np.tile(self.action, (obs.shape[0], 1))
        return (actions[0] if single else actions), state

