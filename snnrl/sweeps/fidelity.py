"""The conversion-fidelity protocol: every knob tuned on tuning episodes, every row reported on other episodes.

For one teacher and each ``T``:

1. **Tuning** (episodes seeded ``tuning_seed .. tuning_seed + tuning_episodes − 1``, default 100–129): CRPI's
   ``alpha`` for the CRPI-alone row, and the recipe (:data:`RECIPE_CANDIDATES`: plain conversion, MSE thresholds,
   CRPI alone, the distilled actors with and without bias calibration and CRPI, the populations), each by
   :data:`TUNING_RULE`: **of the candidates spending less energy per decision than the ANN on the tuning
   episodes, those whose mean tuning return is within one standard error of the best mean (the best eligible
   candidate's standard error), and of those the one whose actions are closest to the ANN's (lowest RMS action
   error on its own visited states); ties go to the earlier candidate** (listed simplest first). A spiking policy
   costing more than its ANN defeats the purpose of converting (a population of 3 at T=8 can). Returns alone pick
   noise where teachers fall in some episodes (a ±950 spread on Hopper): the action error, measured at every
   decision, separates candidates whose returns do not.
2. **Report** (episodes seeded ``seed .. seed + episodes − 1``, default 0–29): the ANN, the zero-action reference
   and one row per recipe of :data:`ABLATION` plus the tuned recipe, all on the same seeds; the fidelity score
   (:func:`~snnrl.sweeps.statistics.fidelity_score`) of each against the ANN and the reference measured there.

Calibration states come from teacher rollouts seeded :data:`~snnrl.agents.recipe.CALIBRATION_SEED` and the
distillation's rollouts from 20,000 on, so no evaluation or tuning seed is seen while building a policy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from snnrl.agents.actor import TeacherActor
from snnrl.agents.distillation import DistillationConfig
from snnrl.agents.evaluation import EpisodeResult, run_episodes
from snnrl.agents.policy import AnnPolicy, ConstantPolicy
from snnrl.agents.recipe import Recipe, RecipeBuilder
from snnrl.encoding import check_timesteps
from snnrl.sweeps.statistics import fidelity_score

__all__ = ["FidelityConfig", "ABLATION", "CRPI_ALPHAS", "POPULATION_COPIES", "RECIPE_CANDIDATES", "candidate_labels",
           "run_fidelity_protocol", "resumable", "episode_stats", "ann_energy_per_decision", "tune", "convert_tuned"]

logger = logging.getLogger("snnrl")

CRPI_ALPHAS = (0.25, 0.5, 0.75, 1.0)
"""Candidates of the CRPI-alone row's ``alpha``."""

POPULATION_COPIES = (2, 3)
"""Population sizes ``K`` of the recipe's population candidates (:mod:`snnrl.agents.population`): 2 and 3 copies
of every hidden neuron, at about 4 and 9 times the hidden-to-hidden synaptic operations."""

RECIPE_CANDIDATES = (Recipe(), Recipe("mse"), *(Recipe(alpha=a) for a in CRPI_ALPHAS),
                     *(Recipe("mse", "spiking", bias, alpha) for bias in (False, True) for alpha in (None, 0.5, 1.0)),
                     *(Recipe("mse", "qcfs", alpha=alpha) for alpha in (None, 0.5, 1.0)),
                     *(Recipe("mse", copies=k) for k in POPULATION_COPIES))
"""Candidates of the recommended recipe, simplest first: plain conversion, MSE thresholds, CRPI alone (the
CRPI row's candidates, so the recipe cannot lose to it or to plain conversion on the tuning episodes), then MSE
thresholds and a distilled spiking actor, with or without bias calibration, without CRPI or with ``alpha`` 0.5 or 1,
and MSE thresholds and a QCFS-distilled actor (the issue's conversion-aware distillation: T-level clip-floor-shift
activations fitted, then converted) without CRPI or with ``alpha`` 0.5 or 1, and MSE thresholds at ``T·K`` with a
population of ``K`` staggered copies per hidden neuron (:data:`POPULATION_COPIES`, training-free). Documents record
the labels they were tuned over (``recipe_candidates``; files without it predate the QCFS candidates, files without
``mse+pop2`` the population ones)."""


def candidate_labels() -> list[str]:
    """The labels of :data:`RECIPE_CANDIDATES`, as documents record them."""
    return [r.label for r in RECIPE_CANDIDATES]


TUNING_RULE = ("of the candidates spending less energy per decision than the ANN, those within one standard error "
               "of the best mean tuning return, and of those the lowest RMS action error against the ANN; ties to the "
               "earlier candidate")

ABLATION = {
    "plain": Recipe(),
    "mse": Recipe("mse"),
    "bias": Recipe("max", bias=True),
    "qcfs": Recipe("mse", "qcfs"),
    "spiking": Recipe("mse", "spiking"),
    "population": Recipe("mse", copies=2),
}
"""Rows with one ingredient each (``qcfs``/``spiking``/``population`` start from MSE thresholds; ``population``
with 2 copies); ``crpi`` and ``recipe`` are added with their tuned settings."""


@dataclass(frozen=True)
class FidelityConfig:
    """What the protocol evaluates (see the module docstring)."""

    timesteps: tuple[int, ...] = (2, 4, 8, 16)
    episodes: int = 30
    seed: int = 0
    tuning_episodes: int = 30
    tuning_seed: int = 100
    calibration_steps: int = 10_000
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    ablation: tuple[str, ...] | None = None
    """The one-ingredient rows reported beside ``crpi`` and ``recipe`` (names of :data:`ABLATION`; ``None``: all)."""

    def __post_init__(self) -> None:
        unknown = [name for name in self.ablation or () if name not in ABLATION]
        if unknown:
            raise ValueError(f"ablation rows {unknown} are not in {sorted(ABLATION)}; choose from those.")
        for t in self.timesteps:
            check_timesteps(t)
        if self.episodes < 1 or self.tuning_episodes < 1:
            raise ValueError("episodes and tuning_episodes must be >= 1.")
        report = set(range(self.seed, self.seed + self.episodes))
        tuning = set(range(self.tuning_seed, self.tuning_seed + self.tuning_episodes))
        if report & tuning:
            raise ValueError(f"tuning seeds {self.tuning_seed}..{self.tuning_seed + self.tuning_episodes - 1} overlap "
                             f"the reported seeds {self.seed}..{self.seed + self.episodes - 1}; choose disjoint ones.")


def episode_stats(episodes: Sequence[EpisodeResult], time_limit: int | None) -> dict[str, Any]:
    """Mean / std of returns and the rest of a row, from its episodes."""
    returns = np.array([e.episode_return for e in episodes])
    lag1 = [e.action_error_lag1 for e in episodes if e.action_error_lag1 is not None]
    rms = [e.action_error_rms for e in episodes if e.action_error_rms is not None]
    steps = sum(e.energy["steps"] for e in episodes)
    return {"return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "returns": returns.tolist(), "length_mean": float(np.mean([e.length for e in episodes])),
            "full_episodes": None if time_limit is None else int(sum(e.length >= time_limit for e in episodes)),
            "action_error_lag1": float(np.mean(lag1)) if lag1 else None,
            "action_error_rms": float(np.mean(rms)) if rms else None,
            "energy_per_decision_pj": (sum(e.energy["energy_pj"] for e in episodes) / steps) if steps else None}


def ann_energy_per_decision(actor: TeacherActor, env_id: str, seed: int) -> float:
    """The ANN's energy per decision (pJ, the digital model of :func:`~snnrl.agents.evaluation.run_episodes`): dense
    MACs, the same for every state, read from one decision of an episode seeded ``seed``."""
    (result,) = run_episodes(AnnPolicy(actor), env_id, episodes=1, seed=seed, max_steps=1)
    return result.energy["energy_pj"] / result.energy["steps"]


def tune(builder: RecipeBuilder, timesteps: int, candidates: Sequence[Recipe], *, seed: int, episodes: int,
         ann_energy_pj: float | None = None, measured: dict[Recipe, dict[str, float]] | None = None,
         progress: Callable[[str], None] | None = None) -> tuple[Recipe, list[dict[str, Any]]]:
    """The candidate :data:`TUNING_RULE` picks on episodes seeded ``seed ..``, and the table of every candidate's
    tuning return (mean and standard error), RMS action error against the ANN and energy per decision.

    ``ann_energy_pj``: the ANN's energy per decision (:func:`ann_energy_per_decision`); candidates spending as much
    or more are not eligible (``None``: every candidate is; so is every one when none is below it).
    ``measured``: a cache of tuning rows at this ``T`` and these seeds, read and filled (a candidate of two
    tunings is played once). ``progress``: called with a line after each candidate played.
    """
    measured = {} if measured is None else measured
    teacher = AnnPolicy(builder.actor, metering=False)
    table = []
    for recipe in candidates:
        if recipe not in measured:
            results = run_episodes(builder.policy(recipe, timesteps), builder.env_id,
                                   episodes=episodes, seed=seed, teacher=teacher)
            returns = np.array([e.episode_return for e in results])
            steps = sum(e.energy.get("steps", 0) for e in results)
            measured[recipe] = {"tuning_return": float(returns.mean()),
                                "tuning_return_se": float(returns.std(ddof=1) / np.sqrt(len(returns)))
                                if len(returns) > 1 else 0.0,
                                "tuning_action_rms": float(np.mean([e.action_error_rms for e in results])),
                                "tuning_energy_pj": (sum(e.energy["energy_pj"] for e in results) / steps
                                                     if steps else None)}
            if progress is not None:
                progress(f"T={timesteps}: candidate {len(table) + 1}/{len(candidates)} {recipe.label}: tuning return "
                         f"{measured[recipe]['tuning_return']:.4g}")
        table.append({"recipe": recipe.label, **measured[recipe]})
    def cheaper(i: int) -> bool:
        energy = table[i]["tuning_energy_pj"]
        return ann_energy_pj is None or energy is None or energy < ann_energy_pj

    eligible = [i for i in range(len(candidates)) if cheaper(i)] or list(range(len(candidates)))
    best = max(eligible, key=lambda i: (table[i]["tuning_return"], -i))
    bar = table[best]["tuning_return"] - table[best]["tuning_return_se"]
    close = [i for i in eligible if table[i]["tuning_return"] >= bar]
    pick = min(close, key=lambda i: (table[i]["tuning_action_rms"], i))
    for i, row in enumerate(table):
        row["eligible"] = i in eligible
        row["picked"] = i == pick
    return candidates[pick], table


def convert_tuned(actor: TeacherActor, env_id: str, timesteps: Sequence[int], *, tuning_seed: int = 100,
                  tuning_episodes: int = 30, calibration_steps: int = 10_000,
                  distillation: DistillationConfig = DistillationConfig(),
                  progress: Callable[[str], None] | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The recommended recipe tuned per ``T`` (:data:`RECIPE_CANDIDATES`, the module's rule): the spiking
    policies, one per ``T``, and the provenance (calibration, tuning tables) to save with them."""
    builder = RecipeBuilder(actor, env_id, calibration_steps=calibration_steps, distillation=distillation)
    ann_energy = ann_energy_per_decision(actor, env_id, tuning_seed)
    policies, tuning = [], {}
    for t in timesteps:
        recipe, table = tune(builder, t, RECIPE_CANDIDATES, seed=tuning_seed, episodes=tuning_episodes,
                             ann_energy_pj=ann_energy, progress=progress)
        policies.append(builder.policy(recipe, t))
        tuning[str(t)] = {"recipe": recipe.label, "candidates": table}
        if progress is not None:
            picked = next(r for r in table if r["picked"])
            progress(f"T={t}: {recipe.label} (tuning return {picked['tuning_return']:.4g}, RMS action error "
                     f"{picked['tuning_action_rms']:.3g})")
    meta = {"env_id": env_id, "calibration_seed": builder.calibration_seed, "calibration_steps": calibration_steps,
            "tuning_seeds": [tuning_seed, tuning_seed + tuning_episodes - 1], "tuning_rule": TUNING_RULE,
            "recipe_candidates": candidate_labels(), "tuning": tuning,
            "distillation": asdict(distillation)}
    return policies, meta


def run_fidelity_protocol(actor: TeacherActor, env_id: str, config: FidelityConfig = FidelityConfig(), *,
                          on_row: Callable[[int, str, dict[str, Any]], None] | None = None,
                          on_block: Callable[[dict[str, Any]], None] | None = None,
                          resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tune and report one teacher (module docstring); returns the JSON-ready document body.

    ``on_row(T, row name, row)`` is called as each reported row is measured (progress); ``on_block(doc)`` with the
    document so far after each ``T`` (a checkpoint). ``resume``: such a document of the same ``env_id`` and
    config, whose ANN, reference and finished ``T`` are kept rather than measured again (every ``T`` is tuned and
    reported on its own, so the result is the same as one uninterrupted run's).
    """
    if resume is not None and not resumable(resume, env_id, config):
        raise ValueError("resume: the partial document was measured on another env or config; start afresh.")
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids snnrl/<Task>Pixels-v5)

    time_limit = gym.spec(env_id).max_episode_steps
    start = time.perf_counter()
    builder = RecipeBuilder(actor, env_id, calibration_steps=config.calibration_steps,
                            distillation=config.distillation)
    teacher = AnnPolicy(actor, metering=False)

    def report(policy: Any, with_teacher: bool = True) -> dict[str, Any]:
        return episode_stats(run_episodes(policy, env_id, episodes=config.episodes, seed=config.seed,
                                          teacher=teacher if with_teacher else None), time_limit)

    if resume is not None:
        ann, reference = resume["ann"], resume["reference"]
    else:
        ann = report(AnnPolicy(actor))
        reference = report(ConstantPolicy(actor.action_dim, actor.obs_dim, obs_shape=actor.obs_shape),
                           with_teacher=False)
    out: dict[str, Any] = {"env_id": env_id, "time_limit": time_limit, "config": asdict(config),
                           "tuning_rule": TUNING_RULE, "recipe_candidates": candidate_labels(),
                           "reference_policy": "zero action", "ann": ann,
                           "reference": reference, "per_timesteps": []}
    done = {b["timesteps"]: b for b in (resume or {}).get("per_timesteps", [])}

    def elapsed() -> float:                                          # this run's time and the resumed run's
        return time.perf_counter() - start + (resume or {}).get("wall_s", 0.0)
    for t in config.timesteps:
        if t in done:
            out["per_timesteps"].append(done[t])
            continue
        tuning = {"seed": config.tuning_seed, "episodes": config.tuning_episodes,
                  "ann_energy_pj": ann["energy_per_decision_pj"]}
        measured_t: dict[Recipe, dict[str, float]] = {}                 # CRPI's candidates are the recipe's too
        crpi, crpi_table = tune(builder, t, [Recipe(alpha=a) for a in CRPI_ALPHAS], **tuning, measured=measured_t)
        recipe, recipe_table = tune(builder, t, RECIPE_CANDIDATES, **tuning, measured=measured_t)
        rows: dict[str, Any] = {}
        measured: dict[Recipe, dict[str, Any]] = {}                      # a tuned pick equal to a row: once
        ablation = ABLATION if config.ablation is None else {n: ABLATION[n] for n in config.ablation}
        for name, r in [*ablation.items(), ("crpi", crpi), ("recipe", recipe)]:
            if r not in measured:
                measured[r] = {"recipe": r.label, **asdict(r), **report(builder.policy(r, t))}
                measured[r]["fidelity"] = fidelity_score(measured[r]["return_mean"], ann["return_mean"],
                                                         reference["return_mean"])
            row = rows[name] = measured[r]
            if on_row is not None:
                on_row(t, name, row)
        out["per_timesteps"].append({"timesteps": t, "rows": rows,
                                     "tuning": {"crpi": crpi_table, "recipe": recipe_table}})
        if on_block is not None:
            on_block({**out, "wall_s": elapsed()})
    out["wall_s"] = elapsed()
    return out


def resumable(partial: dict[str, Any], env_id: str, config: FidelityConfig) -> bool:
    """Whether a checkpoint or finished document of :func:`run_fidelity_protocol` (read back from JSON) was measured
    on ``env_id`` with ``config`` under today's :data:`TUNING_RULE` and :data:`RECIPE_CANDIDATES`, so a run can
    resume from it.

    The list of ``T`` may differ: each ``T`` is measured on its own (calibration, distillation and episodes are
    seeded independently of the other ``T``), so a run keeps the blocks of the ``T`` it asks for and measures the
    rest."""
    def settings(c: Any) -> Any:
        return {k: v for k, v in c.items() if k != "timesteps"} if isinstance(c, dict) else c
    return (partial.get("env_id") == env_id and partial.get("tuning_rule") == TUNING_RULE
            and partial.get("recipe_candidates") == candidate_labels()
            and settings(partial.get("config")) == settings(json.loads(json.dumps(asdict(config)))))

