"""`mm-train`: compose conf/train.yaml with command-line overrides and train."""

import sys

import hydra
from omegaconf import DictConfig

from multimodal.errors import InputError
from multimodal.train import train


@hydra.main(config_path="pkg://multimodal.conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    try:
        results = train(cfg)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    shown = {k: round(v, 4) for k, v in sorted(results.items()) if "_confusion_" not in k}
    print(shown)  # confusion-matrix cells are in the CSV and TensorBoard logs
    return results.get("val_loss")


if __name__ == "__main__":
    main()
