"""Learning-rate schedules: the factor (0, 1] that multiplies each optimizer group's configured learning rate at
a given step.

A schedule is a pure function of the global step and the run's length, never an object with state: a resumed
run computes the same factor at the same step, so exact resume needs nothing saved for it. Reduce-on-plateau
depends on history (validation losses): the trainer keeps that state, saves it with every checkpoint and
multiplies its cut into the factor given here (which, for "plateau", is the warm-up ramp and then 1).

- constant: 1 throughout;
- cosine: half a cosine from 1 at the end of warm-up down to `min_lr_ratio` at the last step (Loshchilov &
  Hutter 2017, SGDR, without restarts);
- step: multiplied by `decay_factor` every `decay_every` steps after warm-up.

`warmup_steps` > 0 puts a linear ramp in front of any of them: step s < warmup_steps gets (s + 1) / warmup_steps
(the first update already moves, at lr / warmup_steps; Goyal et al. 2017's gradual warm-up).
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "step")


def lr_factor(
    step: int,
    total_steps: int,
    schedule: str = "constant",
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    decay_every: int | None = None,
    decay_factor: float = 0.1,
) -> float:
    """The learning-rate multiplier for the update made at `step` (0-based) of a run of `total_steps` updates."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    after = step - warmup_steps  # steps since warm-up ended
    if schedule == "cosine":
        span = max(total_steps - warmup_steps - 1, 1)  # the last step reaches min_lr_ratio exactly
        progress = min(after / span, 1.0)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return decay_factor ** (after // decay_every)
    return 1.0
