"""Linear layers on prepacked weights for inference on CPU, in float32 and bfloat16.

`F.linear` on CPU gives its kernel a plain weight on every call, to be reordered (packed) into
the kernel's layout. For one token at a time that dominates: a float32 decoding step streams
every weight from memory at about 10 GB/s through MKL's reordering, where oneDNN reads a
prepacked weight at 20-30 GB/s, and a bfloat16 product costs more to reorder than to compute.
`packed_linears` reorders each weight once for oneDNN and calls its kernel directly. bfloat16
results are bit-identical to `F.linear` for contiguous inputs and row slices; float32 results
agree to rounding (another summation order).
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache, partial

import torch
from torch import Tensor, nn

# oneDNN's float32 call costs about 17 us more than `F.linear`'s (2-core x86 CPU, batch 1):
# float32 weights under about 128k numbers are left to `F.linear`, which is faster for them.
FLOAT32_MIN_WEIGHTS = 1 << 17


@cache
def onednn_linear() -> bool:
    """Whether this build runs oneDNN linear kernels and their packing ops on CPU."""
    ops = torch.ops.mkldnn
    return torch.backends.mkldnn.is_available() and all(
        hasattr(ops, op) for op in ("_reorder_linear_weight", "_linear_pointwise")
    )


@cache
def onednn_bf16() -> bool:
    """Whether this CPU also runs oneDNN's bfloat16 kernels."""
    return onednn_linear() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def packable(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.dim() != 2 or weight.device.type != "cpu":
        return False
    if weight.dtype == torch.float32:
        return weight.numel() >= FLOAT32_MIN_WEIGHTS and onednn_linear()
    return weight.dtype == torch.bfloat16 and onednn_bf16()


def _packed_linear(x: Tensor, packed: Tensor, bias: Tensor | None) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), packed, bias, "none", [], "")


@contextmanager
def packed_linears(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Within the block (without autograd), each packable module computes on a packed copy of
    its weight; `modules` must compute `F.linear(x, self.weight, self.bias)` (bias optional)."""
    chosen = [m for m in modules if packable(m)]
    saved = [m.__dict__.get("forward") for m in chosen]
    for m in chosen:
        packed = torch.ops.mkldnn._reorder_linear_weight(m.weight.detach(), 1)
        m.forward = partial(_packed_linear, packed=packed, bias=getattr(m, "bias", None))
    try:
        yield
    finally:
        for m, forward in zip(chosen, saved):
            if forward is None:
                del m.forward
            else:
                m.forward = forward
