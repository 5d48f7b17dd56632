"""`TextPreprocessor`: text to byte-level BPE (tiktoken) ids, ids back to text, and their batch.

Shapes: S text segments in a batch, L ids in the longest.

What `prepare` takes: a non-empty str, or token ids as a list or tuple of ints, or a 1-D integer
tensor or numpy array, every id in [0, vocab_size). Anything else (None, bytes, bools, floats,
nested lists, 2-D tensors, ids out of range, ...) raises one `InputError`; nothing is truncated,
rounded or flattened.
Any str is text: NUL and other control characters are ordinary characters with their own ids.
Rule for surrogates (a str that is not valid UTF-8): tiktoken reads the str as UTF-16, so a high
surrogate followed by a low one becomes the character the pair encodes and every lone surrogate
becomes U+FFFD; `decode(encode(s))` equals `s` after that replacement, and `s` itself otherwise.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import tiktoken
import torch
from torch import Tensor, nn

from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor
from multimodal.tokenizers.vocab import ENDOFTEXT, export_vocab, load_encoding, tiktoken_panics

BATCH_CHARS_PER_TEXT = 16_384  # mean text length from which encode_batch uses threads


class TextPreprocessor(Preprocessor):
    """str <-> BPE ids.

    Args:
        vocab: a rank file path, a named vocabulary ("gpt2", "cl100k_base", "o200k_base"), or
            an inline mapping made by `vocab.export_vocab`.
        encoding: a ready `tiktoken.Encoding` instead of `vocab`.
    """

    modality = "text"

    def __init__(
        self, vocab: str | Mapping | None = None, encoding: tiktoken.Encoding | None = None
    ):
        if (vocab is None) == (encoding is None):
            raise InputError("text tokenizer needs exactly one of 'vocab' or 'encoding'")
        self.encoding = encoding if encoding is not None else load_encoding(vocab)
        self.vocab_size = self.encoding.n_vocab

    def portable_config(self) -> dict:
        """The vocabulary inline, so a checkpoint rebuilds this tokenizer with no other file."""
        return {"vocab": export_vocab(self.encoding)}

    # --- ids <-> text ---------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Text to ids; special-token strings in `text` are encoded as ordinary text."""
        return self.encoding.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` of each text. Short texts go one by one in this thread (tiktoken's thread
        pool costs more per text than encoding a paragraph); long ones go to that pool."""
        texts = list(texts)
        if sum(map(len, texts)) < BATCH_CHARS_PER_TEXT * len(texts):
            encode = self.encoding.encode_ordinary
            return [encode(t) for t in texts]
        return self.encoding.encode_ordinary_batch(texts)

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return self.encoding.decode(ids)

    def special(self, name: str) -> int:
        """Id of a special token such as "<|endoftext|>" or "<|begin_image|>"."""
        try:
            return self.encoding._special_tokens[name]
        except KeyError:
            known = sorted(self.encoding.special_tokens_set)
            raise InputError(f"special token {name!r} is unknown; known: {known}") from None

    def markers(self, modality: str) -> tuple[int, int] | None:
        """Ids of `<|begin_<modality>|>` and `<|end_<modality>|>`, or None if either is absent."""
        specials = self.encoding._special_tokens
        begin, end = f"<|begin_{modality}|>", f"<|end_{modality}|>"
        if modality == self.modality or begin not in specials or end not in specials:
            return None
        return specials[begin], specials[end]

    @property
    def eot(self) -> int:
        return self.special(ENDOFTEXT)

    # --- the Preprocessor protocol --------------------------------------------------------
    def prepare(self, raw: str | Sequence[int] | Tensor | np.ndarray) -> Segment:
        """A string, or token ids (see the module docstring), to a segment of int64 ids (N,)."""
        if not isinstance(raw, str):
            return Segment("text", token_ids(raw, self.vocab_size), {})
        if not raw:
            raise InputError("text input is empty; expected at least one character")
        with tiktoken_panics("text input cannot be split by the vocabulary's 'pattern'"):
            ids = self.encode(raw)
        if not ids:
            raise InputError("text input gives no tokens: the vocabulary's 'pattern' skips it")
        return Segment("text", torch.tensor(ids, dtype=torch.long), {})

    def num_tokens(self, seg: Segment) -> int:
        return seg.data.numel()

    def collate(self, segs: list[Segment]) -> dict[str, Tensor]:
        ids = nn.utils.rnn.pad_sequence([s.data for s in segs], batch_first=True)  # (S, L)
        return {"ids": ids}

    def piece(self, token_id: int) -> str:
        """One token's bytes as text; bytes that are part of a longer character read as \\xNN."""
        return self.encoding.decode_single_token_bytes(token_id).decode("utf-8", "backslashreplace")

    def describe(self, meta: dict, collated: dict[str, Tensor], row: int, count: int) -> list:
        """Each token's text piece; a boundary marker is kind "marker"."""
        kind = "marker" if meta.get("marker") else "text"
        pieces = [self.piece(i) for i in collated["ids"][row, :count].tolist()]
        return [{"kind": kind, "label": p, "piece": p} for p in pieces]


def token_ids(raw, vocab_size: int) -> Tensor:
    """Token ids given as a list or tuple of ints, or a 1-D integer tensor or numpy array, as
    int64 (N,), each checked to lie in [0, vocab_size); anything else raises `InputError`."""
    expected = (
        "expected a non-empty string, or a list or 1-D tensor of integer token ids in "
        f"[0, {vocab_size})"
    )
    if isinstance(raw, (list, tuple)):
        for i, x in enumerate(raw):
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
                raise InputError(f"text input item {i} is a {type(x).__name__}; {expected}")
            if not 0 <= x < vocab_size:
                raise InputError(f"text token ids must lie in [0, {vocab_size}); item {i} does not")
        ids = torch.tensor([int(x) for x in raw], dtype=torch.long)
    elif isinstance(raw, (Tensor, np.ndarray)):
        ids = _array_ids(raw, expected)
        if ids.numel() and not bool(((ids >= 0) & (ids < vocab_size)).all()):
            raise InputError(f"text token ids must lie in [0, {vocab_size})")
    else:
        raise InputError(f"text input of type {type(raw).__name__} is not supported; {expected}")
    if ids.numel() == 0:
        raise InputError("text input has no token ids; expected at least one")
    return ids


def _array_ids(raw: Tensor | np.ndarray, expected: str) -> Tensor:
    """A 1-D integer tensor or array as int64; uint64 ids past 2**63 become negative, so the
    range check that follows refuses them."""
    if isinstance(raw, np.ndarray):
        integer = raw.dtype.kind in "iu"
        kind = f"{raw.ndim}-D {raw.dtype} numpy array"
        raw = torch.from_numpy(raw.astype(np.int64)) if integer and raw.ndim == 1 else raw
    else:
        plain = raw.layout == torch.strided and not raw.is_nested and raw.device.type != "meta"
        integer = plain and not raw.is_floating_point() and not raw.is_complex()
        integer = integer and raw.dtype != torch.bool and not raw.is_quantized
        kind = f"{raw.ndim}-D {raw.dtype} tensor"
        kind += "" if plain else f" ({'nested' if raw.is_nested else raw.layout}, {raw.device})"
    if not integer or raw.ndim != 1:
        raise InputError(f"text input is a {kind}; {expected}")
    return raw.detach().to(torch.long)


def clean_text(text: str) -> str:
    """What `decode(encode(text))` gives: surrogate pairs joined, lone surrogates as U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
