"""`mm-viz`: pictures of what a model's tokenizers made of mixed inputs and where it attends,
and one self-contained page to explore them.

mm-viz ckpt=runs/<run>/checkpoints/last.ckpt inputs=[photo.png,"The digit is"] out=viz/
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from multimodal.cli.errors import one_line_errors
from multimodal.cli.infer import input_list
from multimodal.errors import InputError
from multimodal.inference import load
from multimodal.viz.look import look, short_name
from multimodal.viz.write import write_all


def run(cfg: DictConfig) -> list:
    """Load `cfg.ckpt`, read `cfg.inputs` as one sample, write the pictures and page to
    `cfg.out`; print and return their paths."""
    for key in ("ckpt", "inputs", "out"):
        if OmegaConf.is_missing(cfg, key):
            raise InputError(
                f"config key {key} is not set, e.g. mm-viz ckpt=run.ckpt "
                "inputs=[a.png,'The digit is'] out=viz"
            )
    predictor = load(cfg.ckpt, cfg.device, cfg.trust)
    seen = look(predictor, input_list(cfg), cfg.mode, cfg.head_name, cfg.mask)
    title = cfg.title or " + ".join(short_name(item) for item in seen.items)
    paths = write_all(seen, cfg.out, cfg.layer, cfg.attention_head, cfg.query, title)
    query = seen.tokens[seen.query_index(cfg.query)]
    print(f"{len(paths) - 1} pictures in {cfg.out}; the page: {paths[-1]}")
    print(f"where token {query.column} ({query.label!r}) looks, last layer: {paths[-2]}")
    return paths


@hydra.main(config_path="pkg://multimodal.conf", config_name="viz", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        run(cfg)


if __name__ == "__main__":
    main()
