"""Linear layers on prepacked weights for bfloat16 inference on CPU.

A bfloat16 `F.linear` on CPU gives oneDNN a plain weight on every call, to be reordered for its
kernel; for one token at a time that costs more than the product. `packed_linears` reorders each
weight once and calls the kernel directly: bit-identical results for contiguous inputs and row
slices, and two to three times faster products for one token.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache, partial

import torch
from torch import Tensor, nn


@cache
def onednn_bf16() -> bool:
    """Whether this CPU and build run oneDNN's bfloat16 kernels and their packing ops."""
    ops = torch.ops.mkldnn
    return (
        torch.backends.mkldnn.is_available()
        and all(hasattr(ops, op) for op in ("_reorder_linear_weight", "_linear_pointwise"))
        and ops._is_mkldnn_bf16_supported()
    )


def packable(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return (
        isinstance(weight, Tensor)
        and weight.dtype == torch.bfloat16
        and weight.device.type == "cpu"
        and onednn_bf16()
    )


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
