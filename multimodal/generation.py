"""Autoregressive text generation over mixed prompts, with or without the KV cache.

Prompts are left-padded so every sample's next token lands in the same column; positions and
masks come from the global token index, so cached and uncached decoding see the same inputs.
"""

from collections.abc import Sequence

import torch
import torch.distributed as dist
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor

from multimodal.context import Context
from multimodal.errors import InputError
from multimodal.inference_mode import inference_mode
from multimodal.model import MultimodalModel
from multimodal.segment import Segment


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Next token ids (B,) from logits (B, V): greedy at temperature 0, else top-k/top-p sampling."""
    if temperature < torch.finfo(torch.float32).tiny:  # 0, or too small to divide by in float32
        return logits.float().argmax(dim=-1)  # float: several times faster than bfloat16 on CPU
    logits = logits.float()
    # the best token at 0 before dividing: a small temperature then gives -inf, never inf - inf
    temperature = min(temperature, torch.finfo(torch.float32).max)  # -inf / inf would be NaN
    logits = (logits - logits.amax(dim=-1, keepdim=True)) / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) > top_p  # keep the smallest set above top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def check_options(max_new_tokens, temperature, top_k, top_p) -> None:
    if max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if not temperature >= 0:  # NaN too
        raise InputError(f"temperature must be 0 (greedy) or positive, got {temperature}")
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k must be at least 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InputError(f"top_p must lie in (0, 1], got {top_p}")


def any_process(flag: bool, device: torch.device) -> bool:
    """`flag` of any process of the default process group: a collective when there are several."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    flags = torch.tensor([float(flag)], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return bool(flags.item())


def generate(
    model: MultimodalModel,
    samples: Sequence[Sequence[Segment]],
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: Sequence[int] = (),
    seed: int | None = None,
    use_cache: bool = True,
    mask: str = "causal",
    prefix_lens: Sequence[int] | None = None,
    head: str = "lm",
    lockstep: bool = False,
) -> list[list[int]]:
    """New text token ids per sample, up to `max_new_tokens`, ending before a stop token.

    samples: prompts, each an ordered list of segments of any modalities.
    mask: "causal", or "prefix" with `prefix_lens` (tokens) seen bidirectionally.
    lockstep: every process of the default process group calls this together (inside training
        or validation, where a sharded model's forward is a collective): each one takes as many
        forwards as the process that decodes longest, and a process done earlier keeps its
        result. Alone, or outside a distributed run, it changes nothing.
    """
    check_options(max_new_tokens, temperature, top_k, top_p)
    text, lm = model.tokenizer("text"), model.head(head)
    batch = model.collate(samples, prefix_lens, pad_side="left")
    B, T = batch.shape
    if T + max_new_tokens > model.context_length:
        raise InputError(
            f"the prompt ({T} tokens) plus max_new_tokens ({max_new_tokens}) exceeds the "
            f"model's context of {model.context_length} tokens"
        )
    device = model.device
    batch = move_data_to_device(batch, device)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)

    stops = torch.tensor(list(stop_tokens), dtype=torch.long, device=device)
    out = torch.zeros(B, max_new_tokens, dtype=torch.long, device=device)  # filled column by column
    done = torch.zeros(B, dtype=torch.bool, device=device)
    with inference_mode(model, prepack=True):  # on CPU: weights prepacked once for all steps
        cache = model.new_cache(B, T + max_new_tokens) if use_cache else None
        last = torch.full((B, 1), T - 1, device=device)  # left padded: every prompt's end
        hidden = model(batch, mask=mask, cache=cache, keep=last)  # (B, 1, D)
        positions = batch.positions[:, -1:]  # (B, 1) last prompt token of each sample
        no_pad = torch.zeros(B, 1, dtype=torch.bool, device=device)
        n = 0  # columns of `out` written so far
        while True:
            token = sample_next(lm(hidden[:, -1]), temperature, top_k, top_p, generator)  # (B,)
            out[:, n] = token
            n += 1
            if len(stops):
                done |= torch.isin(token, stops)
            decoding = n < max_new_tokens and not (len(stops) and bool(done.all()))
            anyone = any_process(decoding, device) if lockstep else decoding
            if not decoding:
                break
            positions = positions + 1
            if use_cache:
                x = text({"ids": token[:, None]})  # (B, 1, D)
                ctx = Context.for_tokens(positions, no_pad, batch.prefix_len, mask, cache)
                hidden = model.backbone(x, ctx)
            else:
                grown = [[*s, Segment("text", ids.cpu())] for s, ids in zip(samples, out[:, :n])]
                again = move_data_to_device(model.collate(grown, prefix_lens, "left"), device)
                hidden = model(again, mask=mask, keep=last + n)  # (B, 1, D)
        while anyone:  # done here while another process decodes: a forward for each of its steps
            x = text({"ids": token[:, None]})  # (B, 1, D)
            model.backbone(x, Context.for_tokens(positions, no_pad, batch.prefix_len, mask))
            anyone = any_process(False, device)
    return [_until_stop(row.tolist(), set(stop_tokens)) for row in out[:, :n]]


def _until_stop(ids: list[int], stops: set[int]) -> list[int]:
    for i, t in enumerate(ids):
        if t in stops:
            return ids[:i]
    return ids
