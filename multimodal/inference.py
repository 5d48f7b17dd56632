"""One-call inference on a loaded model: `multimodal.load(path)` returns a `Predictor`.

    model = multimodal.load("runs/x/checkpoints/last.ckpt")   # or an exported .safetensors
    model.predict(["photo.png", "The digit is"])               # the inputs pick the task
    model.generate(["photo.png", "The digit is"], max_new_tokens=8)
    model.classify(["a.png", "b.png"], top_k=3)
    model.transcribe("clip.wav")

Inputs may be paths, strings, PIL images, tensors, arrays or `(array, sample_rate)` pairs; the
modality is told by `multimodal.modality` or named as `{"image": x}` (`multimodal.inputs`).

The predictor runs the model's tasks: those its file stores (the run config's `task` or `tasks`
entries, built through `multimodal.registry`), then, for each head, the task that reads it by
default (`Head.default_task`). It knows them only by the interface of `multimodal.tasks.task.Task`.
A task reads each input on its own (a list inside the list is one mixed sample) or all inputs
as one prompt (`one_prompt`, as generation does). Without a mode, the first task that every
sample plainly fits answers (`Task.fits`): a prompt that ends in text generates, one image with
a classifier head for images classifies, one clip with a transcription task transcribes.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from multimodal import registry
from multimodal.batch import collate
from multimodal.errors import InputError
from multimodal.export import read_model
from multimodal.head import Head
from multimodal.inputs import Sample, is_many, joined, modalities, parse, prepare
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.segment import Segment

MODES = {  # mode -> what a model needs for it, as an error names it when it is missing
    "generate": "LM head",
    "classify": "classifier head",
    "transcribe": "transcription task",
}


@dataclass
class Prediction:
    inputs: list  # the inputs it answers, as given
    mode: str  # the mode of the task that answered
    result: object  # the task's result (text, or (label, probability) pairs)
    text: str  # as one line: "<input>: <result>", or the text that follows a prompt


def load(path: str | Path, device: str | torch.device = "cpu", allow=()) -> "Predictor":
    """A `Predictor` for a Lightning checkpoint (`.ckpt`) or an `mm-export` `.safetensors` file;
    `allow`: classes (or class paths) its stored config may name beyond the registry's."""
    model, config = read_model(path, device, allow)
    return Predictor(model, config, source=f"model file {path}", allow=allow)


def stored_tasks(config: dict, source: str, allow: Iterable = ()) -> list:
    """The tasks a run config names, as training names them: each entry of `tasks`, or `task`."""
    tasks = config.get("tasks") or {}
    entries = {name: (f"tasks.{name}.task", entry.get("task")) for name, entry in tasks.items()}
    if not entries and config.get("task"):
        entries = {config["task"].get("name") or "task": ("task", config["task"])}
    built = []
    for name, (key, task) in entries.items():
        if task:
            try:
                built.append(registry.build({**task, "name": name}, key, allow))
            except InputError as e:
                raise InputError(f"{source}: {e}") from None
    return built


def default_tasks(model: MultimodalModel) -> list:
    """For each head, the task that reads it when a file stores none (`Head.default_task`)."""
    configs = {
        name: head.default_task(name)
        for name, head in model.heads.items()
        if isinstance(head, Head)
    }
    return [registry.build({**c, "name": n}, f"heads.{n}") for n, c in configs.items() if c]


class Predictor:
    """A `MultimodalModel` in eval mode, with the tasks that run its inference.

    Args:
        model: the model.
        config: the resolved run config it was trained with (its tasks come first).
        source: how errors name the model (e.g. its file).
        allow: classes (or class paths) the config's tasks may name beyond the registry's.
    """

    def __init__(
        self,
        model: MultimodalModel,
        config: dict | None = None,
        source: str = "model",
        allow: Iterable = (),
    ):
        self.model = model.eval()
        self.config = config or {}
        self.source = source
        self.tasks = stored_tasks(self.config, source, allow) + default_tasks(model)

    # --- inputs ------------------------------------------------------------------------------
    def check_lengths(self, samples: list[Sample], segments: list[list[Segment]]) -> None:
        """Each sample fits the model's context, boundary markers included (as `collate` lays
        it out); a longer one is named with its inputs' token counts."""
        batch = collate(segments, self.model.preprocessors)
        for sample, segs, n in zip(samples, segments, (~batch.padding).sum(1).tolist()):
            if n > self.model.context_length:
                counts = ", ".join(
                    f"{item.name}: {self.model.tokenizer(seg.modality).num_tokens(seg)} "
                    f"{seg.modality} tokens"
                    for item, seg in zip(sample.items, segs)
                )
                raise InputError(
                    f"{sample.name} {'are' if sample.whole else 'is'} {n} tokens long "
                    f"({counts}, with boundary markers); the model's context is "
                    f"{self.model.context_length} tokens"
                )

    # --- tasks -------------------------------------------------------------------------------
    def task(self, mode: str | None, head: str | None, samples: list[Sample]):
        """The task for `mode` (reading `head`, when given), or without a mode the first whose
        inference every sample plainly fits."""
        if head is not None and head not in self.model.heads:
            raise InputError(f"{self.source} has no {head!r} head; it has {list(self.model.heads)}")
        tasks = [t for t in self.tasks if head in (None, t.head) and mode in (None, t.mode)]
        if mode is not None and not tasks:
            named = "" if head is None else f" reading head {head!r}"
            raise InputError(
                f"{self.source} has no {MODES.get(mode, mode + ' task')}{named}; "
                f"its tasks {self.summary()}"
            )
        for task in tasks:
            seen = joined(samples) if task.one_prompt else samples
            if mode is not None or all(task.fits(self.model, modalities(s)) for s in seen):
                return task
        shown = " / ".join(" + ".join(modalities(s)) for s in samples)
        raise InputError(
            f"no task of {self.source} reads {shown} by itself; its tasks {self.summary()} "
            "(name one with mode and head)"
        )

    def summary(self) -> str:
        modes = dict.fromkeys(f"{t.mode} (head {t.head!r})" for t in self.tasks)
        return ", ".join(modes) if modes else "are none"

    def mode(self, inputs) -> str:
        """The mode `predict` picks for `inputs` when none is given."""
        return self.task(None, None, parse(inputs, self.model.tokenizers)).mode

    def predict(
        self,
        inputs,
        mode: str | None = None,
        head: str | None = None,
        options: Options | None = None,
    ) -> list[Prediction]:
        """One prediction per sample: `mode` ("generate", "classify", "transcribe"; None: as the
        inputs ask) by the task reading `head` (None: the first task of that mode)."""
        options = options or Options()
        samples = parse(inputs, self.model.tokenizers)
        task = self.task(mode, head, samples)
        if task.one_prompt:
            samples = joined(samples)
        for sample in samples:
            reason = task.refusal(self.model, modalities(sample))
            if reason is not None:
                raise InputError(f"{sample.name} {reason}")
        segments = [[prepare(self.model, item) for item in sample.items] for sample in samples]
        self.check_lengths(samples, segments)
        results = []
        for start in range(0, len(segments), options.batch_size):
            chunk = segments[start : start + options.batch_size]
            results += task.predict(self.model, chunk, options)
        return [
            Prediction(s.inputs, task.mode, r, line(s, task.show(r)))
            for s, r in zip(samples, results)
        ]

    def generate(
        self, inputs, max_new_tokens: int = 64, temperature: float = 1.0, head=None, **settings
    ) -> str:
        """The text that follows one prompt (a mixed list of inputs, or one input); `settings`:
        the other `Options` (top_k, top_p, seed, stop_at_eot, use_cache)."""
        options = Options.of(max_new_tokens=max_new_tokens, temperature=temperature, **settings)
        return self.predict(inputs, "generate", head, options)[0].result

    def classify(self, inputs, top_k: int = 5, head: str | None = None):
        """Top-k (label, probability) of one input, or a list of them for a list of inputs; a
        list inside the list is one mixed sequence, e.g. `[["a.png", "b.wav"]]`."""
        results = [p.result for p in self.predict(inputs, "classify", head, Options(labels=top_k))]
        return results if is_many(inputs) else results[0]

    def transcribe(self, audio, head: str | None = None, **settings):
        """The transcript of one clip, or a list of them, by the transcription task reading
        `head` (None: the first, as trained); `settings`: `Options` (max_new_tokens, greedy
        unless a temperature is given, ...)."""
        results = [
            p.result for p in self.predict(audio, "transcribe", head, Options.of(**settings))
        ]
        return results if is_many(audio) else results[0]


def line(sample: Sample, shown: str) -> str:
    """A result as one line of text: after the input it answers, unless it answers them all."""
    if sample.whole:
        return shown
    (raw,) = sample.inputs
    name = " + ".join(map(str, raw)) if isinstance(raw, list) else str(raw)
    return f"{name}: {shown}"
