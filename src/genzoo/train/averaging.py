"""An exponential moving average of a model's weights (train.ema_decay), for any model.

Averaged weights draw better samples and score better than the last iterate for GANs (Yazici et al. 2019, "The
Unusual Effectiveness of Averaging in GAN Training") and help other models' test losses a little; training itself
always steps the live weights. The average is a frozen copy of the whole model (every player of a GAN, so the copy
is a model like any other: sampling, evaluation and the explorers take it as it is).

In a checkpoint the average travels in model.safetensors beside the live weights, each tensor under the live
name prefixed with run_folder.AVERAGE_PREFIX. Loading a run for use takes the average where there is one
(`RunFolder.load_weights`); resuming takes both.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from genzoo.run_folder import AVERAGE_PREFIX


class WeightAverage:
    """average <- decay * average + (1 - decay) * live after every step, over every parameter in one fused foreach
    kernel; buffers (batch-norm statistics, counters) are copied from the live model, whose statistics they are.

    The decay warms up as min(decay, (1 + t) / (10 + t)) at step t, so the first steps do not anchor the average to
    the random initial weights (TensorFlow's ExponentialMovingAverage with num_updates). It depends on the step
    alone, so a resumed run continues the same sequence."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).requires_grad_(False).eval()
        self._live_params, self._params = list(model.parameters()), list(self.model.parameters())
        self._live_buffers, self._buffers = list(model.buffers()), list(self.model.buffers())

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self._params, self._live_params, 1.0 - decay)
        if self._buffers:
            torch._foreach_copy_(self._buffers, self._live_buffers)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, named for a checkpoint (AVERAGE_PREFIX + the live name)."""
        return {AVERAGE_PREFIX + k: v for k, v in self.model.state_dict().items()}

    def load(self, average: dict[str, torch.Tensor]) -> None:
        """Continue from a checkpoint's average (live names); an empty one (a run that had no average until this
        resume turned it on) starts from the live weights the copy was made from."""
        if average:
            self.model.load_state_dict(average)
