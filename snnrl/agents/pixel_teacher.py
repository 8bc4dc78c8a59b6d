"""Pixel teachers without days of RL: a CNN actor distilled from a state-based teacher on rendered frames.

DAgger (Ross et al. 2011) across observation spaces: the pixel env (:mod:`snnrl.envs.pixels`) returns the
frames *and* the inner env's vector state (``info["state"]``), so the state teacher labels every frame with the
action it would take there. Round 0 lets the state teacher act (behaviour cloning data); each later round lets
the current CNN act, labels the frames it visits, aggregates them with all earlier data and refits the CNN on all
of it (MSE of the actions scaled to [-1, 1], plus an auxiliary loss: a linear head on the CNN's last hidden layer
predicts the frame's standardised vector state, which the trainer has and the actor never sees; the head is
dropped at export). The CNN is three ReLU convs and a Linear layer (NatureCNN's shape with finer strides)
(:func:`pixel_actor`), so it converts to a spiking actor like an SB3 ``CnnPolicy``; it is trained on pixels
divided by 255 and that division is folded into its first convolution, so the exported actor takes raw 8-bit
values as SB3's would. With a ``checkpoint_dir`` every round's frames and the student after every refit are saved
there, and a killed run resumes from them (the result equals an uninterrupted run's).

Example
-------
>>> from snnrl.agents.zoo import load_teacher                                          # doctest: +SKIP
>>> state_teacher, _ = load_teacher("td3-invertedpendulum")                            # doctest: +SKIP
>>> cnn = distill_pixel_actor(state_teacher, "snnrl/InvertedPendulumPixels-v5")        # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snnrl.agents.actor import ActorInfo, TeacherActor
from snnrl.agents.conversion import observation_rows
from snnrl.agents.distillation import SeededEpisodes, fit_actions
from snnrl.io import load_versioned, save_versioned

__all__ = ["PixelDistillationConfig", "pixel_actor", "random_shift", "PixelStudent", "pixel_student", "refit",
           "state_loss", "labelled_rollout", "distill_pixel_actor"]

logger = logging.getLogger("snnrl")

CHECKPOINT_KIND, CHECKPOINT_VERSION = "snnrl-pixel-distillation", 2     # 2: rollouts hold the states


@dataclass(frozen=True)
class PixelDistillationConfig:
    """DAgger settings of a pixel teacher.

    Attributes
    ----------
    rounds
        DAgger rounds after round 0 (each: the CNN acts, the state teacher labels, refit on everything).
    teacher_steps, rollout_steps
        Agent steps of round 0 (state teacher acting) and of each later round (CNN acting).
    envs
        Parallel episodes of a rollout.
    epochs, batch_size, lr, lr_schedule
        Adam passes over the aggregated frames per round (each refit starts from the last student), mini-batch
        size, learning rate and its schedule within a refit (``"cosine"`` to zero, or ``"constant"``). Chosen
        on held-out frames by ``benchmarks/pixel_fit.py`` (32 epochs beat 16 there).
    state_weight
        Weight of the auxiliary state loss (module docstring; the MSE of the state standardised on the refit's
        frames); ``0`` fits the actions alone. The state is privileged information for the fit only: the
        exported CNN sees frames.
    channels, hidden
        Conv channels of the three conv layers and the width of the Linear layer after them.
    kernels, strides
        Kernel sizes and strides of the three conv layers. ``(4, 4, 3)`` / ``(2, 2, 1)`` keeps feature maps twice
        as fine as NatureCNN's ``(8, 4, 3)`` / ``(4, 2, 1)`` (41x41 after the first layer of an 84x84 frame,
        against 20x20) for about twice the fit time; it won on held-out frames (``benchmarks/pixel_fit.py``).
    shift
        Random-shift augmentation of the fits (DrQ, Kostrikov et al. 2020): every training frame stack is padded
        by ``shift`` pixels (edge values repeated) and cropped back at a random offset, the same for its stacked
        frames; ``0`` fits on the frames as seen. The CNN acts on unshifted frames.
    seed
        First environment seed of the rollouts (apart from evaluation 0-29, tuning 100+, calibration 10,000+
        and spiking-distillation 20,000+ seeds) and the seed of the weights and mini-batch order.
    """

    rounds: int = 3
    teacher_steps: int = 6000
    rollout_steps: int = 3000
    envs: int = 6
    epochs: int = 32
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    state_weight: float = 1.0
    channels: tuple[int, int, int] = (16, 32, 32)
    hidden: int = 256
    kernels: tuple[int, int, int] = (4, 4, 3)
    strides: tuple[int, int, int] = (2, 2, 1)
    shift: int = 0
    seed: int = 30_000

    def __post_init__(self) -> None:
        for name in ("teacher_steps", "rollout_steps", "envs", "epochs", "batch_size", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"PixelDistillationConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.rounds < 0:
            raise ValueError(f"PixelDistillationConfig.rounds must be >= 0, got {self.rounds}.")
        if self.shift < 0:
            raise ValueError(f"PixelDistillationConfig.shift must be >= 0 pixels, got {self.shift}.")
        for name in ("channels", "kernels", "strides"):
            if len(getattr(self, name)) != 3 or min(getattr(self, name)) < 1:
                raise ValueError(f"PixelDistillationConfig.{name} must be three counts >= 1, got "
                                 f"{getattr(self, name)}.")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"PixelDistillationConfig.lr_schedule must be 'cosine' or 'constant', got "
                             f"{self.lr_schedule!r}.")
        if not self.state_weight >= 0:
            raise ValueError(f"PixelDistillationConfig.state_weight must be >= 0, got {self.state_weight}.")
        if not self.lr > 0:
            raise ValueError(f"PixelDistillationConfig.lr must be > 0, got {self.lr}.")


def pixel_actor(obs_shape: tuple[int, int, int], action_low: np.ndarray, action_high: np.ndarray, *, env_id: str,
                channels: tuple[int, int, int] = PixelDistillationConfig.channels,
                hidden: int = PixelDistillationConfig.hidden,
                kernels: tuple[int, int, int] = PixelDistillationConfig.kernels,
                strides: tuple[int, int, int] = PixelDistillationConfig.strides) -> TeacherActor:
    """A ReLU actor on ``[C, H, W]`` frames: three convs (``kernels`` / ``strides``; NatureCNN's are (8, 4, 3) /
    (4, 2, 1)), Linear, tanh-squashed head. The defaults are :class:`PixelDistillationConfig`'s."""
    c, h, w = obs_shape
    layers: list[nn.Module] = []
    for into, out, kernel, stride in zip((c, *channels[:2]), channels, kernels, strides):
        layers += [nn.Conv2d(into, out, kernel, stride=stride), nn.ReLU()]
    layers.append(nn.Flatten())
    with torch.no_grad():
        features = nn.Sequential(*layers)(torch.zeros(1, c, h, w)).shape[1]
    layers += [nn.Linear(features, hidden), nn.ReLU()]
    return TeacherActor(nn.Sequential(*layers), nn.Linear(hidden, len(action_low)), action_low=action_low,
                        action_high=action_high, info=ActorInfo(algo="DAgger", env_id=env_id), obs_shape=obs_shape)


def random_shift(frames: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """``frames [B, C, H, W]`` each moved by a random whole-pixel offset in ``[-shift, shift]`` on both axes
    (padded with edge values, cropped back to ``H x W``; DrQ's augmentation). ``shift=0`` returns them as given."""
    if shift == 0:
        return frames
    b, _, h, w = frames.shape
    padded = nn.functional.pad(frames.float(), (shift, shift, shift, shift), mode="replicate")
    dy, dx = torch.randint(0, 2 * shift + 1, (2, b), generator=generator).tolist()
    return torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(zip(dy, dx))])


class PixelStudent(nn.Module):
    """A CNN actor as it is fitted: on frames divided by 255, randomly shifted in training mode; with
    ``state_dim``, a linear ``state_head`` on its last hidden layer, whose input of the last forward pass is kept
    in :attr:`features`."""

    def __init__(self, actor: TeacherActor, shift: int = 0, generator: torch.Generator | None = None,
                 state_dim: int = 0) -> None:
        super().__init__()
        self.actor, self.shift, self.generator = actor, shift, generator
        self.state_head = nn.Linear(actor.head.in_features, state_dim) if state_dim else None
        self.features = torch.empty(0)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.training and self.shift:
            frames = random_shift(frames, self.shift, self.generator)
        self.features = self.actor.hidden(self.actor.normalise(frames.float() / 255.0))
        return self.actor.squash(self.actor.head(self.features))


@torch.no_grad()
def labelled_rollout(act: Callable[[np.ndarray, np.ndarray], np.ndarray], teacher: TeacherActor, env_id: str, *,
                     steps: int, envs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames ``uint8 [steps, C, H, W]`` visited when ``act(frames, states)`` chooses the actions in ``envs``
    parallel episodes of the pixel env ``env_id``, the state teacher's actions ``[steps, A]`` on their vector
    states, and those states ``[steps, S]``.

    Env ``i`` is reset with ``seed + i`` and, after an episode ends, with the next unused seed."""
    episodes = SeededEpisodes(env_id, envs, seed)
    seen, labels, visited, total = [], [], [], 0
    while total < steps:
        frames = observation_rows(episodes.observations)
        states = np.stack([info["state"] for info in episodes.infos]).astype(np.float32)
        seen.append(torch.from_numpy(frames))
        visited.append(torch.from_numpy(states))
        labels.append(teacher(visited[-1]))
        total += envs
        episodes.step(act(frames, states))
    episodes.close()
    return torch.cat(seen)[:steps], torch.cat(labels)[:steps], torch.cat(visited)[:steps]


def distill_pixel_actor(teacher: TeacherActor, env_id: str, config: PixelDistillationConfig = PixelDistillationConfig(),
                        *, progress: Callable[[str], None] | None = None,
                        checkpoint_dir: str | os.PathLike[str] | None = None) -> TeacherActor:
    """DAgger-distil the state ``teacher`` into a CNN actor on the pixel env ``env_id`` (module docstring).

    Returns the CNN as a :class:`~snnrl.agents.actor.TeacherActor` on raw 8-bit frames (``info.algo`` is
    ``"DAgger"``), ready for :func:`~snnrl.agents.conversion.convert_actor`. ``checkpoint_dir``: where each
    round's labelled frames (``rollout-K.pt``) and the student after each refit (``student.pt``) are saved and
    resumed from; a folder of another env or config raises ``ValueError``.
    """
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids snnrl/<Task>Pixels-v5)

    probe = gym.make(env_id)
    space = probe.observation_space
    probe.close()
    if len(space.shape) != 3:
        raise ValueError(f"{env_id} observes {space.shape}, not [C, H, W] frames: use a pixel env, e.g. "
                         "snnrl/InvertedPendulumPixels-v5.")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    student = pixel_student(teacher, tuple(space.shape), env_id, config, generator)
    tell = progress or (lambda line: logger.info("%s", line))
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    identity = {"env_id": env_id, "config": asdict(config)}

    def save(name: str, payload: dict) -> None:
        if folder is not None:
            save_versioned(folder / name, kind=CHECKPOINT_KIND, version=CHECKPOINT_VERSION,
                           payload={**identity, **payload})

    def teacher_acts(frames: np.ndarray, states: np.ndarray) -> np.ndarray:
        return teacher(torch.from_numpy(states)).numpy()

    def student_acts(frames: np.ndarray, states: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return student.actor(torch.from_numpy(frames).float() / 255.0).numpy()   # unshifted

    def rollout(round_: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        path = None if folder is None else folder / f"rollout-{round_}.pt"
        if path is not None and path.exists():
            saved = _load_checkpoint(path, identity)
            return saved["frames"], saved["labels"], saved["states"]
        steps, seed = ((config.teacher_steps, config.seed) if round_ == 0
                       else (config.rollout_steps, config.seed + 1000 * round_))
        frames, labels, states = labelled_rollout(teacher_acts if round_ == 0 else student_acts, teacher, env_id,
                                                  steps=steps, envs=config.envs, seed=seed)
        if path is not None:
            save(path.name, {"frames": frames, "labels": labels, "states": states})
        return frames, labels, states

    first = 0
    if folder is not None and (folder / "student.pt").exists():
        saved = _load_checkpoint(folder / "student.pt", identity)
        student.load_state_dict(saved["student"])
        generator.set_state(saved["generator"])
        first = saved["fitted"] + 1
        tell(f"pixel distillation: resuming {folder} after round {saved['fitted']}")

    def merged(parts: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.cat([part[i] for part in parts]) for i in range(3))

    pool = merged([rollout(r) for r in range(first)]) if first else None   # saved rounds, read back
    for round_ in range(first, config.rounds + 1):                 # round 0: the state teacher acts; then the CNN
        # one aggregate, grown in place of the old one: frames are the memory (64 kB a stack), so the rounds are
        # not kept beside it (at 78k frames that had taken 15 GB and was killed for memory)
        pool = rollout(round_) if pool is None else merged([pool, rollout(round_)])
        loss = refit(student, teacher, *pool, config, generator)
        save("student.pt", {"fitted": round_, "student": student.state_dict(), "generator": generator.get_state()})
        tell(f"pixel distillation round {round_}: loss {loss:.3g} on {pool[0].shape[0]} frames")
    actor = copy.deepcopy(student.actor).eval()
    first_conv = next(m for m in actor.hidden if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        first_conv.weight.div_(255.0)                                # raw 8-bit frames in, as SB3's CnnPolicy
    return actor


def pixel_student(teacher: TeacherActor, obs_shape: tuple[int, int, int], env_id: str,
                  config: PixelDistillationConfig, generator: torch.Generator) -> PixelStudent:
    """A fresh CNN student of ``config`` for ``teacher``'s actions on frames ``obs_shape`` of ``env_id``, with a
    state head of ``teacher``'s observation size when ``config.state_weight`` is non-zero (weights from torch's
    global seed; ``generator`` draws its random shifts)."""
    actor = pixel_actor(obs_shape, teacher.action_low.numpy(), teacher.action_high.numpy(), env_id=env_id,
                        channels=config.channels, hidden=config.hidden, kernels=config.kernels,
                        strides=config.strides)
    return PixelStudent(actor, config.shift, generator, teacher.obs_dim if config.state_weight else 0)


def refit(student: PixelStudent, teacher: TeacherActor, frames: torch.Tensor, labels: torch.Tensor,
          states: torch.Tensor, config: PixelDistillationConfig, generator: torch.Generator) -> float:
    """One fit of a DAgger round: :func:`~snnrl.agents.distillation.fit_actions` of ``student`` on ``frames``
    labelled with ``teacher``'s actions, plus the state loss on their ``states``; returns the last action loss."""
    return fit_actions(student, frames, labels, config, generator, teacher.action_low, teacher.action_high,
                       state_loss(student, states, config.state_weight))


def state_loss(student: PixelStudent, states: torch.Tensor, weight: float
               ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The auxiliary loss of :func:`~snnrl.agents.distillation.fit_actions`: ``weight`` times the MSE between the
    student's state head on its last forward pass and the ``states`` of those rows, standardised on all
    ``states``; ``None`` without a head or weight."""
    if student.state_head is None or not weight:
        return None
    target = (states - states.mean(0)) / (states.std(0) + 1e-6)

    def loss(rows: torch.Tensor) -> torch.Tensor:
        return weight * ((student.state_head(student.features) - target[rows]) ** 2).mean()
    return loss


def _load_checkpoint(path: Path, identity: dict) -> dict:
    """A checkpoint of this distillation (same env and config), else ``ValueError`` naming the folder."""
    saved = load_versioned(path, kind=CHECKPOINT_KIND, version=CHECKPOINT_VERSION)
    if {k: saved.get(k) for k in identity} != identity:
        raise ValueError(f"{path.parent} holds a pixel distillation of another env or config "
                         f"({saved.get('env_id')}); give an empty folder or the same settings.")
    return saved
