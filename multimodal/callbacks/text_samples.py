"""`TextSamples`: print what the language model writes before and after training."""

import pytorch_lightning as pl

from multimodal.generation import generate


class TextSamples(pl.Callback):
    """Samples a continuation of each prompt at the start and at the end of fitting.

    Every process generates (a sharded model's forward needs all of them) with the same prompts
    and seed; rank 0 prints and keeps what it wrote in `printed`.
    """

    def __init__(
        self,
        prompts: list[str],
        max_new_tokens: int = 60,
        temperature: float = 0.8,
        top_k: int | None = 50,
        top_p: float | None = None,
        seed: int = 0,
        head: str = "lm",
    ):
        self.prompts, self.max_new_tokens, self.head = list(prompts), max_new_tokens, head
        self.options = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}
        self.printed: dict[str, list[str]] = {}

    def samples(self, model) -> list[str]:
        text = model.tokenizer("text")
        prompts = [[text.prepare(p)] for p in self.prompts]
        new = generate(
            model, prompts, self.max_new_tokens, head=self.head, lockstep=True, **self.options
        )
        return [p + text.decode(ids) for p, ids in zip(self.prompts, new)]

    def show(self, trainer, pl_module, when: str) -> None:
        samples = self.samples(pl_module.model)
        if trainer.is_global_zero:
            self.printed[when] = samples
            print(f"\n--- samples {when} training ---")
            for s in samples:
                print(s.strip() + "\n")

    def on_fit_start(self, trainer, pl_module) -> None:
        self.show(trainer, pl_module, "before")

    def on_fit_end(self, trainer, pl_module) -> None:
        self.show(trainer, pl_module, "after")
