"""Learning-rate schedules: `(optimizer, total_steps) -> LambdaLR`, chosen by `conf/scheduler/`.

The training module calls the configured partial with the run's optimizer and its number of
optimizer steps (Lightning's estimate from max_steps or max_epochs).
"""

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_factor(step: int, warmup: int) -> float:
    return (step + 1) / warmup if step < warmup else 1.0


def cosine_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up over `warmup` steps, then cosine decay to `min_ratio`."""
    if step < warmup:
        return warmup_factor(step, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def short_warmup(warmup_steps: int, total_steps: int) -> int:
    """The warm-up, at most a tenth of the run."""
    return min(warmup_steps, max(1, total_steps // 10))


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_steps: int = 100, min_lr_ratio: float = 0.1
) -> LambdaLR:
    """Linear warm-up, then cosine decay to `min_lr_ratio` times the lr at `total_steps`."""
    warmup = short_warmup(warmup_steps, total_steps)
    return LambdaLR(optimizer, lambda s: cosine_factor(s, warmup, total_steps, min_lr_ratio))


def warmup_constant(optimizer: Optimizer, total_steps: int, warmup_steps: int = 0) -> LambdaLR:
    """Linear warm-up, then the optimizer's lr."""
    warmup = short_warmup(warmup_steps, total_steps) if warmup_steps else 0
    return LambdaLR(optimizer, lambda s: warmup_factor(s, warmup))
