"""Attention weights on request: `with capture_attention(model) as maps:` records, for every
attention layer of every forward call inside it, the weights (B, H, T, Tk).

Inside, each layer runs the explicit softmax kernel (`attention_kernels.softmax`) over the
same q, k, v and mask as the fast path, so the model's outputs are those of the fast path (to
float rounding); outside, the layers run the kernels they were built with. With `keep` the last
layer records only the kept queries' rows (B, H, K, Tk); with a KV cache each step records its
new queries over every cached key.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

from multimodal.attention import Attention
from multimodal.attention_kernels import softmax


@contextmanager
def capture_attention(model: nn.Module) -> Iterator[list[Tensor]]:
    """Yields a list that fills with each layer's weights, in the order the layers run
    (layer 0 first, then each later call's layers). The kernels are restored on exit."""
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    kernels = [layer.attend for layer in layers]
    maps: list[Tensor] = []

    def recording(q, k, v, mask, is_causal, dropout):
        out, weights = softmax(q, k, v, mask, is_causal, dropout)
        maps.append(weights.detach())
        return out, weights

    try:
        for layer in layers:
            layer.attend = recording
        yield maps
    finally:
        for layer, kernel in zip(layers, kernels):
            layer.attend = kernel
