"""GPU speed in one short run: LM training tokens/s and MFU, generation, ViT-Tiny, padded data.

    .venv/bin/python bench/gpu.py                        # on a CUDA GPU, a few minutes
    .venv/bin/python bench/gpu.py --dry-run              # every path, tiny models, on CPU
    .venv/bin/python bench/gpu.py --dry-run --skip-compile --peak-tflops 0.1

Options: --presets small,base (a shorter run: --presets small), --peak-tflops (for MFU on a
device the table does not name; also $PEAK_TFLOPS), --out (the JSON file).

It prints a table and writes the records (`common.record`) to bench/results/gpu.json, or
gpu_dry_run.json. Without a GPU it makes the dry run: tiny models and 2 timed steps, figures
that show each path runs and are no GPU figures; its compiled rows take a minute or more on
CPU (inductor builds each graph), which --skip-compile saves. Ours and a peer run alternately
in one process (`common.measure`: warm-up steps, then timed steps, each between
`torch.cuda.synchronize()` calls); the measurements are in bench/gpu_rows.py.

- lm_train[preset,form,mode]: the LM task's forward, backward and AdamW step on B x T tokens
  (T the preset's context in conf/model, B x T = 16,384) under bf16 autocast (Lightning's
  "bf16-mixed"), at the `small` and `base` presets, for each attention form: SDPA given the
  causal flag, SDPA given a dense (B, 1, T, T) boolean mask (a padded batch's form), and the
  explicit softmax kernel (flag or mask cost it the same), each eager and with the backbone
  compiled (`compile: true`); bench_lm's vocabulary of 8,192. Peer: Hugging Face GPT-2 of the
  same shape, eager.
- lm_generate[preset]: greedy decoding with the KV cache in bf16, batch 1, 64 prompt tokens
  then 256 new ones, against GPT-2's `generate`.
- vit_tiny_train: the classify task's training step at ViT-Tiny in bf16, batch 128, against
  timm.
- lm_train_padded[small]: useful (non-padding) tokens/s on examples of random lengths, against
  the same model on full rows.
- lm_train_packed[small]: the same examples packed several to a row (`pack=True`, dense
  document masks), against padded.
- lm_train_packed_flex[small,mode]: packed with FlexAttention block masks (`attention=flex`),
  against the dense mask; compiled unless --skip-compile (flex is fused only when compiled).

FLOPs per token of training (nanoGPT's `estimate_mfu`, after PaLM's appendix B):
    flops_per_token = 6 N + 12 L D T
N the parameters that multiply each token (the tied text embedding counted once, as the LM
head's weight; text has no position table), L layers, D width, T tokens per sequence.
MFU = tokens/s x flops_per_token / peak, the GPU's dense bf16 peak (`common.PEAK_BF16_TFLOPS`:
H100/H200 989, A100 312 TFLOP/s), or --peak-tflops / $PEAK_TFLOPS for any other device.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import bench_lm
import torch
from common import device_name, peak_flops
from gpu_rows import FORMS, Scale, lm_generate, lm_models, lm_padded, lm_train, vit_train
from omegaconf import OmegaConf
from run import fmt

HERE = Path(__file__).resolve().parent


def preset(name: str) -> tuple[int, int, int, int]:
    """(layers, width, heads, context) of conf/model/<name>.yaml."""
    cfg = OmegaConf.load(HERE.parent / "conf" / "model" / f"{name}.yaml")
    b = cfg.backbone
    return b.n_layers, b.d_model, b.n_heads, cfg.context_length


def gpu_scale() -> Scale:
    presets = {name: preset(name) for name in ("small", "base")}
    return Scale("cuda", presets, 16384, 2, 7, bench_lm.PROMPT, bench_lm.NEW, 128)


def dry_scale() -> Scale:
    presets = {"small": (1, 32, 2, 32), "base": (2, 32, 2, 32)}
    return Scale("cpu", presets, 64, 1, 2, 8, 8, 2)


def run(scale: Scale, compile_too: bool, peak: float | None) -> list[dict]:
    """Every row: each preset's training forms, its generation, padded data at the first
    preset, then ViT-Tiny."""
    torch.manual_seed(0)
    enc = bench_lm.encoding()
    records, modes = [], (False, True) if compile_too else (False,)
    for i, (name, shape) in enumerate(scale.presets.items()):
        template, peer = lm_models(shape, enc, scale.device)
        for form in FORMS:
            for compiled in modes:
                records.append(lm_train(name, shape, template, peer, form, compiled, scale, peak))
        records.append(lm_generate(name, shape, template, peer, scale))
        if i == 0:
            records += lm_padded(name, shape, template, scale, compile_too)
    return records + [vit_train(scale)]


def mfu_text(config: dict) -> str:
    if "mfu" not in config:
        return ""
    return "-" if config["mfu"] is None else f"{config['mfu']:.1%}"


def table(records: list[dict]) -> str:
    """Records as an aligned text table, with each LM training row's MFU."""
    head = ("name", "ours", "unit", "mfu", "peer", "peer_name", "ratio")
    rows = [
        (r["name"], fmt(r["ours"]), r["unit"], mfu_text(r["config"]), fmt(r["peer"]))
        + (r["peer_name"], f"{r['ratio']:.3f}")
        for r in records
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + ["(ratio > 1: ours is better)"])


def tflops(text: str) -> float:
    """--peak-tflops or $PEAK_TFLOPS as a positive number."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive number of TFLOP/s (also read from $PEAK_TFLOPS), got {text!r}"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="tiny models on CPU, even with a GPU")
    p.add_argument("--skip-compile", action="store_true", help="leave out the compiled rows")
    p.add_argument("--presets", default="small,base", help="comma list of LM presets")
    p.add_argument("--peak-tflops", type=tflops, default=os.environ.get("PEAK_TFLOPS") or None)
    p.add_argument("--out", type=Path, help="JSON records (default: bench/results/gpu*.json)")
    args = p.parse_args(argv)
    from transformers.utils import logging  # the peer's notes on bench_lm's special ids: quiet

    logging.set_verbosity_error()
    dry = args.dry_run or not torch.cuda.is_available()
    scale = dry_scale() if dry else gpu_scale()
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    unknown = [n for n in names if n not in scale.presets]
    if unknown or not names:
        p.error(f"--presets {args.presets!r}: expected names among {list(scale.presets)}")
    scale.presets = {n: scale.presets[n] for n in names}
    peak = peak_flops(scale.device, args.peak_tflops)
    print(f"{'DRY RUN' if dry else 'GPU run'} on {device_name(scale.device)}")
    if dry:
        print(f"tiny models, {scale.repeats} timed steps each: these figures show that every path")
        print("runs; they are NOT GPU figures")
    if peak is None:
        print("MFU: this device's peak is unknown; give --peak-tflops or $PEAK_TFLOPS")
    else:
        print(f"MFU against a peak of {fmt(peak / 1e12)} TFLOP/s")
    if args.skip_compile:
        print("compile: skipped (--skip-compile), its rows are left out; on CPU inductor takes")
        print("10-40 s to build each graph; tests/multimodal/test_precision.py covers compile")
    records = run(scale, not args.skip_compile, peak)
    print(table(records))
    out = args.out or HERE / "results" / ("gpu_dry_run.json" if dry else "gpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1) + "\n")
    print(f"wrote {len(records)} records to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
