"""One of two processes (gloo) that generate for prompts ending at different steps, for
test_generation_lockstep.py. Each block's forward is a collective: with SHARDING "checked", a
hook that checks that every process is at the same forward of the same case (it raises when
they are not); with "fsdp2", the model is fully sharded and each block gathers its weights.

    python two_process_generation.py RANK INIT_FILE OUT_JSON LOCKSTEP(0|1) SHARDING[,SHARDING]

OUT_JSON gets, per sharding and case, the tokens generated together with the other process and alone (by
an unsharded copy, after the group is gone), and how many block forwards each took.
"""

import copy
import json
import sys
from datetime import timedelta

import tiktoken
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

from multimodal.generation import generate
from multimodal.model import MultimodalModel
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials
from multimodal.transformer import Transformer

PROMPTS = (["To be, or not"], ["Or", "The slings and arrows of"])  # rank -> its prompts


def cases(vocab_size: int) -> dict[str, tuple[dict, dict]]:
    """Case -> generate's options on rank 0 and on rank 1; rank 0 always ends first."""
    every_token = list(range(vocab_size))
    return {
        "stop token": ({"stop_tokens": every_token}, {}),
        "max_new_tokens": ({"max_new_tokens": 2}, {"max_new_tokens": 7}),
        "uncached": ({"max_new_tokens": 2, "use_cache": False}, {"use_cache": False}),
        "prefix, sampled": (
            {"max_new_tokens": 3, "mask": "prefix", "prefix_lens": [2], "temperature": 1.0},
            {"mask": "prefix", "prefix_lens": [1, 3], "temperature": 1.0},
        ),
    }


def tiny_lm() -> MultimodalModel:
    """One block of width 32 over bytes; a random untied head gives varied greedy tokens."""
    ranks = {bytes([i]): i for i in range(256)}
    encoding = tiktoken.Encoding(
        name="bytes",
        pat_str=GPT4_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks),
    )
    torch.manual_seed(0)
    text = TextTokenizer(32, encoding=encoding)
    head = LMHead(32, text.vocab_size, tie_to=None)
    torch.nn.init.normal_(head.weight, std=1.0)
    return MultimodalModel({"text": text}, Transformer(32, 1, 4), {"lm": head}, context_length=64)


class Forwards:
    """A forward pre-hook counting block forwards; with `check`, while the group exists, each
    forward gathers (case, forward) from every process and raises unless all agree."""

    def __init__(self, check: bool):
        self.case, self.count, self.check = 0, 0, check

    def __call__(self, module, args) -> None:
        self.count += 1
        if not (self.check and dist.is_initialized()):
            return
        here = torch.tensor([self.case, self.count])
        every = [torch.zeros_like(here) for _ in range(dist.get_world_size())]
        dist.all_gather(every, here)
        if any(not torch.equal(e, here) for e in every):
            seen = [e.tolist() for e in every]
            raise RuntimeError(f"processes at different (case, forward): {seen}")


def run_cases(model: MultimodalModel, forwards: Forwards, rank: int, lockstep: bool) -> dict:
    text = model.tokenizer("text")
    prompts = [[text.prepare(p)] for p in PROMPTS[rank]]
    results = {}
    for i, (name, options) in enumerate(cases(text.vocab_size).items()):
        forwards.case, forwards.count = i, 0
        kw = {"max_new_tokens": 6, "temperature": 0.0, "seed": rank, **options[rank]}
        tokens = generate(model, prompts, lockstep=lockstep, **kw)
        results[name] = {"tokens": tokens, "forwards": forwards.count}
    return results


def main(rank: int, init_file: str, out: str, lockstep: bool, shardings: list[str]) -> None:
    dist.init_process_group(
        "gloo", f"file://{init_file}", rank=rank, world_size=2, timeout=timedelta(seconds=30)
    )
    results = {}
    for sharding in shardings:
        model = tiny_lm()
        unsharded = copy.deepcopy(model)
        if sharding == "fsdp2":  # each block a shard unit, the model around them one more
            mesh = init_device_mesh("cpu", (2,))
            for block in model.backbone.blocks:
                fully_shard(block, mesh=mesh)
            fully_shard(model, mesh=mesh)
        forwards = Forwards(check=sharding == "checked")
        for m in (model, unsharded):
            m.backbone.blocks[0].register_forward_pre_hook(forwards)
        results[sharding] = {"together": run_cases(model, forwards, rank, lockstep)}
        results[sharding]["unsharded"] = (unsharded, forwards)
    dist.destroy_process_group()
    for sharding in shardings:
        unsharded, forwards = results[sharding].pop("unsharded")
        results[sharding]["alone"] = run_cases(unsharded, forwards, rank, lockstep)
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5].split(","))
