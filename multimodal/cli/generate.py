"""`mm-generate`: sample text from a checkpoint, which rebuilds its model from the stored config."""

import hydra
from omegaconf import DictConfig

from multimodal.checkpoint import load_model
from multimodal.cli.errors import one_line_errors
from multimodal.generation import generate


def sample(cfg: DictConfig) -> list[str]:
    """The prompt followed by each sample's continuation."""
    model = load_model(cfg.ckpt, cfg.device, cfg.trust)
    text = model.tokenizer("text")
    prompt = [text.prepare(str(cfg.prompt))]
    new = generate(
        model,
        [prompt] * cfg.num_samples,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        stop_tokens=[text.eot] if cfg.stop_at_eot else [],
        seed=cfg.seed,
        use_cache=cfg.use_cache,
    )
    return [str(cfg.prompt) + text.decode(ids) for ids in new]


@hydra.main(config_path="pkg://multimodal.conf", config_name="generate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        for i, s in enumerate(sample(cfg)):
            print(f"--- sample {i} ---\n{s}")


if __name__ == "__main__":
    main()
