"""The progress bar of a step-bounded run counts steps out of max_steps, across epochs."""

from multimodal.train import train


def test_bar_counts_the_runs_steps(lm_config, capsys):
    cfg = lm_config(
        "trainer.max_epochs=-1",
        "trainer.max_steps=40",  # more than one epoch of the small corpus
        "+callbacks.progress._target_=multimodal.callbacks.step_progress.StepProgressBar",
        "+callbacks.progress.refresh_rate=1",
        "trainer.enable_progress_bar=true",
    )
    train(cfg)
    out = capsys.readouterr().out
    assert "40/40" in out and "Step (epoch 1)" in out
