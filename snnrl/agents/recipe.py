"""Conversion recipes: which calibration, distillation and CRPI a spiking policy gets at a target ``T``.

A :class:`Recipe` names its ingredients; :class:`RecipeBuilder` builds the spiking actor of any recipe for one
teacher, from one set of calibration states, caching the expensive parts (thresholds per ``T``, distilled and
bias-calibrated actors), so the tuning and the ablation rows of a sweep share them.

Ingredients, each usable alone:

* ``thresholds="max"`` (per-neuron maximum, the reference) or ``"mse"``
  (:func:`~snnrl.agents.calibration.mse_thresholds` at ``T``);
* ``distill``: ``None``, ``"qcfs"`` or ``"spiking"`` (:func:`~snnrl.agents.distillation.distill_actor`;
  its DAgger rollouts run without CRPI, so one distilled actor serves every ``alpha``);
* ``bias``: :func:`~snnrl.agents.calibration.calibrate_biases`, measured under the recipe's CRPI;
* ``alpha``: CRPI strength (``None``: no CRPI);
* ``copies``: population coding (:mod:`snnrl.agents.population`), ``K`` staggered copies of every hidden neuron,
  which quantise like one neuron in ``T·K`` steps; its thresholds are chosen at ``T·K`` (MSE or max). Composes with
  thresholds, bias calibration and CRPI, not with distillation.

Example
-------
>>> Recipe(thresholds="mse", distill="spiking", bias=True, alpha=0.5).label
'mse+spiking+bias+crpi0.5'
>>> Recipe("mse", copies=2, alpha=0.5).label
'mse+pop2+crpi0.5'
>>> Recipe().label
'max'
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snnrl.agents.actor import TeacherActor
from snnrl.agents.calibration import calibrate_biases, mse_thresholds
from snnrl.agents.conversion import SpikingActor, collect_states, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.distillation import STUDENTS, DistillationConfig, distill_actor
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.population import check_copies, convert_population, widen_actor
from snnrl.encoding import check_timesteps

__all__ = ["Recipe", "RecipeBuilder", "CALIBRATION_SEED"]

CALIBRATION_SEED = 10_000
"""First environment seed of the calibration rollouts (apart from evaluation seeds 0-29 and tuning seeds 100+)."""


@dataclass(frozen=True)
class Recipe:
    """The ingredients of one conversion (module docstring)."""

    thresholds: str = "max"
    distill: str | None = None
    bias: bool = False
    alpha: float | None = None
    copies: int = 1

    def __post_init__(self) -> None:
        if self.thresholds not in ("max", "mse"):
            raise ValueError(f"Recipe.thresholds must be 'max' or 'mse', got {self.thresholds!r}.")
        if self.distill is not None and self.distill not in STUDENTS:
            raise ValueError(f"Recipe.distill must be None or one of {STUDENTS}, got {self.distill!r}.")
        if self.alpha is not None:
            CRPIConfig(alpha=self.alpha)
        check_copies(self.copies, "Recipe.copies")
        if self.copies > 1 and self.distill is not None:
            raise ValueError(f"Recipe.copies={self.copies} (population coding) does not compose with distillation "
                             f"(distill={self.distill!r}); use one of them.")

    @property
    def crpi(self) -> CRPIConfig | None:
        return None if self.alpha is None else CRPIConfig(alpha=self.alpha)

    @property
    def label(self) -> str:
        parts = ([self.thresholds] + ([f"pop{self.copies}"] if self.copies > 1 else [])
                 + ([self.distill] if self.distill else []) + (["bias"] if self.bias else []))
        if self.alpha is not None:
            parts.append(f"crpi{self.alpha:g}")
        return "+".join(parts)


class RecipeBuilder:
    """Spiking actors of any :class:`Recipe` at any ``T`` for one teacher.

    Parameters
    ----------
    actor, env_id
        The teacher and its environment.
    calibration_steps, calibration_seed
        Teacher rollouts whose states calibrate thresholds and biases and seed the distillation.
    distillation
        DAgger settings.
    """

    def __init__(self, actor: TeacherActor, env_id: str, *, calibration_steps: int = 10_000,
                 calibration_seed: int = CALIBRATION_SEED,
                 distillation: DistillationConfig = DistillationConfig()) -> None:
        self.actor, self.env_id, self.distillation = actor, env_id, distillation
        self.calibration_steps, self.calibration_seed = calibration_steps, calibration_seed
        self.states, self.episode_starts, self.activations = collect_states(
            actor, env_id, steps=calibration_steps, seed=calibration_seed)
        self._thresholds: dict[tuple[str, int], list[torch.Tensor]] = {}
        self._distilled: dict[tuple[str, str, int], SpikingActor] = {}
        self._calibrated: dict[tuple[Recipe, int], SpikingActor] = {}     # bias calibration: tuning and report

    def thresholds(self, method: str, timesteps: int) -> list[torch.Tensor]:
        key = (method, timesteps if method == "mse" else 0)
        if key not in self._thresholds:
            self._thresholds[key] = (thresholds_from_activations(self.activations) if method == "max"
                                     else mse_thresholds(self.activations, timesteps))
        return self._thresholds[key]

    def spiking_actor(self, recipe: Recipe, timesteps: int) -> SpikingActor:
        """The converted actor of ``recipe`` at ``timesteps``."""
        check_timesteps(timesteps)
        thresholds = self.thresholds(recipe.thresholds, timesteps * recipe.copies)
        if recipe.distill is None:
            snn = convert_population(self.actor, thresholds, recipe.copies)      # copies=1: convert_actor
        else:
            key = (recipe.thresholds, recipe.distill, timesteps)
            if key not in self._distilled:
                self._distilled[key] = distill_actor(self.actor, self.env_id, thresholds, timesteps, self.states,
                                                     student=recipe.distill, config=self.distillation)
            snn = self._distilled[key]
        if recipe.bias:
            if (recipe, timesteps) not in self._calibrated:
                self._calibrated[recipe, timesteps] = calibrate_biases(
                    snn, widen_actor(self.actor, recipe.copies), self.states, timesteps, crpi=recipe.crpi,
                    episode_starts=self.episode_starts)
            snn = self._calibrated[recipe, timesteps]
        return snn

    def policy(self, recipe: Recipe, timesteps: int, *, metering: bool = True) -> SpikingPolicy:
        """:meth:`spiking_actor` under the ``predict`` contract, with the recipe's CRPI."""
        return SpikingPolicy(self.spiking_actor(recipe, timesteps), timesteps=timesteps, crpi=recipe.crpi,
                             metering=metering, meta={"recipe": recipe.label, "env_id": self.env_id,
                                                      "calibration_seed": self.calibration_seed,
                                                      "calibration_steps": self.calibration_steps})
