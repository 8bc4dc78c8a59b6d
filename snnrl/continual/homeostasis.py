"""AHSAR homeostasis as an Avalanche plugin (see :mod:`snnrl.homeostasis` for the method)."""

from __future__ import annotations

from typing import Any

from avalanche.core import SupervisedPlugin

from snnrl.homeostasis import AHSAR, AHSARConfig

__all__ = ["AHSARPlugin"]


class AHSARPlugin(SupervisedPlugin):
    """Regulate the model's thresholds during training; the epoch's progress signal is minus its mean loss."""

    def __init__(self, config: AHSARConfig = AHSARConfig()) -> None:
        super().__init__()
        self.config = config
        self.ahsar: AHSAR | None = None
        self._pending: dict[str, Any] | None = None
        self._loss_sum, self._batches = 0.0, 0

    def attach(self, model: Any) -> AHSAR:
        """Start regulating ``model`` now (otherwise done at the first ``before_training``); returns the AHSAR."""
        if self.ahsar is None:
            self.ahsar = AHSAR(model, self.config)
            if self._pending is not None:
                self.ahsar.load_state_dict(self._pending)
                self._pending = None
        return self.ahsar

    def before_training(self, strategy: Any, **kwargs: Any) -> None:
        self.attach(strategy.model)

    def after_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        self.ahsar.update()
        self._loss_sum += float(strategy.loss.detach())
        self._batches += 1

    def after_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        if self._batches:
            self.ahsar.end_epoch(-self._loss_sum / self._batches)
        self._loss_sum, self._batches = 0.0, 0

    def state_dict(self) -> dict[str, Any] | None:
        """The regulator's state (``None`` before training started); saved with continual checkpoints."""
        return self.ahsar.state_dict() if self.ahsar is not None else self._pending

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict` (applied when the regulator attaches, if it has not yet)."""
        if state is None:
            return
        if self.ahsar is not None:
            self.ahsar.load_state_dict(state)
        else:
            self._pending = state
