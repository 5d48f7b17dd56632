"""`Context`: the state of one forward call, read by every layer.

Shapes: B batch, T tokens of this call, Tk keys (T, or every cached token), K kept columns,
hd head width.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from multimodal.kv_cache import KVCache
from multimodal.masks import attention_mask, block_mask, check_kind, query_rows

if TYPE_CHECKING:
    from multimodal.batch import Batch


@dataclass(slots=True)
class Context:
    """One call's mask, positions, cache and kept columns; the backbone adds rotations and the
    index of the block that reads it. Layers read it and never change it.

    Args:
        positions: (B, T) global index of each token.
        mask: (B, 1, T, Tk) bool, True where a query may attend to a key, or the same as a
            FlexAttention `BlockMask`; None for none.
        is_causal: SDPA's causal flag (an unpadded batch without cache: positions are columns).
        cache: keys and values of earlier calls, updated by each layer.
        keep: (B, K) the columns whose outputs are wanted; the last block computes only these.
        rotations: (B, T, 1, 1, hd / 2) from `Rotary`, or None for no rotary positions.
        layer: index of the block reading this context (its slot in the cache).
        rule: with a `BlockMask`, `attention_mask`'s arguments, for the kept queries' rows.
    """

    positions: Tensor
    mask: Tensor | None = None
    is_causal: bool = False
    cache: KVCache | None = None
    keep: Tensor | None = None
    rotations: Tensor | None = None
    layer: int = 0
    rule: tuple | None = None

    @classmethod
    def for_batch(
        cls,
        batch: "Batch",
        mask: str = "causal",
        cache: KVCache | None = None,
        keep: Tensor | None = None,
        form: str = "dense",
    ) -> "Context":
        """`for_tokens` over a batch: its positions, padding and prefixes, its packed rows'
        documents, and what `collate` knew on the host (padded, prefixed)."""
        return cls.for_tokens(
            batch.positions,
            batch.padding,
            batch.prefix_len,
            mask,
            cache,
            keep,
            batch.documents,
            batch.padded,
            batch.prefixed,
            form,
        )

    @classmethod
    def for_tokens(
        cls,
        positions: Tensor,
        padding: Tensor,
        prefix_len: Tensor,
        mask: str = "causal",
        cache: KVCache | None = None,
        keep: Tensor | None = None,
        documents: Tensor | None = None,
        padded: bool | None = None,
        prefixed: bool | None = None,
        form: str = "dense",
    ) -> "Context":
        """The context of one call over tokens at `positions` with `padding` (B, T) under the
        mask kind "causal", "bidirectional" or "prefix" (`prefix_len` tokens seen by all);
        with a cache, the tokens are recorded in it and the keys are every token so far.

        The mask takes the cheapest form the kernel accepts: none, SDPA's causal flag, or a
        dense bool mask (padding, prefixes, packed `documents`), or with `form` "block" a
        FlexAttention `BlockMask` in its place (not with a cache). `padded` and `prefixed` say,
        from the host, whether any key is padding and any sample has a prefix (`collate` knows);
        None looks at the tensors, which waits for the device."""
        check_kind(mask)
        if cache is None:
            k_pos, k_pad = positions, padding
        else:
            k_pos, k_pad = cache.advance(positions, padding)  # (B, Tk) each
            padded = None  # the cache's keys may hold earlier padding
        if padded is None:
            padded = bool(k_pad.any())
        if mask == "prefix" and prefixed is None:
            prefixed = bool(prefix_len.any())
        attn_mask, is_causal, rule = None, False, None
        plain = documents is None and not padded and not (mask == "prefix" and prefixed)
        if cache is None and plain:
            is_causal = mask != "bidirectional"  # unpadded: positions are the column index
        elif form == "block" and cache is None:
            rule = (mask, positions, k_pos, k_pad, prefix_len, documents)
            attn_mask = block_mask(*rule)
        elif not (plain and positions.shape[1] == 1):  # one new token over clean keys sees all
            attn_mask = attention_mask(mask, positions, k_pos, k_pad, prefix_len, documents)
        return cls(positions, attn_mask, is_causal, cache, keep, rule=rule)

    def for_block(self, layer: int, rotations: Tensor | None, last: bool) -> "Context":
        """The context block `layer` reads: with rotations, and `keep` only in the last block,
        whose mask then holds only the kept queries' rows."""
        if not last or self.keep is None:
            return Context(
                self.positions,
                self.mask,
                self.is_causal,
                self.cache,
                None,
                rotations,
                layer,
                self.rule,
            )
        # is_causal comes only without a cache, where the keys are this call's T tokens
        dense = self.mask if self.rule is None else attention_mask(*self.rule)
        mask = query_rows(dense, self.is_causal, self.keep, self.positions.shape[1])
        return Context(self.positions, mask, False, self.cache, self.keep, rotations, layer)
