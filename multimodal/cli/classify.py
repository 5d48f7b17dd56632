"""`mm-classify`: print the top-k labels of a trained classifier for each image.

mm-classify ckpt=runs/<run>/checkpoints/last.ckpt images=[a.png,b.jpg] top_k=3
"""

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from multimodal.checkpoint import load_model
from multimodal.cli.errors import one_line_errors
from multimodal.errors import InputError
from multimodal.tasks.classification import classify


def run(cfg: DictConfig) -> list[list[tuple[str, float]]]:
    """Classify `cfg.images` with the checkpoint `cfg.ckpt`; print and return the top-k."""
    for key in ("ckpt", "images"):
        if OmegaConf.is_missing(cfg, key):
            raise InputError(
                f"config key {key} is not set, e.g. mm-classify ckpt=run.ckpt images=[a.png]"
            )
    images = cfg.images
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list | ListConfig) or not images:
        raise InputError("config key images must be a non-empty list of image files")
    if not isinstance(cfg.top_k, int) or cfg.top_k < 1:
        raise InputError(f"config key top_k must be a positive int, got {cfg.top_k!r}")
    model = load_model(cfg.ckpt, cfg.device, cfg.trust)
    results = classify(model, [str(p) for p in images], cfg.top_k, cfg.head_name)
    for path, top in zip(images, results):
        print(f"{path}: " + ", ".join(f"{label} {p:.3f}" for label, p in top))
    return results


@hydra.main(config_path="pkg://multimodal.conf", config_name="classify", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        run(cfg)


if __name__ == "__main__":
    main()
