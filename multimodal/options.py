"""`Options`: how inference runs, the one place for its settings (sampling, labels, batch size).

`multimodal.load(...).generate/classify/transcribe` and `mm-infer` build one; each task's
`predict` reads the fields it needs.
"""

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real

from multimodal.errors import InputError
from multimodal.generation import check_options


@dataclass(frozen=True)
class Options:
    """Args:
    max_new_tokens: most new text tokens (generation, autoregressive transcription).
    temperature: 0 is greedy; None is the task's own default (1.0 to generate, 0 to transcribe).
    top_k, top_p: sample from the k likeliest tokens / the smallest set above p.
    seed: sampling seed.
    use_cache: decode with the KV cache.
    stop_at_eot: end generated text at <|endoftext|>.
    labels: how many of the likeliest labels a classification gives.
    batch_size: samples per forward pass.
    """

    max_new_tokens: int = 64
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    use_cache: bool = True
    stop_at_eot: bool = True
    labels: int = 5
    batch_size: int = 16

    def __post_init__(self):
        """Refuse a setting of the wrong type or range, naming it."""
        counts = {"max_new_tokens": self.max_new_tokens, "labels": self.labels}
        counts |= {"batch_size": self.batch_size, "top_k": 1 if self.top_k is None else self.top_k}
        for name, value in counts.items():
            if not whole(value) or value < 1:
                raise InputError(f"{name} must be a positive int, got {value!r}")
        for name, value in (("temperature", self.temperature), ("top_p", self.top_p)):
            if value is not None and not (real(value) and math.isfinite(value)):
                raise InputError(f"{name} must be a finite number, got {value!r}")
        check_options(self.max_new_tokens, self.temperature or 0.0, self.top_k, self.top_p)
        if self.seed is not None and not (whole(self.seed) and -(2**63) <= self.seed < 2**64):
            raise InputError(f"seed must be an int in [-2**63, 2**64), got {self.seed!r}")
        for name, value in (("use_cache", self.use_cache), ("stop_at_eot", self.stop_at_eot)):
            if not isinstance(value, bool):
                raise InputError(f"{name} must be true or false, got {value!r}")

    @classmethod
    def of(cls, **settings) -> "Options":
        """Options from settings given by name; a name that is no setting is refused."""
        names = [f.name for f in fields(cls)]
        for name in settings:
            if name not in names:
                raise InputError(f"{name!r} is no inference setting; expected some of {names}")
        return cls(**settings)

    def sampling(self, temperature: float) -> dict:
        """Keyword arguments of `multimodal.generation.generate`, with `temperature` as the
        task's default."""
        return dict(
            temperature=temperature if self.temperature is None else self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=self.seed,
            use_cache=self.use_cache,
        )


def whole(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)
