"""Inference inputs: each with its modality (`multimodal.modality`), in the samples whose
results answer them.

An input is one item; a list of inputs is one sample per input, a list inside the list one
sample of mixed parts; `joined` makes all of them one prompt. Errors call each input by its
place: "input 0 (photo.png)", "input 1 part 0".
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from multimodal.errors import InputError
from multimodal.modality import check_known, split
from multimodal.model import MultimodalModel
from multimodal.segment import Segment


@dataclass
class Item:
    modality: str
    value: object  # the raw value its tokenizer's `prepare` takes
    name: str  # how errors call it


@dataclass
class Sample:
    """The inputs that one result answers."""

    name: str  # how errors call it
    inputs: list  # as given
    items: list[Item]
    whole: bool = False  # it holds all the inputs, as one prompt


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


def item(raw, tokenizers: Mapping, name: str) -> Item:
    """One input with its modality, which must be one of `tokenizers`; errors call it `name`."""
    if isinstance(raw, str | os.PathLike) and os.path.isfile(raw):
        name = f"{name} ({raw})"
    modality, value = split(raw, name)
    check_known(modality, tokenizers, name)
    return Item(modality, value, name)


def parse(inputs, tokenizers: Mapping) -> list[Sample]:
    """Each input as a sample; a list inside the list is one sample of mixed parts."""
    samples = []
    for i, raw in enumerate(as_list(inputs)):
        if isinstance(raw, list):
            raws = as_list(raw, f"input {i} part")
            parts = [item(x, tokenizers, f"input {i} part {j}") for j, x in enumerate(raws)]
            samples.append(Sample(f"input {i}", [raw], parts))
        else:
            one = item(raw, tokenizers, f"input {i}")
            samples.append(Sample(one.name, [raw], [one]))
    return samples


def joined(samples: list[Sample]) -> list[Sample]:
    """All samples as one prompt."""
    items = [one for s in samples for one in s.items]
    inputs = [x for s in samples for x in s.inputs]
    return [Sample("the inputs", inputs, items, whole=True)]


def modalities(sample: Sample) -> list[str]:
    return [one.modality for one in sample.items]


def prompt_prefix(model: MultimodalModel, prompt: Sequence[Segment]) -> int:
    """The bidirectional prefix of a prompt, in its segments' tokens: everything through its
    last non-text segment (`collate` grows it by the boundary markers inside it)."""
    given = prefix = 0
    for seg in prompt:
        given += model.tokenizer(seg.modality).num_tokens(seg)
        if seg.modality != "text":
            prefix = given
    return prefix


def prepare(model: MultimodalModel, one: Item) -> Segment:
    """The input's segment, from the model's tokenizer for its modality."""
    try:
        return model.tokenizer(one.modality).prepare(one.value)
    except InputError as e:
        if isinstance(one.value, str) and one.modality != "text":
            raise  # the tokenizer's sentence names the file
        raise InputError(f"{one.name}: {e}") from None
