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


class PackableLinear(nn.Module):
    """Base of modules whose forward is `F.linear(x, self.weight, self.bias)` of its first
    argument (`bias` optional): `linear_modules` finds them beside `nn.Linear`."""


def linear_modules(model: nn.Module) -> list[nn.Module]:
    """The plain `nn.Linear` and `PackableLinear` modules of `model`, for `packed_linears`."""
    return [m for m in model.modules() if type(m) is nn.Linear or isinstance(m, PackableLinear)]


def packable(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.dim() != 2 or weight.device.type != "cpu":
        return False
    if weight.dtype == torch.float32:
        return weight.numel() >= FLOAT32_MIN_WEIGHTS and onednn_linear()
    return weight.dtype == torch.bfloat16 and onednn_bf16()


def _packed_linear(x: Tensor, *_, packed: Tensor, bias: Tensor | None) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), packed, bias, "none", [], "")


@contextmanager
def packed_linears(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Within the block (without autograd), each packable module computes on a packed copy of
    its weight; `modules` must compute `F.linear(x, self.weight, self.bias)` (bias optional).
    A module whose `forward` is already replaced (an enclosing block's) is left alone."""
    chosen = [m for m in modules if packable(m) and "forward" not in vars(m)]
    try:
        for m in chosen:
            packed = torch.ops.mkldnn._reorder_linear_weight(m.weight.detach(), 1)
            m.forward = partial(_packed_linear, packed=packed, bias=getattr(m, "bias", None))
        yield
    finally:
        for m in chosen:
            vars(m).pop("forward", None)
