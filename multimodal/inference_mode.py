"""`inference_mode`: the model's fast path for prediction, switched on explicitly.

Outside it the model is safe to observe: no layer overwrites a tensor it has returned or been
given, so what a forward hook captures stays as it was. Inside it (eval mode, no autograd),
blocks add each residual in place into their branch's fresh output and MLPs apply GELU in place,
and with `prepack` every linear layer computes on a weight packed once for oneDNN on CPU
(`multimodal.prepack`), which pays off when the weights serve many calls, as in decoding. A
forward hook may then find what it captured overwritten. Generation and prediction enter it.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from multimodal.block import Block
from multimodal.mlp import MLP
from multimodal.prepack import linear_modules, packed_linears


@contextmanager
def inference_mode(model: nn.Module, prepack: bool = False) -> Iterator[nn.Module]:
    """Within the block, `model` runs its inference fast path; on exit every module's training
    flag and layers are as they were. Nested blocks add only what the outer one left out."""
    modes = [(m, m.training) for m in model.modules()]
    fast = [m for m in model.modules() if isinstance(m, Block | MLP) and not m.in_place]
    with ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        if prepack:
            stack.enter_context(packed_linears(linear_modules(model)))
        try:
            model.eval()
            for m in fast:
                m.in_place = True
            yield model
        finally:
            for m in fast:
                m.in_place = False
            for m, training in modes:
                m.training = training
