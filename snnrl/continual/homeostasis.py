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
        self._loss_sum, self._batches = 0.0, 0

    def before_training(self, strategy: Any, **kwargs: Any) -> None:
        if self.ahsar is None:
            self.ahsar = AHSAR(strategy.model, self.config)

    def after_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        self.ahsar.update()
        self._loss_sum += float(strategy.loss.detach())
        self._batches += 1

    def after_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        if self._batches:
            self.ahsar.end_epoch(-self._loss_sum / self._batches)
        self._loss_sum, self._batches = 0.0, 0

    def state_dict(self) -> dict[str, Any] | None:
        return None if self.ahsar is None else self.ahsar.state_dict()
