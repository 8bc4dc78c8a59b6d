"""Running a class-incremental experiment, resumable after every experience.

:func:`run_continual` builds the benchmark, the spiking backbone and the strategy from a :class:`ContinualConfig`,
then trains experience by experience, evaluating on the whole test stream after each one (class-IL and task-IL
accuracy matrices). After every experience it writes a checkpoint atomically (format
``snnrl-continual-checkpoint`` v1: model state dict, buffer, RNG states and the metrics so far); with
``resume=True`` a killed run continues from its last checkpoint and ends with the same results as an
uninterrupted one (on CPU: bit-identical).

Seeding: the run (not the library modules) seeds torch's and Python's global generators from ``config.seed`` at
its start, because Avalanche's data loaders shuffle with the global generator; their states are checkpointed.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np
import torch

from snnrl.continual.configs import (BUFFER_UPDATE, BUFFER_UPDATES, LIF_BETA, LIF_NEURONS, NEURONS, OPTIMIZERS,
                                     STRATEGIES, DERPPConfig, STAERConfig)
from snnrl.io import ArtifactError, atomic_write_json, describe_error, load_versioned, save_versioned

__all__ = ["ContinualConfig", "run_continual", "CHECKPOINT_FORMAT_VERSION"]

CHECKPOINT_FORMAT = "snnrl-continual-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ContinualConfig:
    """One continual-learning run. Method hyper-parameters are named as in the methods notes.

    Attributes
    ----------
    benchmark
        ``split-mnist``, ``split-fashion-mnist``, ``split-digits``, ``split-cifar10``, ``split-cifar100``.
    strategy
        ``naive``, ``er``, ``derpp`` or ``staer``.
    backbone
        ``mlp``, ``conv`` or ``resnet19``.
    buffer_size
        Rehearsal buffer capacity (ignored by ``naive``).
    buffer_update
        The buffer's update rule (:data:`~snnrl.continual.configs.BUFFER_UPDATES`): ``reservoir`` (every batch) or
        ``class-balanced`` (at the end of every experience, as Avalanche's ``DER``).
    timesteps, epochs, batch_size, lr
        Simulation steps per sample, epochs per experience, mini-batch size, AdamW learning rate.
    n_experiences, seed
        Experiences (classes split evenly) and the seed of class order, weights, buffer and data order.
    train_per_class, test_per_class
        Optional per-class subsampling (quick runs and tests).
    ce_mode
        ``mean`` (cross-entropy of time-averaged logits) or ``per_timestep`` (TSCE).
    staer_alpha1, staer_alpha2, staer_beta, sdtw_gamma, staer_alignment, staer_expansion_contraction
        STAER's ``α1``, ``α2``, ``β``, Soft-DTW ``γ`` and the two ablation switches.
    staer_logit_alpha
        Weight of DER++'s logit replay inside STAER (``STAERConfig.logit_alpha``; 0: off, as the reference).
    derpp_alpha, derpp_beta
        DER++'s logit-MSE and buffer-CE weights.
    ahsar
        Regulate thresholds with AHSAR homeostasis (:class:`~snnrl.continual.homeostasis.AHSARPlugin`); its
        state is saved with every checkpoint.
    data_root
        Where user-provided data sets live (CIFAR); ``None`` for the defaults.
    neuron
        Hidden neuron of the backbone (:data:`~snnrl.continual.backbones.NEURONS`: ``lif``, ``plif``,
        ``selfpred-lif``, ``atmn``).
    lif_beta
        Membrane decay ``β`` of the LIF-based hidden neurons (:data:`~snnrl.continual.configs.LIF_NEURONS`):
        ``V ← βV + I``; 1 is an integrate-and-fire neuron. Other neurons ignore it.
    optimizer
        ``adamw`` (cosine restarts per experience), ``sgd`` (constant rate) or ``sgd-cosine`` (cosine restarts)
        (:data:`~snnrl.continual.configs.OPTIMIZERS`); ``lr`` is its (initial) learning rate.
    validation
        Tuning mode: hold out this fraction of every class's training images and evaluate on them instead of the
        test set (:func:`~snnrl.continual.benchmarks.class_incremental`); ``None`` (default) reports on the test set.
    """

    benchmark: str = "split-mnist"
    strategy: str = "staer"
    backbone: str = "mlp"
    buffer_size: int = STAERConfig.buffer_size
    buffer_update: str = BUFFER_UPDATE
    timesteps: int = 4
    epochs: int = 1
    batch_size: int = 10
    lr: float = 3e-3
    n_experiences: int = 5
    seed: int = 0
    train_per_class: int | None = None
    test_per_class: int | None = None
    ce_mode: str = "mean"
    staer_alpha1: float = STAERConfig.alpha1
    staer_alpha2: float = STAERConfig.alpha2
    staer_beta: float = STAERConfig.beta
    staer_logit_alpha: float = STAERConfig.logit_alpha
    sdtw_gamma: float = STAERConfig.gamma
    staer_alignment: bool = STAERConfig.alignment
    staer_expansion_contraction: bool = STAERConfig.expansion_contraction
    derpp_alpha: float = DERPPConfig.alpha
    derpp_beta: float = DERPPConfig.beta
    ahsar: bool = False
    data_root: str | None = None
    neuron: str = "lif"
    lif_beta: float = LIF_BETA
    optimizer: str = "adamw"
    validation: float | None = None

    def __post_init__(self) -> None:
        from snnrl.encoding import check_timesteps

        check_timesteps(self.timesteps)
        if self.neuron not in NEURONS:
            raise ValueError(f"Unknown neuron {self.neuron!r}; choose one of {NEURONS}.")
        if not 0.0 <= self.lif_beta <= 1.0:
            raise ValueError(f"lif_beta must lie in [0, 1] (1: integrate-and-fire), got {self.lif_beta!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}.")
        if self.validation is not None and not (isinstance(self.validation, (int, float))
                                                and not isinstance(self.validation, bool)
                                                and 0.0 < float(self.validation) < 1.0):
            raise ValueError(f"validation must be a fraction between 0 and 1 (e.g. 0.1) or None, got "
                             f"{self.validation!r}.")
        if self.buffer_update not in BUFFER_UPDATES:
            raise ValueError(f"Unknown buffer update {self.buffer_update!r}; choose one of {BUFFER_UPDATES}.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}; choose one of {STRATEGIES}.")
        if self.strategy != "naive" and self.buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1 for {self.strategy}, got {self.buffer_size}.")
        for name in ("epochs", "batch_size", "n_experiences"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not self.staer_logit_alpha >= 0:
            raise ValueError(f"staer_logit_alpha must be >= 0 (0: off), got {self.staer_logit_alpha!r}.")

    @property
    def label(self) -> str:
        buffer = "" if self.strategy == "naive" else f"-b{self.buffer_size}" + (
            "-cb" if self.buffer_update == "class-balanced" else "")
        neuron = ("" if self.neuron == "lif" else f"-{self.neuron}") + (
            f"-lifbeta{self.lif_beta:g}" if self.neuron in LIF_NEURONS and self.lif_beta != LIF_BETA else "")
        optimizer = "" if self.optimizer == "adamw" else f"-{self.optimizer}"
        logits = f"-logits{self.staer_logit_alpha:g}" if self.strategy == "staer" and self.staer_logit_alpha else ""
        validation = "" if self.validation is None else "-val"
        return (f"{self.strategy}{buffer}{logits}{neuron}{optimizer}{'-ahsar' if self.ahsar else ''}{validation}"
                f"-s{self.seed}")


def _build(config: ContinualConfig, progress: bool,
           loggers: Sequence[Any] | None = None) -> tuple[Any, Any, Any, Any, Any]:
    """(benchmark, dataset, model, strategy, buffer) for ``config``."""
    from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics
    from avalanche.logging import InteractiveLogger
    from avalanche.training.plugins import EvaluationPlugin

    from snnrl.continual.backbones import make_backbone
    from snnrl.continual.benchmarks import class_incremental
    from snnrl.continual.datasets import load_dataset
    from snnrl.continual.homeostasis import AHSARPlugin
    from snnrl.continual.metrics import TaskILAccuracy
    from snnrl.continual.strategies import DERPPConfig, ERConfig, STAERConfig, make_strategy

    dataset = load_dataset(config.benchmark, root=config.data_root)
    bench = class_incremental(dataset, n_experiences=config.n_experiences, seed=config.seed,
                              train_per_class=config.train_per_class, test_per_class=config.test_per_class,
                              validation=config.validation)
    model = make_backbone(config.backbone, dataset.shape, dataset.num_classes, timesteps=config.timesteps,
                          neuron=config.neuron, beta=config.lif_beta)
    # Avalanche's own stream forgetting and BWT go to the loggers (a test checks they agree with ours); the
    # results file holds ours, computed from the accuracy matrix, which survives a resume.
    evaluator = EvaluationPlugin(accuracy_metrics(experience=True, stream=True), TaskILAccuracy(),
                                 forgetting_metrics(stream=True), bwt_metrics(stream=True),
                                 loggers=list(loggers) if loggers is not None else
                                 ([InteractiveLogger()] if progress else []))
    strategy, buffer = make_strategy(
        config.strategy, model, lr=config.lr, train_mb_size=config.batch_size, train_epochs=config.epochs,
        buffer_seed=config.seed, ce_mode=config.ce_mode, evaluator=evaluator, optimizer=config.optimizer,
        buffer_update=config.buffer_update, er=ERConfig(buffer_size=config.buffer_size),
        derpp=DERPPConfig(buffer_size=config.buffer_size, alpha=config.derpp_alpha, beta=config.derpp_beta),
        staer=STAERConfig(buffer_size=config.buffer_size, alpha1=config.staer_alpha1, alpha2=config.staer_alpha2,
                          beta=config.staer_beta, gamma=config.sdtw_gamma, alignment=config.staer_alignment,
                          expansion_contraction=config.staer_expansion_contraction,
                          logit_alpha=config.staer_logit_alpha),
        extra_plugins=[AHSARPlugin()] if config.ahsar else None)
    return bench, dataset, model, strategy, buffer


def _ahsar_plugin(strategy: Any) -> Any:
    from snnrl.continual.homeostasis import AHSARPlugin

    return next((p for p in strategy.plugins if isinstance(p, AHSARPlugin)), None)


_STRATEGY_FIELDS = {"staer": ("staer_logit_alpha",)}
"""Fields added after runs were checkpointed that only their strategy reads: another strategy's run resumes
whatever they hold."""


def _same_config(stored: Any, config: ContinualConfig) -> bool:
    """``stored`` (a checkpoint's config) equals ``config``; fields added later count as their defaults, and
    those only another strategy reads (:data:`_STRATEGY_FIELDS`) are not compared."""
    if not isinstance(stored, dict):
        return False
    expected = asdict(config)
    defaults = asdict(ContinualConfig())
    ignored = {k for strategy, keys in _STRATEGY_FIELDS.items() if strategy != config.strategy for k in keys}
    return all(stored[k] == v if k in stored else v == defaults[k] for k, v in expected.items()
               if k not in ignored) and set(stored) <= set(expected)


_CHECKPOINT_KEYS = ("config", "model", "buffer", "torch_rng", "python_rng", "encoding_rng", "state")


def _damaged(path: Path, why: str) -> ArtifactError:
    return ArtifactError(f"Checkpoint '{path}' is damaged ({why}); delete it (or run with resume=False / --restart) "
                         "to start over.")


def _load_checkpoint(path: Path, config: ContinualConfig) -> dict[str, Any]:
    payload = load_versioned(path, kind=CHECKPOINT_FORMAT, version=CHECKPOINT_FORMAT_VERSION)
    if not isinstance(payload, dict) or any(k not in payload for k in _CHECKPOINT_KEYS):
        raise _damaged(path, f"expected the fields {', '.join(_CHECKPOINT_KEYS)}")
    if not _same_config(payload["config"], config):
        raise ArtifactError(f"Checkpoint '{path}' belongs to another configuration; use another run directory "
                            "or delete the checkpoint to start over.")
    state = payload["state"]
    done = state.get("next_experience") if isinstance(state, dict) else None
    if (not isinstance(done, int) or isinstance(done, bool) or not 0 <= done <= config.n_experiences
            or any(not isinstance(state.get(k), list) or len(state[k]) != done
                   for k in ("class_il", "task_il", "wall_s"))):
        raise _damaged(path, "its progress record is inconsistent")
    return payload


def run_continual(config: ContinualConfig, *, run_dir: str | Path | None = None, resume: bool = True,
                  progress: bool = True, max_experiences: int | None = None,
                  after_experience: Callable[[int, dict[str, Any]], None] | None = None,
                  loggers: Sequence[Any] | None = None) -> dict[str, Any]:
    """Run (or resume) one experiment; returns the results dict (also written to ``run_dir/results.json``).

    Parameters
    ----------
    run_dir
        Where ``checkpoint.pt`` and ``results.json`` go; ``None`` runs without checkpoints.
    resume
        Continue from ``run_dir/checkpoint.pt`` when it exists.
    max_experiences
        Train only the first experiences (quick runs); the matrices then have that many rows.
    after_experience
        Called with ``(experience index, partial state)`` after each checkpoint (tests use it to simulate a crash).
    loggers
        Avalanche loggers of the run's evaluation plugin (e.g. ``TensorboardLogger``, ``TextLogger``); default:
        ``InteractiveLogger`` when ``progress``, else none.
    """
    from snnrl.continual.metrics import accuracy_row, backward_transfer, final_average_accuracy, forgetting

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    bench, dataset, model, strategy, buffer = _build(config, progress, loggers)
    ahsar = _ahsar_plugin(strategy)
    state: dict[str, Any] = {"next_experience": 0, "class_il": [], "task_il": [], "wall_s": []}
    ckpt = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
    if ckpt is not None and resume and ckpt.exists():
        payload = _load_checkpoint(ckpt, config)
        try:  # torch / random raise many types for a state of the wrong shape or kind: name the file instead
            model.load_state_dict(payload["model"])
            if buffer is not None:
                buffer.load_state_dict(payload["buffer"])
            torch.set_rng_state(payload["torch_rng"])
            random.setstate(payload["python_rng"])
            model.set_rng_state(payload["encoding_rng"])
            if ahsar is not None:
                ahsar.load_state_dict(payload.get("ahsar"))
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            raise _damaged(ckpt, describe_error(exc, limit=160)) from exc
        state = payload["state"]
    first = state["next_experience"]
    last = config.n_experiences if max_experiences is None else min(max_experiences, config.n_experiences)
    for index in range(first, last):
        start = time.perf_counter()
        strategy.train(bench.train_stream[index])
        metrics = strategy.eval(bench.test_stream)
        state["class_il"].append(accuracy_row(metrics, config.n_experiences))
        state["task_il"].append(accuracy_row(metrics, config.n_experiences, task_il=True))
        state["wall_s"].append(time.perf_counter() - start)
        state["next_experience"] = index + 1
        if ckpt is not None:
            save_versioned(ckpt, kind=CHECKPOINT_FORMAT, version=CHECKPOINT_FORMAT_VERSION, payload={
                "config": asdict(config), "model": model.state_dict(),
                "buffer": None if buffer is None else buffer.state_dict(),
                "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(),
                "encoding_rng": model.rng_state(), "state": state,
                "ahsar": None if ahsar is None else ahsar.state_dict()})
        if after_experience is not None:
            after_experience(index, state)
    class_il, task_il = np.array(state["class_il"]), np.array(state["task_il"])
    results = {
        "schema_version": 1, "kind": "snnrl-continual-run", "config": asdict(config),
        "class_order": [int(c) for c in bench.classes_order],
        "class_il_matrix": class_il.tolist(), "task_il_matrix": task_il.tolist(),
        "class_il_accuracy": final_average_accuracy(class_il), "task_il_accuracy": final_average_accuracy(task_il),
        "class_il_forgetting": forgetting(class_il), "class_il_bwt": backward_transfer(class_il),
        "task_il_forgetting": forgetting(task_il), "task_il_bwt": backward_transfer(task_il),
        "wall_s_per_experience": state["wall_s"], "wall_s": float(sum(state["wall_s"])),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    if run_dir is not None:
        atomic_write_json(Path(run_dir) / "results.json", results)
    return results
