"""The measurements of bench/gpu.py, one function per kind of row; each returns records
(`common.record`) of ours against a peer, timed alternately by `common.measure`.

Shapes: B batch, T tokens per row, Tk keys.
"""

import copy
from dataclasses import dataclass

import bench_lm
import bench_vit
import torch
import torch.nn.functional as F
from common import lm_flops_per_token, measure, record
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor, nn

from multimodal.attention_kernels import Kernel, flex, sdpa, softmax
from multimodal.example import Example
from multimodal.generation import generate
from multimodal.segment import Segment
from multimodal.tasks.classification import Classification
from multimodal.tasks.language_modeling import LanguageModeling
from multimodal.transformer import count_parameters

PEER = "transformers GPT2LMHeadModel (eager)"


def dense_mask(kernel: Kernel) -> Kernel:
    """`kernel` given SDPA's causal flag as an explicit (B, 1, T, Tk) boolean mask instead."""

    def attend(q, k, v, mask, is_causal, dropout):
        if is_causal:
            B, T, Tk = q.shape[0], q.shape[2], k.shape[2]
            causal = torch.ones(T, Tk, dtype=torch.bool, device=q.device).tril()
            mask = causal.expand(B, 1, T, Tk).contiguous()  # (B, 1, T, Tk)
        return kernel(q, k, v, mask, False, dropout)

    return attend


FORMS = {"sdpa-causal": sdpa, "sdpa-dense": dense_mask(sdpa), "softmax": softmax}
# packed rows read one more form, FlexAttention block masks (`lm_padded`)


@dataclass
class Scale:
    """How big and how long: the GPU run, or the dry run's tiny models on CPU."""

    device: str
    presets: dict[str, tuple[int, int, int, int]]  # name -> (layers, width, heads, context)
    tokens_per_step: int  # LM training batch, B x T
    warmup: int
    repeats: int
    prompt: int  # generation: prompt tokens, then new tokens
    new_tokens: int
    images: int  # ViT-Tiny batch


def bf16(loss_fn, device: str):
    """`loss_fn` under bf16 autocast; backward then runs outside it, as in "bf16-mixed"."""

    def call():
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            return loss_fn()

    return call


def lm_models(shape, enc, device: str) -> tuple[nn.Module, nn.Module]:
    """Ours and GPT-2 at `shape`, on `device`, with bench_lm's vocabulary."""
    layers, width, heads, context = shape
    ours = bench_lm.ours_model(layers, width, heads, enc)
    ours.context_length = context
    peer = bench_lm.peer_model(layers, width, heads)
    if context > peer.config.n_positions:  # bench_lm sizes it for its generation
        peer.transformer.wpe = nn.Embedding(context, width)
        peer.config.n_positions = context
    return ours.to(device), peer.to(device)


def use_kernel(model: nn.Module, kernel: Kernel) -> nn.Module:
    """`model` with every attention layer calling `kernel`."""
    for block in model.backbone.blocks:
        block.attn.attend = kernel
    return model


def lm_batch(task: LanguageModeling, model, rows: list[Tensor], device: str):
    """The LM task's batch of id `rows`, as a DataLoader delivers it, on `device`."""
    examples = [Example([Segment("text", row)]) for row in rows]
    return move_data_to_device(
        task.collate(examples, model.preprocessors, model.context_length), device
    )


def time_training(ours, ours_loss, peer, peer_loss, scale) -> tuple[float, float]:
    """Median seconds of a training step (bf16 autocast, backward, AdamW) of ours and the peer."""
    ours_step = bench_lm.train_step(ours, bf16(ours_loss, scale.device))
    peer_step = bench_lm.train_step(peer, bf16(peer_loss, scale.device))
    return measure(ours_step, peer_step, scale.repeats, scale.warmup, scale.device)


def faster(name, ours, peer, peer_name, unit, config, scale) -> dict:
    """A record of a throughput (higher is better)."""
    return record(name, ours, peer, peer_name, unit, True, config, scale.device)


def lm_train(name, shape, template, peer, form, compiled, scale, peak) -> dict:
    """One lm_train row: a copy of `template` with attention `form`, eager or compiled."""
    layers, width, heads, context = shape
    torch._dynamo.reset()  # each compiled row its own graphs, never the recompile limit
    ours = use_kernel(copy.deepcopy(template), FORMS[form])
    if compiled:
        ours.backbone.compile()  # as mm-train's compile: true
    B, task = max(1, scale.tokens_per_step // context), LanguageModeling()
    ids = torch.randint(0, bench_lm.VOCAB - 5, (B, context))
    batch = lm_batch(task, ours, list(ids), scale.device)
    ids = ids.to(scale.device)
    t_ours, t_peer = time_training(
        ours,
        lambda: task.step(ours, batch, "train"),
        peer,
        lambda: peer(ids, labels=ids).loss,
        scale,
    )
    tokens, flops = B * context, lm_flops_per_token(count_parameters(ours), layers, width, context)
    mfu = None if peak is None else tokens / t_ours * flops / peak
    mode = "compiled" if compiled else "eager"
    config = dict(preset=name, layers=layers, width=width, heads=heads, batch=f"{B}x{context}")
    config.update(form=form, mode=mode, dtype="bf16 autocast", flops_per_token=flops, mfu=mfu)
    row = f"lm_train[{name},{form},{mode}]"
    return faster(row, tokens / t_ours, tokens / t_peer, PEER, "tokens/s", config, scale)


def lm_generate(name, shape, template, peer, scale) -> dict:
    """Greedy decoding of `scale.new_tokens` after a random prompt, batch 1, KV cache, bf16."""
    from transformers import GenerationConfig

    ours = copy.deepcopy(template).to(torch.bfloat16).eval()
    peer = copy.deepcopy(peer).to(torch.bfloat16).eval()
    n, prompt = scale.new_tokens, torch.randint(0, bench_lm.VOCAB - 5, (1, scale.prompt))
    sample, prompt = [[Segment("text", prompt[0])]], prompt.to(scale.device)
    options = GenerationConfig(
        max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0, eos_token_id=None
    )

    @torch.no_grad()
    def peer_generate():
        return peer.generate(prompt, generation_config=options)

    def ours_generate():
        return generate(ours, sample, n, temperature=0)

    repeats = max(1, scale.repeats // 2)
    t_ours, t_peer = measure(ours_generate, peer_generate, repeats, 1, scale.device)
    config = dict(preset=name, prompt=scale.prompt, new_tokens=n, batch=1, decoding="greedy")
    config.update(dtype="bfloat16", cache=True)
    peer_name = "transformers GPT2LMHeadModel.generate (KV cache)"
    return faster(
        f"lm_generate[{name}]", n / t_ours, n / t_peer, peer_name, "tokens/s", config, scale
    )


def vit_train(scale) -> dict:
    """The classify task's training step at ViT-Tiny (bench_vit's models), bf16 autocast."""
    B, size, classes = scale.images, bench_vit.SIZE, bench_vit.CLASSES
    ours = bench_vit.ours_model().to(scale.device)
    peer = bench_vit.peer_model().to(scale.device)
    task = Classification(num_classes=classes, confusion=False).to(scale.device)
    images = torch.randn(B, 3, size, size)  # already normalized pixels
    labels = torch.randint(0, classes, (B,))
    examples = [Example([Segment("image", x)], int(y)) for x, y in zip(images, labels)]
    batch = task.collate(examples, ours.preprocessors, ours.context_length)
    batch = move_data_to_device(batch, scale.device)
    images, labels = images.to(scale.device), labels.to(scale.device)
    t_ours, t_peer = time_training(
        ours,
        lambda: task.step(ours, batch, "train"),
        peer,
        lambda: F.cross_entropy(peer(images), labels),
        scale,
    )
    config = dict(batch=B, image=size, patch=bench_vit.PATCH, classes=classes)
    config.update(mode="train step with AdamW", dtype="bf16 autocast")
    return faster(
        "vit_tiny_train", B / t_ours, B / t_peer, bench_vit.PEER, bench_vit.UNIT, config, scale
    )


def packed_step(template, task: LanguageModeling, rows: list[Tensor], kernel, compiled, scale):
    """A copy of `template` with attention `kernel` (compiled or not) and its LM loss on
    `rows` packed several to a context-long row (`pack=True`), attending within each row."""
    torch._dynamo.reset()
    model = use_kernel(copy.deepcopy(template), kernel)
    if compiled:
        model.backbone.compile()
    examples = [Example([Segment("text", row)]) for row in rows]
    batch = task.collate(examples, model.preprocessors, model.context_length, pack=True)
    batch = move_data_to_device(batch, scale.device)
    return model, (lambda: task.step(model, batch, "train")), batch


def padding(batch) -> float:
    """Padding tokens over all tokens of a batch."""
    return round(float(batch.padding.float().mean()), 3)


def lm_padded(name, shape, template, scale, compiled: bool) -> list[dict]:
    """Useful (non-padding) tokens/s on examples of random lengths: padded to the longest
    against full rows; packed (dense mask) against padded; packed with FlexAttention block
    masks against the dense mask (compiled when `compiled`, as flex is fused only then)."""
    context, ours, task = shape[3], copy.deepcopy(template), LanguageModeling()
    B = max(1, scale.tokens_per_step // context)
    ids = torch.randint(0, bench_lm.VOCAB - 5, (B, context))
    lengths = torch.randint(context // 8, context + 1, (B,))
    rows = [row[:n] for row, n in zip(ids, lengths.tolist())]
    padded = lm_batch(task, ours, rows, scale.device)
    full = lm_batch(task, ours, list(ids), scale.device)

    def padded_loss():
        return task.step(ours, padded, "train")

    t_padded, t_full = time_training(
        ours, padded_loss, ours, lambda: task.step(ours, full, "train"), scale
    )
    useful = int(lengths.sum())
    config = dict(preset=name, batch=B, context=context, useful_tokens=useful)
    config.update(padded_to=padded.shape[1], dtype="bf16 autocast", mode="eager")
    full_rows, padded_speed = "ours on full rows (no padding)", useful / t_padded
    row = f"lm_train_padded[{name}]"
    records = [
        faster(row, padded_speed, B * context / t_full, full_rows, "tokens/s", config, scale)
    ]
    packed, packed_loss, batch = packed_step(template, task, rows, sdpa, False, scale)
    t_packed, t_padded = time_training(packed, packed_loss, ours, padded_loss, scale)
    config = dict(config, packed_rows=batch.shape[0], padding_packed=padding(batch))
    config.update(padding_padded=padding(padded))
    records.append(
        faster(
            f"lm_train_packed[{name}]",
            useful / t_packed,
            useful / t_padded,
            "ours padded",
            "tokens/s",
            config,
            scale,
        )
    )
    if torch.device(scale.device).type == "cpu":  # FlexAttention has no backward on CPU
        print("lm_train_packed_flex: GPU only (FlexAttention has no backward on CPU)")
        return records
    flexed, flex_loss, _ = packed_step(template, task, rows, flex, compiled, scale)
    dense, dense_loss, _ = packed_step(template, task, rows, sdpa, compiled, scale)
    t_flex, t_dense = time_training(flexed, flex_loss, dense, dense_loss, scale)
    mode = "compiled" if compiled else "eager"
    records.append(
        faster(
            f"lm_train_packed_flex[{name},{mode}]",
            useful / t_flex,
            useful / t_dense,
            f"ours packed, dense mask ({mode})",
            "tokens/s",
            dict(config, mode=mode),
            scale,
        )
    )
    return records
