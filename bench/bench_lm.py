"""Language-model training step and greedy generation against Hugging Face `GPT2LMHeadModel`.

Both models have the same depth, width, heads, vocabulary (8,192) and context, no dropout,
CPU, same process, alternating runs. Training: forward + backward + AdamW step on 16 x 256
tokens (ours from an already collated `Batch`, as DataLoader workers deliver it; the peer from
`input_ids`). Generation: batch 1, a 64-token prompt, 256 new tokens, greedy; ours with the KV
cache against the peer's `generate` (which caches too), and ours without the cache; cached
generation again with both models in bfloat16 (`model.to(torch.bfloat16)` on both sides).
"""

import copy

import tiktoken
import torch
from common import measure, record

from multimodal.example import Example
from multimodal.generation import generate
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tasks.language_modeling import LanguageModeling
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials
from multimodal.transformer import Transformer

PRESETS = {"tiny": (4, 128, 4), "small": (6, 384, 6)}  # layers, width, heads
VOCAB, BATCH, BLOCK, PROMPT, NEW = 8192, 16, 256, 64, 256
CONTEXT = PROMPT + NEW
PEER = "transformers GPT2LMHeadModel"


def encoding(vocab_size: int = VOCAB) -> tiktoken.Encoding:
    """A byte-level encoding with `vocab_size` ids in all (only its size matters here)."""
    ranks = {bytes([i]): i for i in range(256)}
    a = 0
    while len(ranks) < vocab_size - 5:  # 5 special tokens follow
        ranks[bytes([65 + a // 256 % 26, a % 256, 97 + a // 6656 % 26])] = len(ranks)
        a += 1
    return tiktoken.Encoding(
        name="bench",
        pat_str=GPT4_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks),
    )


def ours_model(layers, width, heads, enc) -> MultimodalModel:
    return MultimodalModel(
        {"text": TextTokenizer(width, encoding=enc)},
        Transformer(width, layers, heads),
        {"lm": LMHead()},
        context_length=CONTEXT,
    )


def peer_model(layers, width, heads):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=CONTEXT,
        n_embd=width,
        n_layer=layers,
        n_head=heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    config._attn_implementation = "sdpa"
    return GPT2LMHeadModel(config)


def train_step(model, loss_fn):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        optimizer.step()

    return step


def compare_training(preset: str, ours, peer, config: dict) -> dict:
    ids = torch.randint(0, VOCAB - 5, (BATCH, BLOCK))
    task = LanguageModeling()
    examples = [Example([Segment("text", row)]) for row in ids]
    batch = task.collate(examples, dict(ours.tokenizers), ours.context_length)
    ours.train(), peer.train()
    t_ours, t_peer = measure(
        train_step(ours, lambda: task.step(ours, batch, "train")),
        train_step(peer, lambda: peer(input_ids=ids, labels=ids).loss),
        repeats=5,
    )
    tokens = BATCH * BLOCK
    config = {**config, "batch": f"{BATCH}x{BLOCK}"}
    return record(
        f"lm_train_step[{preset}]", tokens / t_ours, tokens / t_peer, PEER, "tokens/s", True, config
    )


def compare_generation(
    preset: str, ours, peer, config: dict, dtype: torch.dtype = torch.float32
) -> list[dict]:
    """Greedy generation rows: cached and uncached in float32, cached only in other dtypes."""
    from transformers import GenerationConfig

    if dtype != torch.float32:
        ours, peer = copy.deepcopy(ours).to(dtype), copy.deepcopy(peer).to(dtype)
    ours.eval(), peer.eval()
    prompt = torch.randint(0, VOCAB - 5, (1, PROMPT))
    sample = [[Segment("text", prompt[0])]]
    options = GenerationConfig(
        max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, pad_token_id=0, eos_token_id=None
    )

    @torch.no_grad()
    def peer_generate():
        return peer.generate(prompt, generation_config=options)

    dtype_name = str(dtype).removeprefix("torch.")
    config = {
        **config,
        "prompt": PROMPT,
        "new_tokens": NEW,
        "batch": 1,
        "decoding": "greedy",
        "dtype": dtype_name,
    }
    suffix = "" if dtype == torch.float32 else f"_{dtype_name.replace('float', 'f')}"
    records = []
    for cached in (True, False) if dtype == torch.float32 else (True,):
        t_ours, t_peer = measure(
            lambda c=cached: generate(ours, sample, NEW, temperature=0, use_cache=c),
            peer_generate,
            repeats=3,
            warmup=1,
        )
        name = f"lm_generate{'' if cached else '_nocache'}{suffix}[{preset}]"
        peer_name = "transformers GPT2LMHeadModel.generate (KV cache)"
        records.append(
            record(
                name,
                NEW / t_ours,
                NEW / t_peer,
                peer_name,
                "tokens/s",
                True,
                {**config, "ours_cache": cached},
            )
        )
    return records


def run() -> list[dict]:
    torch.manual_seed(0)
    enc = encoding()
    records = []
    for preset, (layers, width, heads) in PRESETS.items():
        config = {
            "preset": preset,
            "layers": layers,
            "width": width,
            "heads": heads,
            "vocab": VOCAB,
        }
        ours, peer = ours_model(layers, width, heads, enc), peer_model(layers, width, heads)
        records.append(compare_training(preset, ours, peer, config))
        records += compare_generation(preset, ours, peer, config)
        records += compare_generation(preset, ours, peer, config, torch.bfloat16)
    return records
