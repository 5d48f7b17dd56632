"""Training speed on a shared machine: our thread policy against torch's defaults.

A tiny language model (the Shakespeare recipe's size at width 128, 4 layers, 128-token windows,
batch 32) trains for a fixed number of steps in a fresh process, in three settings: alone, beside
one busy single-threaded process, and two trainings at once (the second started while the first
runs). Each figure is steps/s as a share of the same policy's speed alone, which is measured
before and after the shared runs and averaged (a single run drifts by up to 10% on a virtual
machine). "ours" is what `import multimodal` and `threads: auto` do (`GOMP_SPINCOUNT=10000`,
compute threads = free cores); the peer is torch's default (one spinning OpenMP thread per core).

Beside one busy process on 2 cores one core is free, so no policy can beat one thread alone: the
config records that bound, ours with one thread alone as a share of ours alone
(`one_thread_share`).

    python bench/run.py --only shared_machine
"""

import json
import os
import statistics
import subprocess
import sys
import time

from common import record

STEPS, WARMUP = 40, 5
WORKER = r"""
import json, sys, time
policy = sys.argv[1]
if policy == "ours":
    import multimodal
    from multimodal.threads import use_threads
    threads = use_threads("auto")
import torch
from multimodal.model import MultimodalModel
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer
import tiktoken
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials
ranks = {bytes([i]): i for i in range(256)}
ranks.update({bytes([a, b]): 256 + 256 * a + b for a in range(31) for b in range(256)})  # 8192
enc = tiktoken.Encoding("b", pat_str=GPT4_PATTERN, mergeable_ranks=ranks, special_tokens=with_specials(ranks))
torch.manual_seed(0)
model = MultimodalModel({"text": TextTokenizer(128, encoding=enc)}, Transformer(128, 4, 4), {"lm": LMHead(tie_to="text")}, 256)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
ids = torch.randint(0, len(ranks), (32, 129))
batch = model.collate([[model.tokenizer("text").prepare(row[:-1])] for row in ids])
head = model.heads["lm"]
def step():
    logits = head(model(batch))
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(int(sys.argv[3])):
    step()
start = time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
print(json.dumps({"steps_per_s": int(sys.argv[2]) / (time.perf_counter() - start), "threads": torch.get_num_threads()}))
"""


def env() -> dict:
    """This environment without the variables that the policies set."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")
    }


def trainings(
    policy: str, count: int, stagger: float = 3.0, threads: int | None = None
) -> list[float]:
    """steps/s of `count` trainings, each started `stagger` seconds after the one before (the
    later ones find the earlier ones running); `threads` sets OMP_NUM_THREADS."""
    args = [sys.executable, "-c", WORKER, policy, str(STEPS), str(WARMUP)]
    environment = env() | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
    procs = []
    for i in range(count):
        if i:
            time.sleep(stagger)
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, env=environment))
    return [json.loads(p.communicate()[0])["steps_per_s"] for p in procs]


def beside_busy(policy: str) -> float:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let it take its core, as a running job would have
        return trainings(policy, 1)[0]
    finally:
        busy.kill()
        busy.wait()


def run() -> list[dict]:
    share = {}
    for policy in ("ours", "torch"):
        before = trainings(policy, 1)[0]
        busy = beside_busy(policy)
        two = min(trainings(policy, 2))
        alone = statistics.mean([before, trainings(policy, 1)[0]])
        share[policy] = {"alone": alone, "busy": busy / alone, "two": two / alone}
    one_thread = trainings("ours", 1, threads=1)[0] / share["ours"]["alone"]
    config = {
        "steps": STEPS,
        "model": "d128 L4 T128 B32",
        "alone_steps_per_s": share,
        "one_thread_share": round(one_thread, 3),
    }
    return [
        record(
            name,
            share["ours"][key],
            share["torch"][key],
            "torch default threads",
            unit,
            True,
            config,
        )
        for key, name, unit in (
            ("busy", "train beside one busy process (share of alone)", "share"),
            ("two", "two trainings at once (share of alone, slower one)", "share"),
            ("alone", "train alone (steps/s)", "steps/s"),
        )
    ]
