"""Exact conversion mode: a ReLU teacher actor as a one-timestep IF-gate network, under SB3's ``predict`` contract.

* :func:`convert_exact` turns a :class:`~snnrl.agents.actor.TeacherActor` (``Linear``/``ReLU`` hidden stack,
  ``tanh`` squash, no observation normalisation) into an :class:`ExactSpikingPolicy`, raising
  :class:`~snnrl.agents.conversion.ConversionError` otherwise.
* :class:`ExactSpikingPolicy` computes :func:`snnrl.exact.reference.reference_actor_forward` with IF-neuron
  gate circuits (:class:`snnrl.exact.network.ExactNetwork`) — bit for bit — and meters every decision in
  ``last_decision_ops`` (``{circuit: int64 [B, 4]}``: macs = 0, accumulates = synaptic events, neuron_updates =
  gate evaluations, spikes), so :func:`~snnrl.agents.evaluation.run_episodes`, the
  :class:`~snnrl.envs.closed_loop.ClosedLoop` wrapper and SB3's ``evaluate_policy`` take it unchanged.
* :class:`SequentialAnnPolicy` is the ANN side of the comparison: the same arithmetic in plain torch
  (:func:`~snnrl.exact.reference.reference_actor_forward`), metered as dense MACs like
  :class:`~snnrl.agents.policy.AnnPolicy`.

Actions vs the ordinary ANN (``TeacherActor.forward``, BLAS sums and ``torch.tanh``): the pre-activations differ
by the summation order only, the tanh by at most 1 ULP (:data:`snnrl.exact.tanh.TANH_ULP_BOUND`); the measured
differences are in the test suite and the report, not a guarantee.

Example
-------
>>> from snnrl.agents.zoo import load_teacher                                    # doctest: +SKIP
>>> actor, entry = load_teacher("td3-invertedpendulum")                          # doctest: +SKIP
>>> policy = convert_exact(actor)                                                 # doctest: +SKIP
>>> action, _ = policy.predict(obs)                                               # doctest: +SKIP
>>> policy.last_decision_ops["layer1.mul"]                                        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from snnrl.agents.actor import TeacherActor
from snnrl.agents.policy import observation_batch, episode_start_mask
from snnrl.exact.network import ExactLayer, ExactNetwork
from snnrl.exact.reference import check_exact_convertible, reference_actor_forward

__all__ = ["check_exact_convertible", "convert_exact", "ExactSpikingPolicy", "SequentialAnnPolicy"]


class ExactSpikingPolicy:
    """The exact-mode actor with SB3's ``predict`` contract (stateless: ``state`` is passed through).

    Parameters
    ----------
    network
        The gate-level network (:func:`convert_exact` builds it).
    metering
        Count gate operations per decision (:attr:`last_decision_ops`); never changes actions.
    meta
        Free-form provenance (teacher name, env id).
    """

    def __init__(self, network: ExactNetwork, *, metering: bool = True, meta: dict[str, Any] | None = None) -> None:
        self.network = network
        self.metering = metering
        self.meta = dict(meta or {})
        self.last_decision_ops: dict[str, torch.Tensor] = {}

    @property
    def obs_dim(self) -> int:
        return self.network.obs_dim

    @property
    def action_dim(self) -> int:
        return self.network.action_dim

    def predict(self, observation: np.ndarray | Any, state: tuple[np.ndarray, ...] | None = None,
                episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for ``observation`` (``(obs_dim,)`` or ``(n_envs, obs_dim)``); ``state`` is returned as given.

        ``deterministic`` is accepted for SB3 compatibility; the policy is always deterministic.
        """
        obs, single = observation_batch(observation, self.obs_dim)
        episode_start_mask(episode_start, obs.shape[0])                 # same shape check as SpikingPolicy
        actions, ops = self.network.decide(obs, metering=self.metering)
        self.last_decision_ops = ops
        out = actions.numpy()
        return (out[0] if single else out), state


def convert_exact(actor: TeacherActor, *, metering: bool = True,
                  meta: dict[str, Any] | None = None) -> ExactSpikingPolicy:
    """Exact-mode conversion of a ReLU teacher actor (see the module docstring)."""
    layers = check_exact_convertible(actor)
    exact = [ExactLayer.from_linear(f"layer{i}", layer.weight, layer.bias, relu=True) for i, layer in enumerate(layers)]
    exact.append(ExactLayer.from_linear("head", actor.head.weight, actor.head.bias, relu=False))
    network = ExactNetwork(exact, action_low=actor.action_low, action_high=actor.action_high)
    info = {"algo": actor.info.algo, "env_id": actor.info.env_id, **(meta or {})}
    return ExactSpikingPolicy(network, metering=metering, meta=info)


class SequentialAnnPolicy:
    """The teacher under exact mode's arithmetic (:func:`reference_actor_forward`), SB3 ``predict`` contract.

    Metered like :class:`~snnrl.agents.policy.AnnPolicy`: ``in × out`` dense MACs per linear layer and row.
    """

    def __init__(self, actor: TeacherActor, *, metering: bool = True) -> None:
        self.actor = actor.eval()
        self._layers = [*check_exact_convertible(actor), actor.head]
        self.metering = metering
        self.last_decision_ops: dict[str, torch.Tensor] = {}

    def predict(self, observation: np.ndarray | Any, state: tuple[np.ndarray, ...] | None = None,
                episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        obs, single = observation_batch(observation, self.actor.obs_dim)
        episode_start_mask(episode_start, obs.shape[0])
        actions = reference_actor_forward(self.actor, obs).numpy()
        if self.metering:
            batch = obs.shape[0]
            names = [f"layer{i}" for i in range(len(self._layers) - 1)] + ["head"]
            self.last_decision_ops = {
                name: torch.tensor([[layer.in_features * layer.out_features, 0, 0, 0]]).expand(batch, 4).clone()
                for name, layer in zip(names, self._layers)}
        return (actions[0] if single else actions), state
