"""`look`: one mixed input read by a model with its attention recorded, and what drawing it
needs: each token's origin, each input's picture, and the weights (layers, H, T, T).

    look = look(multimodal.load("last.ckpt"), ["photo.png", "The digit is"])
    look.attention[layer, head, look.query_index("is")]   # (T,) where "is" looks

The inputs are one sample, read with the mask of the task that would answer them (as
`mm-infer` picks it; a prompt that ends in text generates, seeing its images and clips whole),
or with the mask kind given.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor

from multimodal.attention_maps import capture_attention
from multimodal.batch import collate
from multimodal.errors import InputError
from multimodal.inference import Predictor
from multimodal.inputs import Item, as_list, parse, prepare, prompt_prefix
from multimodal.layout import Token, tokens
from multimodal.masks import MASK_KINDS
from multimodal.segment import Segment


@dataclass
class Look:
    items: list[Item]  # the inputs, with their modalities and names
    segments: list[Segment]  # as prepared
    pictures: list[np.ndarray | None]  # per input: image pixels (H, W[, 3]) in [0, 1],
    #                                    log-mel (M, F), None for text
    tokens: list[Token]  # (T,) each column's origin
    attention: Tensor  # (layers, H, T, T) float32, rows sum to 1
    mask: str  # the mask kind it was read with

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, heads, tokens)."""
        return tuple(self.attention.shape[:3])

    def layer_index(self, layer: int) -> int:
        return _index(layer, self.shape[0], "layer", "layers")

    def head_index(self, head: int) -> int:
        return _index(head, self.shape[1], "head", "heads")

    def query_index(self, query: int | str | None = None) -> int:
        """A token's column: None is the last token, an int its index (negative from the end),
        a str the first text piece equal to it (spaces around it aside)."""
        T = len(self.tokens)
        if query is None:
            return T - 1
        if isinstance(query, str) and query.strip().lstrip("-").isdigit():
            query = int(query)
        if isinstance(query, int) and not isinstance(query, bool):
            return _index(query, T, "query token", "tokens")
        if isinstance(query, str):
            for tok in self.tokens:
                if tok.piece is not None and tok.piece.strip() == query.strip():
                    return tok.column
            pieces = [t.piece for t in self.tokens if t.piece is not None]
            raise InputError(f"query {query!r} is no text piece of the input; its pieces: {pieces}")
        raise InputError(f"query is {query!r}; expected a token index, a text piece or null")

    def weights(self, layer: int, head: int | None, query: int | str | None) -> Tensor:
        """(T,) where the query token looks in one layer: one head's weights or, with head
        None, their mean over heads."""
        rows = self.attention[self.layer_index(layer), :, self.query_index(query)]  # (H, T)
        return rows.mean(0) if head is None else rows[self.head_index(head)]


def short_name(item: Item) -> str:
    """How pictures name an input: a file by its name, anything else as errors name it."""
    value = item.value
    if isinstance(value, str | os.PathLike) and os.path.isfile(value):
        return os.path.basename(value)
    return item.name


def _index(value, n: int, what: str, many: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -n <= value < n:
        raise InputError(f"{what} {value!r} is out of range; there are {n} {many} (0 to {n - 1})")
    return value % n


def picture(predictor: Predictor, item: Item, seg: Segment) -> np.ndarray | None:
    """What an input looks like: an image at its own size, a clip as its log-mel."""
    if seg.modality == "image":
        pixels = predictor.model.preprocessor("image").load(item.value, item.name)  # (C, H, W)
        return pixels.permute(1, 2, 0).squeeze(-1).numpy()
    if seg.modality == "audio":
        return seg.data.numpy()
    return None


@torch.no_grad()
def look(
    predictor: Predictor,
    inputs,
    mode: str | None = None,
    head: str | None = None,
    mask: str | None = None,
) -> Look:
    """Read `inputs` (one input, or a list of them) as one sample and record the attention of
    every layer, with the mask of the task `mode` and `head` name (as for `Predictor.predict`;
    None: the task the inputs fit), or with `mask`: "causal", "bidirectional" or "prefix"."""
    model = predictor.model
    (sample,) = parse([as_list(inputs)], model.tokenizers)
    segments = [prepare(model, item) for item in sample.items]
    predictor.check_lengths([sample], [segments])
    if mask is None:
        try:
            task = predictor.task(mode, head, [sample])
        except InputError as e:
            raise InputError(f"{e}, or give the mask kind to look with") from None
        mask, prefix = task.reading(model, segments)
    elif mask not in MASK_KINDS:
        raise InputError(f"mask is {mask!r}; expected one of {MASK_KINDS} or null")
    else:
        prefix = prompt_prefix(model, segments) if mask == "prefix" else 0
    batch = collate([segments], model.preprocessors, [prefix], max_len=model.context_length)
    batch = move_data_to_device(batch, model.device)
    with capture_attention(model) as maps:
        model(batch, mask=mask)
    return Look(
        items=sample.items,
        segments=segments,
        pictures=[picture(predictor, it, s) for it, s in zip(sample.items, segments)],
        tokens=tokens(batch, model.preprocessors)[0],
        attention=torch.stack([m[0] for m in maps]).float().cpu(),  # (layers, H, T, T)
        mask=mask,
    )
