"""`CharVocab`: the character vocabulary of a CTC head; id 0 is the CTC blank."""

from collections.abc import Sequence

from multimodal.errors import InputError

BLANK = 0


class CharVocab:
    """Characters <-> ids 1..len(chars); `size` counts the blank too."""

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise InputError(
                f"CTC vocabulary must be a non-empty string of characters, got {chars!r}"
            )
        repeated = sorted({c for c in chars if chars.count(c) > 1})
        if repeated:
            raise InputError(f"CTC vocabulary {chars!r} repeats the characters {repeated}")
        self.chars = chars
        self.ids = {c: i + 1 for i, c in enumerate(chars)}

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` outside the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.ids))

    def encode(self, text: str, source: str = "transcript") -> list[int]:
        """Text to ids; a character outside the vocabulary raises `InputError` naming `source`."""
        bad = self.unknown(text)
        if bad:
            raise InputError(
                f"{source} has characters {bad} outside the CTC vocabulary {self.chars!r}"
            )
        return [self.ids[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text, blanks left out."""
        return "".join(self.chars[i - 1] for i in ids if i != BLANK)

    def greedy(self, ids: Sequence[int]) -> str:
        """CTC best path: collapse repeated ids, then drop blanks."""
        kept = [i for n, i in enumerate(ids) if n == 0 or i != ids[n - 1]]
        return self.decode(kept)
