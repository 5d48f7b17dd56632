"""Attention masks from token positions: causal, bidirectional and prefix-LM, with padding.

Masks compare *positions* (the global token index), not columns, so left-padded batches and
cached decoding (queries are new tokens, keys are all tokens so far) share one rule.
True means "may attend".
"""

import torch
from torch import Tensor

from multimodal.errors import InputError

MASK_KINDS = ("causal", "bidirectional", "prefix")


def check_kind(kind: str) -> None:
    """`kind` is one of `MASK_KINDS`, or one sentence says it is not."""
    if kind not in MASK_KINDS:
        raise InputError(f"mask kind {kind!r} is unknown; expected one of {MASK_KINDS}")


def attention_mask(
    kind: str,
    q_pos: Tensor,
    k_pos: Tensor,
    k_pad: Tensor,
    prefix_len: Tensor,
    documents: Tensor | None = None,
) -> Tensor:
    """Boolean mask (B, 1, Tq, Tk).

    q_pos (B, Tq), k_pos (B, Tk): positions; k_pad (B, Tk): True at padding keys;
    prefix_len (B,), or (B, Tk) per key in packed rows: keys at positions below it are seen by
    every query (prefix-LM); documents (B, Tq = Tk): in packed rows each token's sample, which
    no other sample's tokens see.
    """
    check_kind(kind)
    visible = ~k_pad[:, None, :]  # (B, 1, Tk)
    if documents is not None:
        visible = visible & (documents[:, :, None] == documents[:, None, :])  # (B, Tq, Tk)
    if kind == "bidirectional":
        return visible[:, None].expand(-1, -1, q_pos.shape[1], -1)
    allowed = k_pos[:, None, :] <= q_pos[:, :, None]  # (B, Tq, Tk)
    if kind == "prefix":
        limit = prefix_len[:, None] if prefix_len.dim() == 1 else prefix_len  # (B, 1 | Tk)
        allowed = allowed | (k_pos < limit)[:, None, :]
    return (allowed & visible)[:, None]  # (B, 1, Tq, Tk)


def block_mask(
    kind: str,
    q_pos: Tensor,
    k_pos: Tensor,
    k_pad: Tensor,
    prefix_len: Tensor,
    documents: Tensor | None = None,
):
    """`attention_mask`'s rule as a FlexAttention `BlockMask`, which lets the flex kernel skip
    every block of keys that a block of queries cannot see (other samples of a packed row,
    the future, padding). Built once per call; the arguments are `attention_mask`'s."""
    from torch.nn.attention.flex_attention import create_block_mask

    check_kind(kind)
    limit = prefix_len[:, None].expand_as(k_pos) if prefix_len.dim() == 1 else prefix_len

    def allowed(b, h, q, k):
        ok = ~k_pad[b, k]
        if documents is not None:
            ok = ok & (documents[b, q] == documents[b, k])
        if kind == "bidirectional":
            return ok
        seen = k_pos[b, k] <= q_pos[b, q]
        if kind == "prefix":
            seen = seen | (k_pos[b, k] < limit[b, k])
        return ok & seen

    B, Tq, Tk = q_pos.shape[0], q_pos.shape[1], k_pos.shape[1]
    return create_block_mask(allowed, B, None, Tq, Tk, device=q_pos.device)


def tokens_at(x: Tensor, keep: Tensor) -> Tensor:
    """x (B, T, ...) at columns keep (B, K) -> (B, K, ...)."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], keep]


def query_rows(mask: Tensor | None, is_causal: bool, keep: Tensor, k_len: int) -> Tensor | None:
    """The mask for only the queries at columns keep (B, K): (B, 1, K, Tk), or None for none.

    `is_causal` (an unpadded batch without cache, where positions are columns) becomes an
    explicit mask, since SDPA's causal flag assumes the queries are the first columns.
    """
    if mask is not None:
        return tokens_at(mask.transpose(1, 2), keep).transpose(1, 2)
    if is_causal:
        return (torch.arange(k_len, device=keep.device) <= keep[..., None])[:, None]
    return None
