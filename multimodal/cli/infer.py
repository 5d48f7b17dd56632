"""`mm-infer`: generate, classify or transcribe from a checkpoint, printing text or JSON lines.

mm-infer ckpt=runs/<run>/checkpoints/last.ckpt inputs=[photo.png,"The digit is"] output=json
"""

import json

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from multimodal.cli.errors import one_line_errors
from multimodal.errors import InputError
from multimodal.inference import Predictor, load

MODES = ("generate", "classify", "transcribe")
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
        raise InputError(f"config key mode is {cfg.mode!r}; expected one of {MODES} or null")
    if cfg.output not in OUTPUTS:
        raise InputError(f"config key output is {cfg.output!r}; expected one of {OUTPUTS}")
    if not isinstance(cfg.labels, int) or cfg.labels < 1:
        raise InputError(f"config key labels must be a positive int, got {cfg.labels!r}")


def predict(model: Predictor, cfg: DictConfig, inputs: list) -> list[dict]:
    """One record {"inputs", "mode", "result"} per input set."""
    mode = cfg.mode or model.default_mode()
    sampling = dict(top_k=cfg.top_k, top_p=cfg.top_p, seed=cfg.seed)
    if mode == "generate":
        text = model.generate(
            inputs,
            cfg.max_new_tokens,
            temperature=1.0 if cfg.temperature is None else cfg.temperature,
            head=cfg.head_name or "lm",
            **sampling,
        )
        return [{"inputs": inputs, "mode": mode, "result": text}]
    if mode == "classify":
        tops = model.classify(inputs, cfg.labels, head=cfg.head_name)
        results = [[{"label": label, "probability": p} for label, p in top] for top in tops]
    else:
        results = model.transcribe(
            inputs,
            head=cfg.head_name,
            max_new_tokens=cfg.max_new_tokens,
            temperature=0.0 if cfg.temperature is None else cfg.temperature,
            **sampling,
        )
    return [{"inputs": [x], "mode": mode, "result": r} for x, r in zip(inputs, results)]


def line(record: dict, output: str) -> str:
    if output == "json":
        return json.dumps(record)
    result = record["result"]
    if record["mode"] == "generate":
        return result
    name = record["inputs"][0]
    if isinstance(name, list):  # one mixed sequence
        name = " + ".join(map(str, name))
    if record["mode"] == "classify":
        return f"{name}: " + ", ".join(f"{r['label']} {r['probability']:.3f}" for r in result)
    return f"{name}\t{result}"


def run(cfg: DictConfig) -> list[dict]:
    """Load `cfg.ckpt`, run `cfg.mode` on `cfg.inputs`, print each record; return the records."""
    check(cfg)
    inputs = input_list(cfg)
    records = predict(load(cfg.ckpt, cfg.device, cfg.trust), cfg, inputs)
    for record in records:
        print(line(record, cfg.output))
    return records


@hydra.main(config_path="pkg://multimodal.conf", config_name="infer", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        run(cfg)


if __name__ == "__main__":
    main()
