"""The teacher's deterministic actor as a plain torch module, extracted from stable-baselines3.

A :class:`TeacherActor` is what conversion needs and nothing more: optional observation normalisation,
the hidden stack (as SB3 built it, e.g. ``Linear, ReLU, Linear, ReLU``), the output layer, the squashing
(``tanh`` for TD3/SAC, ``clip`` for PPO/A2C) and the action bounds. It is saved as a small versioned file.

Supported SB3 models: TD3 / DDPG (``actor.mu``), SAC (``actor.latent_pi`` + ``actor.mu``, deterministic mean),
PPO / A2C with a Box action space (``mlp_extractor.policy_net`` + ``action_net``, the mean action), each with
``MlpPolicy`` or ``CnnPolicy`` (SB3's ``NatureCNN`` features extractor is prepended to the hidden stack; its
division of 8-bit images by 255 is folded into the first convolution, so the actor takes raw pixel values).
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

__all__ = ["TeacherActor", "ActorInfo", "actor_from_sb3", "save_actor", "load_actor", "ACTOR_FORMAT_VERSION",
           "layer_spec", "layer_from_spec", "STRUCTURAL_LAYERS"]

ACTOR_FORMAT = "snnrl-teacher-actor"
ACTOR_FORMAT_VERSION = 1
_SQUASHES = ("tanh", "clip")
#: Layers of a hidden stack that are not activations (their outputs are not calibrated on).
STRUCTURAL_LAYERS = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.Flatten, nn.Dropout,
                     nn.Identity)


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
    obs_shape
        Shape of one observation; needed when the first layer is a convolution (e.g. ``(9, 84, 84)``), else the
        first Linear layer's input width. Observations may also come flattened, ``[B, prod(obs_shape)]``.
    """

    def __init__(self, hidden: nn.Sequential, head: nn.Linear, *, action_low: np.ndarray | torch.Tensor,
                 action_high: np.ndarray | torch.Tensor, info: ActorInfo,
                 obs_mean: torch.Tensor | None = None, obs_var: torch.Tensor | None = None,
                 obs_clip: float = 10.0, obs_eps: float = 1e-8, obs_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.hidden = hidden
        self.head = head
        self.info = info
        first = next((m for m in hidden.modules() if isinstance(m, (nn.Linear, nn.Conv2d))), head)
        if obs_shape is None:
            if isinstance(first, nn.Conv2d):
                raise ValueError("an actor whose first layer is a convolution needs obs_shape, e.g. (9, 84, 84).")
            obs_shape = (first.in_features,)
        self.obs_shape = tuple(int(d) for d in obs_shape)
        if isinstance(first, nn.Linear) and int(np.prod(self.obs_shape)) != first.in_features:
            raise ValueError(f"obs_shape {self.obs_shape} does not match the first Linear layer's "
                             f"{first.in_features} inputs.")
        self.register_buffer("action_low", torch.as_tensor(action_low, dtype=torch.float32).clone())
        self.register_buffer("action_high", torch.as_tensor(action_high, dtype=torch.float32).clone())
        self.obs_clip, self.obs_eps = float(obs_clip), float(obs_eps)
        self.register_buffer("obs_mean", None if obs_mean is None else torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_var", None if obs_var is None else torch.as_tensor(obs_var, dtype=torch.float32))

    @property
    def obs_dim(self) -> int:
        """Number of observation values (``prod(obs_shape)``)."""
        return int(np.prod(self.obs_shape))

    def shaped(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` as float ``[B, *obs_shape]`` (flattened observations ``[B, obs_dim]`` are reshaped, 8-bit frames
        converted)."""
        obs = obs if obs.is_floating_point() else obs.float()
        if len(self.obs_shape) > 1 and obs.dim() == 2:
            return obs.reshape(obs.shape[0], *self.obs_shape)
        return obs

    @property
    def action_dim(self) -> int:
        return self.head.out_features

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        """Observation normalisation (identity when the teacher has none), on ``[B, *obs_shape]``."""
        obs = self.shaped(obs)
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
        """Outputs of every hidden activation layer (what thresholds are calibrated on): ``[B, width]`` after a
        Linear layer, ``[B, C, H, W]`` after a convolution."""
        x = self.normalise(obs)
        outs = []
        for layer in self.hidden:
            x = layer(x)
            if not isinstance(layer, STRUCTURAL_LAYERS):
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
    policy_actor = getattr(model.policy, "actor", None)
    extractor = getattr(policy_actor, "features_extractor", None) or getattr(model.policy, "features_extractor", None)
    hidden, head, squash = _sb3_parts(model)
    obs_shape = None
    if extractor is not None and type(extractor).__name__ == "NatureCNN":
        hidden = nn.Sequential(*_nature_cnn_layers(extractor, model), *hidden)
        obs_shape = tuple(model.observation_space.shape)
    elif extractor is not None and type(extractor).__name__ != "FlattenExtractor":
        raise ValueError(f"Features extractor {type(extractor).__name__} is not supported; use MlpPolicy or "
                         "CnnPolicy (NatureCNN).")
    kwargs: dict[str, Any] = {}
    if vec_normalize is not None and getattr(vec_normalize, "norm_obs", False):
        rms = vec_normalize.obs_rms
        kwargs = dict(obs_mean=torch.as_tensor(rms.mean), obs_var=torch.as_tensor(rms.var),
                      obs_clip=vec_normalize.clip_obs, obs_eps=vec_normalize.epsilon)
    actor = TeacherActor(copy.deepcopy(hidden).cpu(), copy.deepcopy(head).cpu(),
                         action_low=model.action_space.low, action_high=model.action_space.high,
                         info=ActorInfo(algo=type(model).__name__, env_id=env_id, squash=squash),
                         obs_shape=obs_shape, **kwargs)
    return actor.eval()


def _nature_cnn_layers(extractor: nn.Module, model: Any) -> list[nn.Module]:
    """SB3's NatureCNN (``cnn`` then ``linear``) as plain layers, the /255 of image inputs folded into conv 1."""
    import copy

    from stable_baselines3.common.preprocessing import is_image_space

    layers = [copy.deepcopy(m) for m in (*extractor.cnn, *extractor.linear)]
    normalise = getattr(model.policy, "normalize_images", True) and is_image_space(model.observation_space)
    if normalise:
        first = next(m for m in layers if isinstance(m, nn.Conv2d))
        with torch.no_grad():
            first.weight.div_(255.0)
    return layers


def layer_spec(layer: nn.Module) -> dict[str, Any]:
    """A JSON-able description of ``layer``'s type and shape (its weights go in the state dict)."""
    if isinstance(layer, nn.Linear):
        return {"type": "Linear", "in": layer.in_features, "out": layer.out_features}
    if isinstance(layer, nn.Conv2d):
        return {"type": "Conv2d", "in": layer.in_channels, "out": layer.out_channels,
                "kernel": list(layer.kernel_size), "stride": list(layer.stride), "padding": list(layer.padding),
                "bias": layer.bias is not None}
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return {"type": type(layer).__name__, "features": layer.num_features, "eps": layer.eps}
    if isinstance(layer, nn.AvgPool2d):
        return {"type": "AvgPool2d", "kernel": layer.kernel_size, "stride": layer.stride}
    return {"type": type(layer).__name__}


def layer_from_spec(spec: dict[str, Any]) -> nn.Module:
    """The (untrained) layer :func:`layer_spec` describes."""
    kind = spec["type"]
    if kind == "Linear":
        return nn.Linear(spec["in"], spec["out"])
    if kind == "Conv2d":
        return nn.Conv2d(spec["in"], spec["out"], tuple(spec["kernel"]), stride=tuple(spec["stride"]),
                         padding=tuple(spec["padding"]), bias=bool(spec["bias"]))
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, kind)(spec["features"], eps=spec["eps"])
    if kind == "AvgPool2d":
        return nn.AvgPool2d(spec["kernel"], spec["stride"])
    if kind == "Flatten":
        return nn.Flatten()
    return _ACTIVATIONS[kind]()


_ACTIVATIONS = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "ELU": nn.ELU, "LeakyReLU": nn.LeakyReLU, "Sigmoid": nn.Sigmoid,
                "Identity": nn.Identity, "GELU": nn.GELU, "SiLU": nn.SiLU, "Dropout": nn.Dropout}


def save_actor(path: str | os.PathLike[str], actor: TeacherActor, *, meta: dict[str, Any] | None = None) -> Path:
    """Save ``actor`` (weights, layout, bounds, normalisation, info) as a small versioned file, atomically."""
    payload = {
        "layers": [layer_spec(m) for m in actor.hidden],
        "head": layer_spec(actor.head),
        "state_dict": {k: v.detach().clone() for k, v in actor.state_dict().items()},
        "info": asdict(actor.info),
        "obs_clip": actor.obs_clip,
        "obs_eps": actor.obs_eps,
        "obs_shape": list(actor.obs_shape),
        "meta": dict(meta or {}),
    }
    return save_versioned(path, kind=ACTOR_FORMAT, version=ACTOR_FORMAT_VERSION, payload=payload)


def load_actor(path: str | os.PathLike[str]) -> tuple[TeacherActor, dict[str, Any]]:
    """Load an actor written by :func:`save_actor`; returns ``(actor, meta)``."""
    from snnrl.io import ArtifactError

    payload = load_versioned(path, kind=ACTOR_FORMAT, version=ACTOR_FORMAT_VERSION)
    try:
        hidden = [layer_from_spec(spec) for spec in payload["layers"]]
        head = nn.Linear(payload["head"]["in"], payload["head"]["out"])
        state = payload["state_dict"]
        actor = TeacherActor(nn.Sequential(*hidden), head, action_low=state["action_low"],
                             action_high=state["action_high"], info=ActorInfo(**payload["info"]),
                             obs_mean=state.get("obs_mean"), obs_var=state.get("obs_var"),
                             obs_clip=payload["obs_clip"], obs_eps=payload["obs_eps"],
                             obs_shape=payload.get("obs_shape"))
        actor.load_state_dict(state)
        meta = dict(payload.get("meta", {}))
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as exc:
        raise ArtifactError(f"'{path}' is a damaged teacher-actor file ({type(exc).__name__}: {exc}). "
                            "Re-export it (snnrl export-teacher).") from exc
    return actor.eval(), meta
