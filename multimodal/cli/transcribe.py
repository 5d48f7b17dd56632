"""`mm-transcribe`: print a transcript for each audio file, from a transcription checkpoint."""

from collections.abc import Sequence

import hydra
from omegaconf import DictConfig, ListConfig

from multimodal.checkpoint import load_model, read_checkpoint
from multimodal.cli.errors import one_line_errors
from multimodal.errors import InputError
from multimodal.tasks.transcription import transcribe


def trained_task(ckpt: dict, path) -> dict:
    """The transcription task settings a checkpoint was trained with."""
    task = ckpt["config"].get("task") or {}
    if not str(task.get("_target_", "")).endswith("Transcription"):
        raise InputError(f"checkpoint {path} was not trained with task=transcribe")
    return task


def run(cfg: DictConfig) -> list[tuple[str, str]]:
    """(file, transcript) for each file in `cfg.audio`."""
    audio = cfg.audio
    files: Sequence = [str(a) for a in audio] if isinstance(audio, ListConfig) else [str(audio)]
    if not files:
        raise InputError("audio is an empty list; expected at least one file")
    task = trained_task(read_checkpoint(cfg.ckpt), cfg.ckpt)
    model = load_model(cfg.ckpt, cfg.device, cfg.trust)
    texts = transcribe(
        model,
        files,
        head=cfg.head_name or task.get("head", "ar"),
        batch_size=cfg.batch_size,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        seed=cfg.seed,
        use_cache=cfg.use_cache,
        lm_head=task.get("lm_head", "lm"),
        ctc_head=task.get("ctc_head", "ctc"),
    )
    return list(zip(files, texts))


@hydra.main(config_path="pkg://multimodal.conf", config_name="transcribe", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        for path, text in run(cfg):
            print(f"{path}\t{text}")


if __name__ == "__main__":
    main()
