"""Conversion-aware distillation without environment reward: fine-tune a student to reproduce the teacher's
actions on states the spiking policy itself visits (DAgger), then run it as the spiking policy.

Two students:

* ``"qcfs"`` — a copy of the ANN actor whose hidden activations are quantised as IF neurons quantise a constant
  input (QCFS, below), converted after training;
* ``"spiking"`` — the converted :class:`~snnrl.agents.conversion.SpikingActor` itself, trained through its ``T``
  IF steps with the neurons' surrogate gradient (hybrid conversion, after Rathi et al. 2020). It also learns what
  QCFS cannot see: deeper layers receive spike trains, not constant currents, so their rates differ from the
  QCFS activation (measured on td3-halfcheetah at T=4: action MSE 0.012 for the QCFS ANN but 0.047 for its
  conversion; fine-tuning the spiking actor brings the SNN's own error to 0.015).

**QCFS activation** (Bu et al. 2022, "Optimal ANN-SNN conversion for high-accuracy and ultra-low-latency
spiking neural networks"): ``h = θ·clip(floor(z·T/θ + ½), 0, T)/T``, the rate output of an IF neuron started at
``θ/2`` for ``T`` steps (:func:`~snnrl.agents.calibration.rate_quantise`). The forward pass is exact; the
backward pass is straight-through on the clip (``∂h/∂z = 1`` on ``0 < z < θ``, ``∂h/∂θ = 1`` above ``θ``), so
``θ`` per neuron is learned with the weights.

**DAgger** (Ross et al. 2011) without environment reward: start from teacher states; each round, convert the
current student (its ``θ`` become the IF thresholds), roll the spiking policy out, label every visited state with
the teacher's action, add them to the data set and refit the student on all of it (MSE of the squashed actions).
Rollout seeds start at ``config.seed`` (default 20,000, apart from the evaluation and tuning seeds).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from snnrl.agents.actor import TeacherActor
from snnrl.agents.conversion import SpikingActor, conversion_plan, convert_actor, observation_rows
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.population import convert_population
from snnrl.encoding import check_timesteps

__all__ = ["DistillationConfig", "QCFS", "QCFSActor", "visited_states", "distill_actor", "fit_actions",
           "SeededEpisodes", "STUDENTS", "LR_SCHEDULES"]

STUDENTS = ("spiking", "qcfs")
LR_SCHEDULES = ("constant", "cosine")

logger = logging.getLogger("snnrl")


@dataclass(frozen=True)
class DistillationConfig:
    """DAgger distillation settings.

    Attributes
    ----------
    rounds
        DAgger rounds (each: convert, roll out, label, refit).
    rollout_steps
        Environment steps of spiking-policy rollouts per round (over ``envs`` parallel environments).
    envs
        Parallel environments of a rollout.
    epochs
        Passes over the aggregated data per round.
    batch_size, lr
        Adam mini-batch size and (initial) learning rate. The defaults (3 rounds of 32,000 rollout steps, 32
        epochs, lr 1e-3 with the cosine schedule) won on tuning episodes (seeds 100-129) at T=4 on td3-halfcheetah
        and td3-walker2d, by the mean return as a share of the ANN's, over eleven other budgets
        (``benchmarks/distillation_budget.py``): 32,000 steps x 32 epochs 100.9%, x 16 epochs 100.7%, 64,000
        steps x 16 epochs 100.3%, 16,000 x 16 99.7%, 4,000 x 16 96.5%.
    lr_schedule
        ``"constant"``, or ``"cosine"``: every fit anneals the rate from ``lr`` to 0 over its mini-batches
        (Loshchilov & Hutter 2017, without restarts; each round's fit starts afresh).
    seed
        First environment seed of the rollouts and the seed of the mini-batch order.
    """

    rounds: int = 3
    rollout_steps: int = 32_000
    envs: int = 8
    epochs: int = 32
    batch_size: int = 256
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    seed: int = 20_000

    def __post_init__(self) -> None:
        for name in ("rounds", "rollout_steps", "envs", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DistillationConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if not self.lr > 0:
            raise ValueError(f"DistillationConfig.lr must be > 0, got {self.lr}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"DistillationConfig.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}.")


class QCFS(nn.Module):
    """``h = θ·clip(floor(z·T/θ + ½), 0, T)/T`` with a learnable ``θ`` per neuron, straight-through backward."""

    def __init__(self, theta: torch.Tensor, timesteps: int) -> None:
        super().__init__()
        self.timesteps = check_timesteps(timesteps)
        self.theta = nn.Parameter(torch.as_tensor(theta, dtype=torch.float32).clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        theta = self.theta.abs() + 1e-6
        smooth = torch.minimum(torch.relu(z), theta)                      # the straight-through path
        t = self.timesteps
        quantised = theta * torch.clamp(torch.floor(z * t / theta + 0.5), 0, t) / t
        return smooth + (quantised - smooth).detach()


class QCFSActor(nn.Module):
    """A copy of a ReLU teacher actor with each hidden ReLU replaced by :class:`QCFS` at ``timesteps`` (``θ`` per
    neuron, or per channel after a convolution)."""

    def __init__(self, actor: TeacherActor, thresholds: list[torch.Tensor], timesteps: int) -> None:
        super().__init__()
        shapes = conversion_plan(actor).shapes
        if len(thresholds) != len(shapes):
            raise ValueError(f"need {len(shapes)} threshold tensors, got {len(thresholds)}.")
        self.actor = copy.deepcopy(actor)
        relus = [i for i, m in enumerate(self.actor.hidden) if isinstance(m, nn.ReLU)]
        for index, theta, shape in zip(relus, thresholds, shapes):
            theta = torch.as_tensor(theta, dtype=torch.float32).expand(shape[0])
            self.actor.hidden[index] = QCFS(theta.view(-1, 1, 1) if len(shape) == 3 else theta, timesteps)
        self._relus = relus

    @property
    def activations(self) -> list[QCFS]:
        return [self.actor.hidden[i] for i in self._relus]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def export(self) -> tuple[TeacherActor, list[torch.Tensor]]:
        """The fine-tuned actor (ReLU, for :func:`~snnrl.agents.conversion.convert_actor`) and its thresholds."""
        actor = copy.deepcopy(self.actor).eval()
        thetas = []
        for index in self._relus:
            thetas.append(actor.hidden[index].theta.detach().abs().flatten() + 1e-6)
            actor.hidden[index] = nn.ReLU()
        return actor, thetas


class SeededEpisodes:
    """``envs`` parallel episodes of ``env_id``: env ``i`` is reset with ``seed + i`` and, after an episode ends,
    with the next unused seed. :attr:`observations` / :attr:`infos` hold each env's latest ones."""

    def __init__(self, env_id: str, envs: int, seed: int) -> None:
        import gymnasium as gym

        import snnrl.envs  # noqa: F401  (registers the pixel ids snnrl/<Task>Pixels-v5)

        self.envs = [gym.make(env_id) for _ in range(envs)]
        self.next_seed = seed + envs
        first = [env.reset(seed=seed + i) for i, env in enumerate(self.envs)]
        self.observations = [o for o, _ in first]
        self.infos = [info for _, info in first]

    def step(self, actions: Any) -> np.ndarray:
        """Step env ``i`` with ``actions[i]``; returns which envs ended an episode (and were reset)."""
        ended = np.zeros(len(self.envs), dtype=bool)
        for i, env in enumerate(self.envs):
            o, _, terminated, truncated, info = env.step(actions[i])
            if terminated or truncated:
                o, info = env.reset(seed=self.next_seed)
                self.next_seed += 1
                ended[i] = True
            self.observations[i], self.infos[i] = o, info
        return ended

    def close(self) -> None:
        for env in self.envs:
            env.close()


@torch.no_grad()
def visited_states(policy: SpikingPolicy, env_id: str, *, steps: int, envs: int = 8, seed: int = 0) -> torch.Tensor:
    """Observations ``[steps, obs_dim]`` visited by ``policy`` acting in ``envs`` parallel episodes of ``env_id``
    (:class:`SeededEpisodes`)."""
    episodes = SeededEpisodes(env_id, envs, seed)
    starts = np.ones(envs, dtype=bool)
    state, out, total = None, [], 0
    while total < steps:
        obs = observation_rows(episodes.observations)      # a new array each step: stored rows stay as visited
        out.append(torch.from_numpy(obs))
        total += envs
        actions, state = policy.predict(obs, state, starts)
        starts = episodes.step(actions)
    episodes.close()
    return torch.cat(out)[:steps]


class _SpikingStudent(nn.Module):
    """The spiking actor as a trainable module: actions after ``T`` IF steps from ``θ/2``."""

    def __init__(self, snn: SpikingActor, timesteps: int) -> None:
        super().__init__()
        self.snn, self.timesteps = copy.deepcopy(snn).train(), timesteps

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.snn(obs, self.timesteps)

    def spiking_actor(self) -> SpikingActor:
        return copy.deepcopy(self.snn).eval()


def fit_actions(student: nn.Module, states: torch.Tensor, targets: torch.Tensor, config: Any,
                generator: torch.Generator, low: torch.Tensor, high: torch.Tensor,
                auxiliary: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """Adam on the MSE of the actions scaled to [-1, 1]; returns the last mini-batch's action loss. ``config`` gives
    ``epochs``, ``batch_size``, ``lr`` and optionally ``lr_schedule`` (e.g. a :class:`DistillationConfig`;
    without it the rate is constant). ``auxiliary(rows)``, called after the student's forward pass on the
    mini-batch of row indices ``rows``, returns a loss added to the action loss (its parameters must be the
    student's)."""
    optimiser = torch.optim.Adam(student.parameters(), lr=config.lr)
    batches = -(-states.shape[0] // config.batch_size)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * batches)
                if getattr(config, "lr_schedule", "constant") == "cosine" else None)
    scale = (high - low) / 2
    loss = torch.tensor(float("nan"))
    for _ in range(config.epochs):
        order = torch.randperm(states.shape[0], generator=generator)
        for start in range(0, states.shape[0], config.batch_size):
            rows = order[start:start + config.batch_size]
            loss = (((student(states[rows]) - targets[rows]) / scale) ** 2).mean()
            total = loss if auxiliary is None else loss + auxiliary(rows)
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
            if schedule is not None:
                schedule.step()
    return float(loss.detach())


def _fit_in_frame_units(model: nn.Module, data: torch.Tensor, labels: torch.Tensor, config: Any,
                        generator: torch.Generator, actor: TeacherActor) -> float:
    """:func:`fit_actions` of a student on 8-bit frames, in the units its CNN was trained in (pixels / 255).

    A pixel actor takes raw frames with the 1/255 folded into its first layer (:mod:`snnrl.agents.pixel_teacher`),
    so that layer's weights are 255 times smaller than the others while Adam moves every weight by about ``lr``:
    fine-tuned as it is, the first layer is wiped out in a few steps. The fit runs on ``frames / 255`` with that
    layer's weights times 255 (the same function), and the weights are folded back afterwards.
    """
    first = (model.snn.input_layer if isinstance(model, _SpikingStudent)
             else next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))))
    with torch.no_grad():
        first.weight.mul_(255.0)
    try:
        return fit_actions(model, data / 255.0, labels, config, generator, actor.action_low, actor.action_high)
    finally:
        with torch.no_grad():
            first.weight.div_(255.0)


def distill_actor(actor: TeacherActor, env_id: str, thresholds: list[torch.Tensor], timesteps: int,
                  states: torch.Tensor, *, student: str = "spiking", crpi: CRPIConfig | None = None,
                  config: DistillationConfig = DistillationConfig(), copies: int = 1) -> SpikingActor:
    """DAgger-distil ``actor`` into a spiking actor at ``timesteps`` (module docstring).

    Parameters
    ----------
    thresholds
        ``θ`` per hidden layer: the IF thresholds of the ``"spiking"`` student, the initial QCFS ``θ`` of the
        ``"qcfs"`` one (e.g. :func:`~snnrl.agents.calibration.mse_thresholds` at ``timesteps``).
    states
        Initial data: teacher-visited observations ``[N, obs_dim]``.
    student
        ``"spiking"`` or ``"qcfs"``.
    crpi
        CRPI of the spiking policy that collects the DAgger states.
    copies
        The ``"spiking"`` student starts as a population of ``copies`` staggered copies of every hidden neuron
        (:func:`~snnrl.agents.population.convert_population`; ``thresholds`` per neuron of ``actor``).

    On 8-bit frames (``uint8`` states) the student is fitted in the units of pixels / 255, as the pixel teacher
    was trained (:func:`_fit_in_frame_units`).
    """
    check_timesteps(timesteps)
    if student not in STUDENTS:
        raise ValueError(f"student must be one of {STUDENTS}, got {student!r}.")
    if copies != 1 and student != "spiking":
        raise ValueError(f"copies={copies}: only the 'spiking' student starts as a population.")
    generator = torch.Generator().manual_seed(config.seed)
    model: nn.Module = (QCFSActor(actor, thresholds, timesteps) if student == "qcfs"
                        else _SpikingStudent(convert_population(actor, thresholds, copies), timesteps))

    def current() -> SpikingActor:
        return convert_actor(*model.export()) if student == "qcfs" else model.spiking_actor()

    data = states.float()
    with torch.no_grad():
        labels = actor(data)
    frames = states.dtype == torch.uint8
    for round_ in range(config.rounds + 1):
        if frames:
            loss = _fit_in_frame_units(model, data, labels, config, generator, actor)
        else:
            loss = fit_actions(model, data, labels, config, generator, actor.action_low, actor.action_high)
        logger.info("distillation round %d: loss %.3g on %d states", round_, loss, data.shape[0])
        if round_ == config.rounds:
            break
        policy = SpikingPolicy(current(), timesteps=timesteps, crpi=crpi, metering=False)
        new = visited_states(policy, env_id, steps=config.rollout_steps, envs=config.envs,
                             seed=config.seed + 1000 * (round_ + 1))
        with torch.no_grad():
            data, labels = torch.cat([data, new]), torch.cat([labels, actor(new)])
    return current()
