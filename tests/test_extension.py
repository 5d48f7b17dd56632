"""Proof by extension: a new modality (a 1-D sensor signal) and a new task (regression), written
entirely under tests/extension/ and wired only through config, train, save, load through
`multimodal.load` and predict through `mm-infer`, with nothing changed in the package."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

import multimodal
from multimodal.errors import InputError
from multimodal.train import train

HERE = Path(__file__).resolve().parent / "extension"
TRUST = ["sensor.SensorTokenizer", "sensor.RegressionHead", "sensor.Regression"]


def wave(frequency: float, phase: float = 0.3, length: int = 96) -> list[float]:
    return np.sin(2 * np.pi * frequency * np.arange(length) + phase).round(4).tolist()


def test_a_new_modality_and_task_train_load_and_predict(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))  # as a user's own package would be importable
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose(
            "train",
            [
                f"hydra.searchpath=[file://{HERE / 'conf'}]",
                "experiment=sensor",
                f"run_dir={tmp_path / 'run'}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=2",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "loggers=[csv]",
            ],
        )
    results = train(cfg)
    assert (
        results["regress/val_mae"] < 0.2
    )  # targets spread over [0.2, 2]: their mean is off by 0.45

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(InputError, match="sensor.SensorTokenizer"):
        multimodal.load(ckpt)  # the file names classes outside the registry: data, not code
    model = multimodal.load(ckpt, allow=TRUST)
    assert model.mode({"sensor": wave(0.1)}) == "regress"
    [low, high] = model.predict([{"sensor": wave(0.05)}, {"sensor": wave(0.15)}])
    assert abs(low.result - 0.5) < 0.3 and abs(high.result - 1.5) < 0.3

    inputs = "[{sensor:[" + ",".join(map(str, wave(0.15))) + "]}]"
    out = subprocess.run(
        [
            Path(sys.executable).parent / "mm-infer",
            f"ckpt={ckpt}",
            f"inputs={inputs}",
            f"trust=[{','.join(TRUST)}]",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) == pytest.approx(high.result, abs=1e-3)
