"""Spiking continual-learning strategies on Avalanche: a thin template plus rehearsal plugins.

* :class:`SpikingSupervisedTemplate` — Avalanche's ``SupervisedTemplate`` for backbones that return per-timestep
  logits ``[T, B, C]``: ``mb_output`` is the time-averaged logits (what Avalanche's metrics read), the sequence
  stays available as ``mb_output_seq``. Loss: cross-entropy of the time-averaged logits (``ce_mode="mean"``,
  methods notes) or the mean of per-timestep cross-entropies (``"per_timestep"``, the reference's TSCE).
* :class:`ERPlugin` — experience replay: each training batch is extended with a batch drawn from the buffer
  (inputs + labels). A :class:`~snnrl.continual.buffer.ReservoirBuffer` is offered the current batch after every
  iteration; a :class:`~snnrl.continual.buffer.ClassBalancedBuffer` is refilled from the experience's training
  data after the experience (the stored fields then computed by the trained model).
* :class:`DERPPPlugin` — DER++: the buffer also stores the per-timestep logits at insertion; loss
  ``+ alpha·MSE(f(x'), z') + beta·CE(f(x''), y'')`` on two buffer batches.
* :class:`STAERPlugin` — STAER (arXiv 2601.20870): ER plus the temporal alignment term
  ``β·(D(f(x)_T, z_T) + α1·D(f(x[:B/2])_T, z_{T/2}) + α2·D(f(x[:B/2])_T, z_{2T})) / (1 + α1 + α2)`` with the
  Soft-DTW divergence ``D``; the buffer stores the logits of the input played for ``T/2``, ``T`` and ``2T``
  steps (temporal contraction / expansion). One buffer holds everything (the reference keeps a second,
  equally large buffer for the logits; one buffer keeps memory equal to the baselines'). Optionally DER++'s
  logit replay beside it: ``+ logit_alpha·MSE(f(x), z_T)`` on the same replayed batch.
* :class:`CosineRestartPlugin` — optimizer state reset and a cosine learning-rate schedule rebuilt each
  experience (the reference's AdamW + cosine).

:func:`make_strategy` assembles a named strategy (``naive``, ``er``, ``derpp``, ``staer``).

The plugins also work inside a user's own stock Avalanche strategy: wrap the backbone in
:class:`~snnrl.continual.backbones.TimeAveraged` (time-averaged logits for Avalanche, the sequence for the plugins).

Example
-------
>>> import torch
>>> from avalanche.training import Naive
>>> from avalanche.training.plugins import EvaluationPlugin
>>> from snnrl.continual.backbones import TimeAveraged, make_backbone
>>> from snnrl.continual.benchmarks import class_incremental
>>> bench = class_incremental("digits", n_experiences=2, train_per_class=10, test_per_class=5)
>>> model = TimeAveraged(make_backbone("mlp", (1, 8, 8), 10, timesteps=4))
>>> staer = STAERPlugin(ReservoirBuffer(20, seed=0), config=STAERConfig(beta=0.1))
>>> strategy = Naive(model=model, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3), train_mb_size=10,
...                  plugins=[staer], evaluator=EvaluationPlugin(loggers=[]))
>>> for experience in bench.train_stream:
...     _ = strategy.train(experience)
>>> len(staer.buffer), staer.last_alignment > 0
(20, True)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate

from snnrl.continual.buffer import ClassBalancedBuffer, ReservoirBuffer, make_buffer
from snnrl.continual.configs import BUFFER_UPDATE, OPTIMIZERS, STRATEGIES, DERPPConfig, ERConfig, STAERConfig
from snnrl.continual.soft_dtw import SoftDTWDivergence

__all__ = ["SpikingSupervisedTemplate", "TrainingDiverged", "ERPlugin", "DERPPPlugin", "STAERPlugin", "CosineRestartPlugin",
           "ERConfig", "DERPPConfig", "STAERConfig", "make_strategy", "STRATEGIES", "check_sequence_logits",
           "sequence_logits"]

def check_sequence_logits(out: Any, batch: int) -> torch.Tensor:
    """Raise a clear error unless ``out`` is a ``[T, B, C]`` tensor of per-timestep logits."""
    if not isinstance(out, torch.Tensor) or out.dim() != 3 or out.shape[1] != batch:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        hint = " It looks like [B, C]: return the per-timestep logits, not their mean." if (
            isinstance(out, torch.Tensor) and out.dim() == 2) else ""
        raise ValueError(f"A spiking backbone must return per-timestep logits [T, B, C] with B={batch}; got {shape}."
                         f"{hint} (see snnrl.continual.backbones)")
    return out


def sequence_logits(model: torch.nn.Module, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
    """Per-timestep logits ``[T, B, C]`` of ``x``: from a raw spiking backbone, or from the
    :class:`~snnrl.continual.backbones.TimeAveraged` adapter a stock Avalanche strategy holds."""
    out = model.sequence(x, timesteps) if hasattr(model, "sequence") else model(x, timesteps=timesteps)
    return check_sequence_logits(out, len(x))


def _timesteps_of(model: torch.nn.Module) -> int:
    t = getattr(model, "timesteps", None)
    if not isinstance(t, int):
        raise ValueError("the backbone must expose an int attribute 'timesteps' (see snnrl.continual.backbones).")
    return t


class SpikingSupervisedTemplate(SupervisedTemplate):
    """``SupervisedTemplate`` for spiking backbones returning ``[T, B, C]``.

    Parameters
    ----------
    ce_mode
        ``"mean"``: cross-entropy of the time-averaged logits; ``"per_timestep"``: mean of the per-timestep
        cross-entropies (TSCE). Everything else is passed to ``SupervisedTemplate``.
    """

    def __init__(self, *, ce_mode: str = "mean", **kwargs: Any) -> None:
        if ce_mode not in ("mean", "per_timestep"):
            raise ValueError(f"ce_mode must be 'mean' or 'per_timestep', got {ce_mode!r}.")
        super().__init__(**kwargs)
        self.ce_mode = ce_mode
        self.mb_output_seq: torch.Tensor | None = None

    def forward(self) -> torch.Tensor:
        out = check_sequence_logits(self.model(self.mb_x), self.mb_x.shape[0])
        if self.is_training:
            self._check_finite(out, "output")
        self.mb_output_seq = out
        return out.mean(0)

    def backward(self) -> None:
        self._check_finite(self.loss, "loss")      # plugins have added their terms by now
        super().backward()

    def _check_finite(self, value: torch.Tensor, what: str) -> None:
        if not bool(torch.isfinite(value.detach()).all()):
            lr = self.optimizer.param_groups[0]["lr"]
            raise TrainingDiverged(
                f"training diverged: the {what} is not finite at experience "
                f"{getattr(self.experience, 'current_experience', self.clock.train_exp_counter)}, "
                f"iteration {self.clock.train_epoch_iterations} (lr {lr:g}); lower the learning rate (--lr)")

    def criterion(self) -> torch.Tensor:
        if self.is_training and self.ce_mode == "per_timestep":
            return sequence_cross_entropy(self.mb_output_seq, self.mb_y)
        return F.cross_entropy(self.mb_output, self.mb_y)


class TrainingDiverged(FloatingPointError):
    """A training run's output or loss became NaN or infinite (raised by :class:`SpikingSupervisedTemplate`)."""


def sequence_cross_entropy(logits_seq: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over timesteps of the cross-entropy of ``logits_seq [T, B, C]`` against ``targets [B]``."""
    steps = logits_seq.shape[0]
    return F.cross_entropy(logits_seq.flatten(0, 1), targets.repeat(steps))


Buffer = ReservoirBuffer | ClassBalancedBuffer


class _RehearsalPlugin(SupervisedPlugin):
    """Shared rehearsal mechanics: offers the current batch to a reservoir buffer each iteration, or the
    experience's training data to a class-balanced buffer at its end."""

    def __init__(self, buffer: Buffer, *, minibatch_size: int | None) -> None:
        super().__init__()
        self.buffer = buffer
        self.minibatch_size = minibatch_size
        self._current: tuple[torch.Tensor, torch.Tensor] | None = None

    def _batch_size(self, strategy: Any) -> int:
        return self.minibatch_size or strategy.train_mb_size

    def before_forward(self, strategy: Any, **kwargs: Any) -> None:
        self._current = (strategy.mb_x, strategy.mb_y)

    def record(self, strategy: Any, x: torch.Tensor, out_seq: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Extra fields stored with the kept samples ``x`` (override); ``out_seq`` is their training output, or
        ``None`` where they are recorded outside training (a class-balanced buffer)."""
        return {}

    def after_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        if self.buffer.update_at != "iteration":
            return
        x, y = self._current
        seq = getattr(strategy, "mb_output_seq", None)          # the spiking template's, else the adapter's
        if seq is None:
            seq = getattr(strategy.model, "last_sequence", None)
        current_seq = None if seq is None else seq[:, : len(x)].detach()

        def record(kept: torch.Tensor) -> dict[str, torch.Tensor]:
            return self.record(strategy, x[kept], None if current_seq is None else current_seq[:, kept])

        self.buffer.add(x=x, y=y, record=record)

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        if self.buffer.update_at != "experience":
            return
        data = strategy.experience.dataset.eval()
        labels = torch.as_tensor(list(data.targets)).long()

        def load(index: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"x": torch.stack([data[int(i)][0] for i in index]), "y": labels[index]}

        def record(fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            model, training = strategy.model, strategy.model.training
            model.eval()
            try:
                with torch.no_grad():
                    return self.record(strategy, fields["x"].to(strategy.device), None)
            finally:
                model.train(training)

        self.buffer.add_experience(y=labels, load=load, record=record)


def _concat_replay(strategy: Any, samples: dict[str, torch.Tensor]) -> None:
    """Extend the strategy's current mini-batch with buffer samples (inputs, labels, task label 0)."""
    device = strategy.mb_x.device
    bx, by = samples["x"].to(device), samples["y"].to(device)
    mbatch = list(strategy.mbatch)
    mbatch[0] = torch.cat([mbatch[0], bx])
    mbatch[1] = torch.cat([mbatch[1], by])
    if len(mbatch) > 2:
        mbatch[-1] = torch.cat([mbatch[-1], torch.zeros_like(by)])
    strategy.mbatch = mbatch


class ERPlugin(_RehearsalPlugin):
    """Experience replay: a buffer batch joins every training batch (one forward, one cross-entropy)."""

    def before_forward(self, strategy: Any, **kwargs: Any) -> None:
        super().before_forward(strategy)
        if len(self.buffer):
            _concat_replay(strategy, self.buffer.sample(self._batch_size(strategy)))


class DERPPPlugin(_RehearsalPlugin):
    """DER++ (Buzzega et al. 2020) on per-timestep logits: MSE to the stored logits + buffer cross-entropy."""

    def __init__(self, buffer: Buffer, *, minibatch_size: int | None, alpha: float, beta: float) -> None:
        super().__init__(buffer, minibatch_size=minibatch_size)
        self.alpha, self.beta = alpha, beta

    def record(self, strategy: Any, x: torch.Tensor, out_seq: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if out_seq is None:
            out_seq = sequence_logits(strategy.model, x)
        return {"logits": out_seq.transpose(0, 1)}  # [n, T, C]

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        if not len(self.buffer):
            return
        device, n = strategy.mb_x.device, self._batch_size(strategy)
        first = self.buffer.sample(n)
        out = sequence_logits(strategy.model, first["x"].to(device))
        strategy.loss += self.alpha * F.mse_loss(out.transpose(0, 1), first["logits"].to(device))
        second = self.buffer.sample(n)
        out = sequence_logits(strategy.model, second["x"].to(device))
        strategy.loss += self.beta * F.cross_entropy(out.mean(0), second["y"].to(device))


class STAERPlugin(ERPlugin):
    """STAER: experience replay plus Soft-DTW alignment of replayed output trajectories (see module docstring)."""

    def __init__(self, buffer: Buffer, *, config: STAERConfig) -> None:
        super().__init__(buffer, minibatch_size=config.minibatch_size)
        self.config = config
        self.divergence = SoftDTWDivergence(gamma=config.gamma, normalize=config.normalize)
        self.last_alignment: float = 0.0

    def record(self, strategy: Any, x: torch.Tensor, out_seq: torch.Tensor | None) -> dict[str, torch.Tensor]:
        model, t = strategy.model, _timesteps_of(strategy.model)
        with torch.no_grad():
            fields = {"logits": sequence_logits(model, x, t).transpose(0, 1)}
            if self.config.expansion_contraction:
                fields["logits_half"] = sequence_logits(model, x, max(1, t // 2)).transpose(0, 1)
                fields["logits_double"] = sequence_logits(model, x, 2 * t).transpose(0, 1)
        return fields

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        cfg = self.config
        if not (cfg.alignment or cfg.logit_alpha) or not len(self.buffer):
            return
        device = strategy.mb_x.device
        samples = {k: v.to(device) for k, v in self.buffer.sample(self._batch_size(strategy)).items()}
        current = sequence_logits(strategy.model, samples["x"]).transpose(0, 1)                        # [B,T,C]
        if cfg.logit_alpha:
            strategy.loss += cfg.logit_alpha * F.mse_loss(current, samples["logits"])
        if not cfg.alignment:
            return
        loss = self.divergence(current, samples["logits"])
        weight = 1.0
        if cfg.expansion_contraction:
            half = max(1, len(current) // 2)
            loss = loss + cfg.alpha1 * self.divergence(current[:half], samples["logits_half"][:half])
            loss = loss + cfg.alpha2 * self.divergence(current[:half], samples["logits_double"][:half])
            weight = 1.0 + cfg.alpha1 + cfg.alpha2
        alignment = cfg.beta * loss / weight
        self.last_alignment = float(alignment.detach())
        strategy.loss += alignment


class CosineRestartPlugin(SupervisedPlugin):
    """Reset the optimizer's state and restart a cosine learning-rate schedule at every experience."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        optimizer = strategy.optimizer
        optimizer.state.clear()
        for group in optimizer.param_groups:
            group["lr"] = self.lr
            group["initial_lr"] = self.lr
        total = max(1, strategy.train_epochs * len(strategy.dataloader))
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)

    def after_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        if self.scheduler is not None:
            self.scheduler.step()


def make_strategy(name: str, model: torch.nn.Module, *, lr: float = 3e-3, train_mb_size: int = 10,
                  train_epochs: int = 1, eval_mb_size: int = 256, buffer_seed: int = 0, ce_mode: str = "mean",
                  er: ERConfig | None = None, derpp: DERPPConfig | None = None, staer: STAERConfig | None = None,
                  evaluator: Any = None, extra_plugins: list[Any] | None = None,
                  device: str = "cpu", optimizer: str = "adamw",
                  buffer_update: str = BUFFER_UPDATE) -> tuple[SpikingSupervisedTemplate, Buffer | None]:
    """Build strategy ``name`` (``naive``, ``er``, ``derpp``, ``staer``) on ``model``; returns it and its buffer.

    ``optimizer`` (:data:`~snnrl.continual.configs.OPTIMIZERS`): ``adamw``, AdamW with a cosine schedule restarted
    at each experience (the reference's setup), ``sgd``, plain SGD at the constant rate ``lr``, or ``sgd-cosine``,
    plain SGD with the cosine schedule restarted at each experience.
    ``buffer_update`` (:data:`~snnrl.continual.configs.BUFFER_UPDATES`): the rehearsal buffer's update rule.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {STRATEGIES}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}.")
    plugins: list[Any] = [CosineRestartPlugin(lr)] if optimizer in ("adamw", "sgd-cosine") else []
    buffer = None
    if name == "er":
        cfg = er or ERConfig()
        buffer = make_buffer(buffer_update, cfg.buffer_size, seed=buffer_seed)
        plugins.append(ERPlugin(buffer, minibatch_size=cfg.minibatch_size))
    elif name == "derpp":
        cfg = derpp or DERPPConfig()
        buffer = make_buffer(buffer_update, cfg.buffer_size, seed=buffer_seed)
        plugins.append(DERPPPlugin(buffer, minibatch_size=cfg.minibatch_size, alpha=cfg.alpha, beta=cfg.beta))
    elif name == "staer":
        cfg = staer or STAERConfig()
        buffer = make_buffer(buffer_update, cfg.buffer_size, seed=buffer_seed)
        plugins.append(STAERPlugin(buffer, config=cfg))
    params = model.parameters()
    optim = torch.optim.AdamW(params, lr=lr) if optimizer == "adamw" else torch.optim.SGD(params, lr=lr)
    kwargs: dict[str, Any] = {}
    if evaluator is not None:
        kwargs["evaluator"] = evaluator
    strategy = SpikingSupervisedTemplate(
        model=model, optimizer=optim, ce_mode=ce_mode, train_mb_size=train_mb_size, train_epochs=train_epochs,
        eval_mb_size=eval_mb_size, device=device, plugins=plugins + list(extra_plugins or []), **kwargs)
    return strategy, buffer
