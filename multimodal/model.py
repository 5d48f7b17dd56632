"""`MultimodalModel`: tokenizers per modality, one shared transformer, heads per task.

Shapes: B batch, T tokens, D width.
"""

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from multimodal.batch import Batch, collate
from multimodal.context import Context
from multimodal.errors import InputError
from multimodal.head import Head
from multimodal.kv_cache import KVCache
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor, Tokenizer
from multimodal.transformer import Transformer


class MultimodalModel(nn.Module):
    """Embeds each modality once per batch, scatters the vectors into one sequence, runs the backbone.

    Args:
        tokenizers: modality name -> tokenizer (each outputs width `backbone.d_model`).
        backbone: the shared transformer.
        heads: task name -> head module. A `Head` whose `tie_to` names a tokenizer uses that
            tokenizer's `tied_weight()` as its `weight` (the tied LM head).
        context_length: longest sequence, in tokens, that the model accepts.
    """

    def __init__(
        self,
        tokenizers: Mapping[str, Tokenizer],
        backbone: Transformer,
        heads: Mapping[str, nn.Module] | None = None,
        context_length: int = 1024,
    ):
        super().__init__()
        for name, tok in tokenizers.items():
            if tok.d_model != backbone.d_model:
                raise InputError(
                    f"tokenizer {name!r} outputs width {tok.d_model}; the backbone expects "
                    f"{backbone.d_model}"
                )
        self.tokenizers = nn.ModuleDict(tokenizers)
        self.backbone = backbone
        self.heads = nn.ModuleDict(heads or {})
        self.context_length = context_length
        for name, head in self.heads.items():
            if isinstance(head, Head) and head.tie_to is not None:
                if head.tie_to not in self.tokenizers:
                    raise InputError(
                        f"head {name!r} is tied to tokenizer {head.tie_to!r}, which is absent"
                    )
                head.weight = self.tokenizers[head.tie_to].tied_weight()

    def tokenizer(self, modality: str) -> Tokenizer:
        if modality not in self.tokenizers:
            raise InputError(
                f"the model has no {modality!r} tokenizer; it has {list(self.tokenizers)}"
            )
        return self.tokenizers[modality]

    @property
    def preprocessors(self) -> dict[str, Preprocessor]:
        """Modality -> the CPU half of its tokenizer (`prepare`, `num_tokens`, `collate`)."""
        return {m: tok.preprocessor for m, tok in self.tokenizers.items()}

    def preprocessor(self, modality: str) -> Preprocessor:
        return self.tokenizer(modality).preprocessor

    def head(self, name: str) -> nn.Module:
        if name not in self.heads:
            raise InputError(f"the model has no {name!r} head; it has {list(self.heads)}")
        return self.heads[name]

    def collate(
        self,
        samples: Sequence[Sequence[Segment]],
        prefix_lens: Sequence[int] | None = None,
        pad_side: str = "right",
    ) -> Batch:
        """`multimodal.batch.collate` with this model's preprocessors and context length."""
        return collate(samples, self.preprocessors, prefix_lens, pad_side, self.context_length)

    def embed(self, batch: Batch) -> Tensor:
        """Each modality embedded in one call, its vectors scattered into (B, T, D), in the
        backbone's residual dtype whatever each tokenizer returns (e.g. under autocast)."""
        B, T = batch.shape
        x = None
        for m, slot in batch.slots.items():
            vecs = self.tokenizers[m](batch.inputs[m])  # (S, L, D)
            S, L = slot.shape
            if vecs.shape[0] != S or vecs.shape[1] < L:
                raise RuntimeError(
                    f"tokenizer {m!r} returned {tuple(vecs.shape)} for slots {tuple(slot.shape)}"
                )
            if x is None:  # one scratch row past the end takes the vectors past segments' ends
                x = vecs.new_zeros(B * T + 1, vecs.shape[-1], dtype=self.backbone.dtype)
            where = torch.where(slot >= 0, slot, B * T).flatten()  # no boolean index: no sync
            x = x.index_put((where,), vecs[:, :L].reshape(S * L, -1).to(x.dtype))
        return x[: B * T].view(B, T, -1)

    def forward(
        self,
        batch: Batch,
        mask: str = "causal",
        cache: KVCache | None = None,
        keep: Tensor | None = None,
    ) -> Tensor:
        """Hidden states (B, T, D) under the mask kind "causal", "bidirectional" or "prefix".

        keep (B, K): only the tokens at these columns, (B, K, D), the same values as the full
        result's; the last block computes nothing else.
        """
        x = self.embed(batch)
        ctx = Context.for_batch(batch, mask, cache, keep, self.backbone.mask_form)
        return self.backbone(x, ctx)

    def new_cache(self, batch_size: int, max_len: int) -> KVCache:
        return self.backbone.new_cache(batch_size, max_len)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
