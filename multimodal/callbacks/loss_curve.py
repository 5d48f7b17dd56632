"""`LossCurve`: record a validation metric at each validation and print it as a curve at the end."""

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only


def render_curve(points: list[tuple[int, float]], width: int = 40) -> str:
    """One line per point: step, value and a bar scaled between the smallest and largest value."""
    if not points:
        return "(no validation ran)"
    values = [v for _, v in points]
    low, high = min(values), max(values)
    lines = []
    for step, value in points:
        filled = 1 + int((width - 1) * (value - low) / (high - low)) if high > low else width
        lines.append(f"{step:>7d}  {value:8.4f}  {'#' * filled}")
    return "\n".join(lines)


class LossCurve(pl.Callback):
    def __init__(self, metric: str = "val_loss"):
        self.metric = metric
        self.points: list[tuple[int, float]] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        """After the module's own epoch-end hook, which may log the metric (as `val_loss` is)."""
        if trainer.sanity_checking or self.metric not in trainer.callback_metrics:
            return
        self.points.append((trainer.global_step, float(trainer.callback_metrics[self.metric])))

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        print(f"\n--- {self.metric} by step ---\n{render_curve(self.points)}")
