"""`mm-train`: compose conf/train.yaml with command-line overrides and train."""

import hydra
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from multimodal.cli.errors import one_line_errors
from multimodal.train import train


@hydra.main(config_path="pkg://multimodal.conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    with one_line_errors():
        results = train(cfg)
    shown = {k: round(v, 4) for k, v in sorted(results.items()) if "_confusion_" not in k}
    if rank_zero_only.rank == 0:  # every process of a distributed run returns here
        print(shown)  # confusion-matrix cells are in the CSV and TensorBoard logs
    return results.get("val_loss")


if __name__ == "__main__":
    main()
