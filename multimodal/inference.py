"""One-call inference on a loaded model: `multimodal.load(path)` returns a `Predictor`.

    model = multimodal.load("runs/x/checkpoints/last.ckpt")   # or an exported .safetensors
    model.generate(["photo.png", "The digit is"], max_new_tokens=8)
    model.classify(["a.png", "b.png"], top_k=3)
    model.transcribe("clip.wav")

Inputs may be paths, strings, PIL images, tensors, arrays or `(array, sample_rate)` pairs; the
modality is told by `multimodal.modality` or named as `{"image": x}`. A generation prompt is laid
out as the training tasks lay out their samples: `collate` puts each image or audio input between
its `<|begin_...|>` / `<|end_...|>` markers, and everything up to the last non-text input's end
marker is a bidirectional prefix; the text after it is causal.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from pytorch_lightning.utilities import move_data_to_device

from multimodal.batch import with_markers
from multimodal.errors import InputError
from multimodal.export import read_model
from multimodal.generation import generate
from multimodal.modality import check_known, split
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tasks.classification import check_pooling
from multimodal.tasks.classifier_head import ClassifierHead
from multimodal.tasks.ctc_head import CTCHead
from multimodal.tasks.transcription import check_head, transcribe

Item = tuple[str, object, str]  # (modality, raw value for its tokenizer, name used in errors)


def load(path: str | Path, device: str | torch.device = "cpu", allow=()) -> "Predictor":
    """A `Predictor` for a Lightning checkpoint (`.ckpt`) or an `mm-export` `.safetensors` file;
    `allow`: classes (or class paths) its stored config may name beyond the registry's."""
    model, config = read_model(path, device, allow)
    return Predictor(model, config, source=f"model file {path}")


def is_many(inputs) -> bool:
    """A list (or a tuple that is not an `(array, sample_rate)` pair) holds several inputs."""
    if isinstance(inputs, tuple):
        return not (len(inputs) == 2 and isinstance(inputs[1], int))
    return isinstance(inputs, list)


def as_list(inputs, name: str = "input") -> list:
    """One input or a list of them, as a list; an empty list is refused, naming "<name>s"."""
    raws = list(inputs) if is_many(inputs) else [inputs]
    if not raws:
        raise InputError(f"{name}s is an empty list; expected at least one input")
    return raws


class Predictor:
    """A `MultimodalModel` in eval mode with the config it was trained with.

    Args:
        model: the model.
        config: the resolved run config (its "task" picks the transcription head by default).
        source: how errors name the model (e.g. its file).
    """

    def __init__(self, model: MultimodalModel, config: dict | None = None, source: str = "model"):
        self.model = model.eval()
        self.config = config or {}
        self.source = source

    # --- inputs ------------------------------------------------------------------------------
    def items(self, inputs, name: str = "input", start: int = 0) -> list[Item]:
        """One input or a list of them, each with its modality; checked against the model.
        Errors call them "<name> <start + index>"."""
        items = []
        for i, raw in enumerate(as_list(inputs, name)):
            where = f"{name} {start + i}"
            if isinstance(raw, str | os.PathLike) and os.path.isfile(raw):
                where = f"{where} ({raw})"
            modality, value = split(raw, where)
            check_known(modality, self.model.tokenizers, where)
            items.append((modality, value, where))
        return items

    def prepare(self, item: Item) -> Segment:
        modality, value, name = item
        try:
            return self.model.tokenizer(modality).prepare(value)
        except InputError as e:
            if isinstance(value, str) and modality != "text":
                raise  # the tokenizer's sentence names the file
            raise InputError(f"{name}: {e}") from None

    def sequence(self, items: Sequence[Item]) -> tuple[list[Segment], int]:
        """A generation prompt's segments and its bidirectional prefix length in their tokens
        (`collate` adds the boundary markers and grows the prefix by those inside it)."""
        segments, prefix_len, given, total, counts = [], 0, 0, 0, []
        tokenizers = self.model.tokenizers
        text = tokenizers["text"] if "text" in tokenizers else None
        for item in items:
            modality = item[0]
            seg = self.prepare(item)
            n = self.model.tokenizer(modality).num_tokens(seg)
            segments.append(seg)
            given += n
            if modality != "text":
                prefix_len = given
            total += n + len(with_markers(seg, text)) - 1  # as `collate` lays it out
            counts.append(f"{item[2]}: {n} {modality} tokens")
        if total > self.model.context_length:
            raise InputError(
                f"the inputs are {total} tokens long ({', '.join(counts)}, with boundary "
                f"markers); the model's context is {self.model.context_length} tokens"
            )
        return segments, prefix_len

    def head(self, name: str, kind: type | None = None):
        if name not in self.model.heads:
            raise InputError(f"{self.source} has no {name!r} head; it has {list(self.model.heads)}")
        head = self.model.heads[name]
        if kind is not None and not isinstance(head, kind):
            raise InputError(f"head {name!r} of {self.source} is a {type(head).__name__}")
        return head

    def heads_of(self, kind: type) -> list[str]:
        return [name for name, h in self.model.heads.items() if isinstance(h, kind)]

    # --- tasks -------------------------------------------------------------------------------
    def default_mode(self) -> str:
        """classify with a classifier head; transcribe with a CTC head or an audio tokenizer;
        generate otherwise."""
        if self.heads_of(ClassifierHead):
            return "classify"
        if self.heads_of(CTCHead) or "audio" in self.model.tokenizers:
            return "transcribe"
        return "generate"

    @torch.no_grad()
    def generate(
        self,
        inputs,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_at_eot: bool = True,
        head: str = "lm",
        use_cache: bool = True,
    ) -> str:
        """The text that follows one prompt (a mixed list of inputs, or one input)."""
        if "text" not in self.model.tokenizers:
            raise InputError(f"{self.source} has no text tokenizer, so it cannot generate text")
        self.head(head)
        segments, prefix_len = self.sequence(self.items(inputs))
        text = self.model.tokenizers["text"]
        ids = generate(
            self.model,
            [segments],
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            stop_tokens=[text.eot] if stop_at_eot else [],
            seed=seed,
            use_cache=use_cache,
            mask="prefix" if prefix_len else "causal",
            prefix_lens=[prefix_len] if prefix_len else None,
            head=head,
        )[0]
        return text.decode(ids)

    @torch.no_grad()
    def classify(self, inputs, top_k: int = 5, head: str | None = None):
        """Top-k (label, probability) of one input, or a list of them for a list of inputs; a
        list inside the list is one mixed sequence, e.g. `[["a.png", "b.wav"]]`."""
        if head is None:
            found = self.heads_of(ClassifierHead)
            if not found:
                raise InputError(
                    f"{self.source} has no classifier head; it has {list(self.model.heads)}"
                )
            head = found[0]
        clf = self.head(head, ClassifierHead)
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        samples = []
        for i, raw in enumerate(as_list(inputs)):  # a list inside the list is one mixed sequence
            group = isinstance(raw, list)
            items = self.items(raw, f"input {i} part") if group else self.items([raw], start=i)
            modalities = [modality for modality, _, _ in items]
            if clf.modality not in modalities:
                name = f"input {i}" if group else items[0][2]
                raise InputError(
                    f"{name} holds {', '.join(modalities)}; head {head!r} classifies {clf.modality}"
                )
            samples.append([self.prepare(item) for item in items])
        batch = self.model.collate(samples)
        batch = move_data_to_device(batch, self.model.device)
        check_pooling(self.model, clf)
        probs = clf.logits(self.model, batch).float().softmax(-1)  # (B, K)
        top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
        results = [
            [(clf.label(i), p) for i, p in zip(idx.tolist(), val.tolist())]
            for idx, val in zip(top.indices, top.values)
        ]
        return results if is_many(inputs) else results[0]

    def transcription_heads(self) -> tuple[str, str, str]:
        """(kind, lm head, ctc head) the checkpoint was trained with, else what the model has."""
        tasks = [self.config.get("task") or {}]
        tasks += [entry.get("task") or {} for entry in (self.config.get("tasks") or {}).values()]
        for task in tasks:
            if str(task.get("_target_", "")).endswith("Transcription"):
                return (
                    task.get("head", "ar"),
                    task.get("lm_head", "lm"),
                    task.get("ctc_head", "ctc"),
                )
        ctc = self.heads_of(CTCHead)
        return ("ctc" if ctc else "ar"), "lm", (ctc[0] if ctc else "ctc")

    def transcribe(
        self,
        audio,
        head: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        batch_size: int = 16,
    ):
        """The transcript of one clip, or a list of them; `head` is "ar" or "ctc"."""
        kind, lm_head, ctc_head = self.transcription_heads()
        kind = head or kind
        check_head(kind)
        self.head(lm_head if kind == "ar" else ctc_head)
        items = self.items(audio)
        for modality, _, name in items:
            if modality != "audio":
                raise InputError(f"{name} holds {modality}; transcription takes audio")
        texts = transcribe(
            self.model,
            [value for _, value, _ in items],
            head=kind,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            lm_head=lm_head,
            ctc_head=ctc_head,
        )
        return texts if is_many(audio) else texts[0]
