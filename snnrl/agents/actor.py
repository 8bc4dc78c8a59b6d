"""The teacher's deterministic actor as a plain torch module, extracted from stable-baselines3.

A :class:`TeacherActor` is what conversion needs and nothing more: optional observation normalisation,
the hidden stack (as SB3 built it, e.g. ``Linear, ReLU, Linear, ReLU``), the output layer, the squashing
(``tanh`` for TD3/SAC, ``clip`` for PPO/A2C) and the action bounds. It is saved as a small versioned file.

Supported SB3 models: TD3 / DDPG (``actor.mu``), SAC (``actor.latent_pi`` + ``actor.mu``, deterministic mean),
PPO / A2C with a Box action space (``mlp_extractor.policy_net`` + ``action_net``, the mean action).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnrl.io import load_versioned, save_versioned

__all__ = ["TeacherActor", "ActorInfo", "actor_from_sb3", "save_actor", "load_actor", "ACTOR_FORMAT_VERSION"]

ACTOR_FORMAT = "snnrl-teacher-actor"
ACTOR_FORMAT_VERSION = 1
_SQUASHES = ("tanh", "clip")


@dataclass(frozen=True)
class ActorInfo:
    """Where an actor comes from: algorithm, task, and how its output maps to actions."""

    algo: str
    env_id: str
    squash: str = "tanh"

    def __post_init__(self) -> None:
        if self.squash not in _SQUASHES:
            raise ValueError(f"squash must be one of {_SQUASHES}, got {self.squash!r}.")


class TeacherActor(nn.Module):
    """Deterministic ANN actor: ``action = unscale(squash(head(hidden(normalise(obs)))))``.

    Parameters
    ----------
    hidden
        The hidden stack (``nn.Sequential`` of Linear and activation layers).
    head
        The output ``nn.Linear``.
    action_low, action_high
        Bounds of the Box action space.
    info
        Algorithm, env id and squashing.
    obs_mean, obs_var, obs_clip, obs_eps
        Optional observation normalisation (``VecNormalize``): ``clip((obs − mean)/sqrt(var + eps))``.
    """

    def __init__(self, hidden: nn.Sequential, head: nn.Linear, *, action_low: np.ndarray | torch.Tensor,
                 action_high: np.ndarray | torch.Tensor, info: ActorInfo,
                 obs_mean: torch.Tensor | None = None, obs_var: torch.Tensor | None = None,
                 obs_clip: float = 10.0, obs_eps: float = 1e-8) -> None:
        super().__init__()
        self.hidden = hidden
        self.head = head
        self.info = info
        self.register_buffer("action_low", torch.as_tensor(action_low, dtype=torch.float32).clone())
        self.register_buffer("action_high", torch.as_tensor(action_high, dtype=torch.float32).clone())
        self.obs_clip, self.obs_eps = float(obs_clip), float(obs_eps)
        self.register_buffer("obs_mean", None if obs_mean is None else torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_var", None if obs_var is None else torch.as_tensor(obs_var, dtype=torch.float32))

    @property
    def obs_dim(self) -> int:
        first = next(m for m in self.hidden.modules() if isinstance(m, nn.Linear)) if len(self.hidden) else self.head
        return first.in_features

    @property
    def action_dim(self) -> int:
        return self.head.out_features

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        """Observation normalisation (identity when the teacher has none)."""
        if self.obs_mean is None:
            return obs
        return torch.clamp((obs - self.obs_mean) / torch.sqrt(self.obs_var + self.obs_eps), -self.obs_clip, self.obs_clip)

    def squash(self, pre_action: torch.Tensor) -> torch.Tensor:
        """Map the output layer's values to actions within the bounds."""
        if self.info.squash == "tanh":
            scaled = torch.tanh(pre_action)
            return self.action_low + 0.5 * (scaled + 1.0) * (self.action_high - self.action_low)
        return torch.maximum(torch.minimum(pre_action, self.action_high), self.action_low)

    def hidden_activations(self, obs: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every hidden activation layer (what thresholds are calibrated on)."""
        x = self.normalise(obs)
        outs = []
        for layer in self.hidden:
            x = layer(x)
            if not isinstance(layer, nn.Linear):
                outs.append(x)
        return outs

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.squash(self.head(self.hidden(self.normalise(obs))))


def _sb3_parts(model: Any) -> tuple[nn.Sequential, nn.Linear, str]:
    """(hidden stack, output layer, squash) of an SB3 model's deterministic actor."""
    name = type(model).__name__
    policy = model.policy
    if name in ("TD3", "DDPG"):
        layers = list(policy.actor.mu)
        if not layers or not isinstance(layers[-1], nn.Tanh) or not isinstance(layers[-2], nn.Linear):
            raise ValueError(f"{name} actor has an unexpected layout {layers}; expected [..., Linear, Tanh].")
        return nn.Sequential(*layers[:-2]), layers[-2], "tanh"
    if name == "SAC":
        return nn.Sequential(*policy.actor.latent_pi), policy.actor.mu, "tanh"
    if name in ("PPO", "A2C"):
        if getattr(policy, "squash_output", False):
            raise ValueError(f"{name} with squash_output=True (gSDE) is not supported; train without it.")
        return nn.Sequential(*policy.mlp_extractor.policy_net), policy.action_net, "clip"
    raise ValueError(f"Unsupported SB3 algorithm {name}: expected TD3, DDPG, SAC, PPO or A2C.")


def actor_from_sb3(model: Any, *, env_id: str, vec_normalize: Any | None = None) -> TeacherActor:
    """Extract the deterministic actor of a trained SB3 model (a copy; the model is untouched).

    Parameters
    ----------
    model
        A loaded TD3 / DDPG / SAC / PPO / A2C model with a Box action space.
    env_id
        The gymnasium id the model acts in.
    vec_normalize
        The ``VecNormalize`` wrapper used in training, if any (its observation statistics are kept).
    """
    import copy

    from gymnasium import spaces

    if not isinstance(model.action_space, spaces.Box):
        raise ValueError(f"Only continuous (Box) action spaces can be converted, got {model.action_space}.")
    extractor = getattr(model.policy, "features_extractor", None) or getattr(model.policy.actor, "features_extractor", None)
    if extractor is not None and type(extractor).__name__ != "FlattenExtractor":
        raise ValueError(f"Features extractor {type(extractor).__name__} is not supported; use an MLP policy.")
    hidden, head, squash = _sb3_parts(model)
    kwargs: dict[str, Any] = {}
    if vec_normalize is not None and getattr(vec_normalize, "norm_obs", False):
        rms = vec_normalize.obs_rms
        kwargs = dict(obs_mean=torch.as_tensor(rms.mean), obs_var=torch.as_tensor(rms.var),
                      obs_clip=vec_normalize.clip_obs, obs_eps=vec_normalize.epsilon)
    actor = TeacherActor(copy.deepcopy(hidden).cpu(), copy.deepcopy(head).cpu(),
                         action_low=model.action_space.low, action_high=model.action_space.high,
                         info=ActorInfo(algo=type(model).__name__, env_id=env_id, squash=squash), **kwargs)
    return actor.eval()


def _layer_spec(layer: nn.Module) -> dict[str, Any]:
    if isinstance(layer, nn.Linear):
        return {"type": "Linear", "in": layer.in_features, "out": layer.out_features}
    return {"type": type(layer).__name__}


_ACTIVATIONS = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "ELU": nn.ELU, "LeakyReLU": nn.LeakyReLU, "Sigmoid": nn.Sigmoid,
                "Identity": nn.Identity, "GELU": nn.GELU, "SiLU": nn.SiLU}


def save_actor(path: str | os.PathLike[str], actor: TeacherActor, *, meta: dict[str, Any] | None = None) -> Path:
    """Save ``actor`` (weights, layout, bounds, normalisation, info) as a small versioned file, atomically."""
    payload = {
        "layers": [_layer_spec(m) for m in actor.hidden],
        "head": _layer_spec(actor.head),
        "state_dict": {k: v.detach().clone() for k, v in actor.state_dict().items()},
        "info": asdict(actor.info),
        "obs_clip": actor.obs_clip,
        "obs_eps": actor.obs_eps,
        "meta": dict(meta or {}),
    }
    return save_versioned(path, kind=ACTOR_FORMAT, version=ACTOR_FORMAT_VERSION, payload=payload)


def load_actor(path: str | os.PathLike[str]) -> tuple[TeacherActor, dict[str, Any]]:
    """Load an actor written by :func:`save_actor`; returns ``(actor, meta)``."""
    from snnrl.io import ArtifactError

    payload = load_versioned(path, kind=ACTOR_FORMAT, version=ACTOR_FORMAT_VERSION)
    try:
        hidden = []
        for spec in payload["layers"]:
            if spec["type"] == "Linear":
                hidden.append(nn.Linear(spec["in"], spec["out"]))
            else:
                hidden.append(_ACTIVATIONS[spec["type"]]())
        head = nn.Linear(payload["head"]["in"], payload["head"]["out"])
        state = payload["state_dict"]
        actor = TeacherActor(nn.Sequential(*hidden), head, action_low=state["action_low"],
                             action_high=state["action_high"], info=ActorInfo(**payload["info"]),
                             obs_mean=state.get("obs_mean"), obs_var=state.get("obs_var"),
                             obs_clip=payload["obs_clip"], obs_eps=payload["obs_eps"])
        actor.load_state_dict(state)
        meta = dict(payload.get("meta", {}))
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as exc:
        raise ArtifactError(f"'{path}' is a damaged teacher-actor file ({type(exc).__name__}: {exc}). "
                            "Re-export it (snnrl export-teacher).") from exc
    return actor.eval(), meta
