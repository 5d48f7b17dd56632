"""`mm-export`: a checkpoint's weights as one safetensors file, its config in the metadata.

mm-export ckpt=runs/<run>/checkpoints/last.ckpt out=model.safetensors
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from multimodal.cli.errors import one_line_errors
from multimodal.errors import InputError
from multimodal.export import export


def run(cfg: DictConfig) -> Path:
    """Export `cfg.ckpt` to `cfg.out`; print and return the written path."""
    for key in ("ckpt", "out"):
        if OmegaConf.is_missing(cfg, key):
            raise InputError(
                f"config key {key} is not set, e.g. mm-export ckpt=run.ckpt out=model.safetensors"
            )
    out = export(cfg.ckpt, cfg.out, cfg.trust)
    print(f"wrote {out} (weights, and the model config in its metadata)")
    return out


@hydra.main(config_path="pkg://multimodal.conf", config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        run(cfg)


if __name__ == "__main__":
    main()
