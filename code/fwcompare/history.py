"""What a training run with validation reports, the same for both frameworks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class History:
    """Per-epoch record of a run; arrays have one entry per epoch.

    ``epoch_seconds`` are wall-clock times with the device synchronised at each epoch's end;
    the first epoch includes one-time costs (JAX compilation, PyTorch's first-call setup).
    ``best_epoch`` (counted from 1) had the lowest validation loss; its parameters are kept.
    """

    train_loss: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    epoch_seconds: np.ndarray

    @property
    def best_epoch(self) -> int:
        return int(np.argmin(self.val_loss)) + 1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)
