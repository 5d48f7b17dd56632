"""`mm-infer`: generate, classify or transcribe with a model file, printing text or JSON lines.

mm-infer ckpt=runs/<run>/checkpoints/last.ckpt inputs=[photo.png,"The digit is"] output=json

Without `mode`, the inputs pick the task (`multimodal.inference`); every setting of how it runs
is one field of `multimodal.options.Options`.
"""

import json
from dataclasses import asdict, fields

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from multimodal.cli.errors import one_line_errors
from multimodal.errors import InputError
from multimodal.inference import MODES, Prediction, load
from multimodal.options import Options

OUTPUTS = ("text", "json")


def input_list(cfg: DictConfig) -> list:
    """`cfg.inputs` as plain values: strings, or one-key mappings naming a modality."""
    raw = cfg.inputs
    raw = OmegaConf.to_container(raw) if isinstance(raw, ListConfig | DictConfig) else raw
    raws = raw if isinstance(raw, list) else [raw]
    if not raws:
        raise InputError("config key inputs is an empty list; expected at least one input")
    out = []
    for i, x in enumerate(raws):
        if x is None:
            raise InputError(f"config key inputs[{i}] is null; expected a file, text or a mapping")
        out.append(x if isinstance(x, str | dict | list) else str(x))
    return out


def check(cfg: DictConfig) -> None:
    for key in ("ckpt", "inputs"):
        if OmegaConf.is_missing(cfg, key):
            raise InputError(
                f"config key {key} is not set, e.g. mm-infer ckpt=run.ckpt inputs=[a.png,'Hello']"
            )
    if cfg.mode is not None and cfg.mode not in MODES:
        raise InputError(f"config key mode is {cfg.mode!r}; expected one of {tuple(MODES)} or null")
    if cfg.output not in OUTPUTS:
        raise InputError(f"config key output is {cfg.output!r}; expected one of {OUTPUTS}")


def options(cfg: DictConfig) -> Options:
    """The config's settings of how inference runs, one key per `Options` field."""
    try:
        return Options(**{f.name: cfg[f.name] for f in fields(Options)})
    except InputError as e:
        raise InputError(f"config key {e}") from None


def plain(value):
    """A result as JSON data: named tuples (a label and its probability) become mappings."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def record(prediction: Prediction) -> dict:
    """{"inputs", "mode", "result"}: one JSON line of output."""
    return plain({k: v for k, v in asdict(prediction).items() if k != "text"})


def run(cfg: DictConfig) -> list[dict]:
    """Load `cfg.ckpt`, run `cfg.mode` on `cfg.inputs`, print each result; return the records."""
    check(cfg)
    inputs, settings = input_list(cfg), options(cfg)
    predictor = load(cfg.ckpt, cfg.device, cfg.trust)
    predictions = predictor.predict(inputs, cfg.mode, cfg.head_name, settings)
    for prediction in predictions:
        print(json.dumps(record(prediction)) if cfg.output == "json" else prediction.text)
    return [record(p) for p in predictions]


@hydra.main(config_path="pkg://multimodal.conf", config_name="infer", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        run(cfg)


if __name__ == "__main__":
    main()
