import pytest
import torch

from multimodal.context import Context
from multimodal.transformer import Transformer


@pytest.mark.parametrize("rotary", [True, False])
def test_cached_steps_equal_one_full_pass(rotary):
    torch.manual_seed(0)
    net = Transformer(32, 2, 4, rotary=rotary).eval()
    x = torch.randn(2, 7, 32)
    pos = torch.arange(7).expand(2, 7)
    no_pad = torch.zeros(2, 1, dtype=torch.bool)
    full = net(x, Context(pos, is_causal=True))  # (B, T, D)
    cache = net.new_cache(2, 7)
    cache.advance(pos[:, :4], no_pad.expand(2, 4))
    steps = [net(x[:, :4], Context(pos[:, :4], is_causal=True, cache=cache))]
    for t in range(4, 7):
        cache.advance(pos[:, t : t + 1], no_pad)
        steps.append(net(x[:, t : t + 1], Context(pos[:, t : t + 1], cache=cache)))
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_cache_dtype_follows_the_model_but_stays_float32_for_half_precision_on_cpu():
    net = Transformer(32, 2, 4)
    assert net.new_cache(1, 4).k[0].dtype == torch.float32
    assert net.to(torch.float64).new_cache(1, 4).k[0].dtype == torch.float64
    assert net.to(torch.bfloat16).new_cache(1, 4).k[0].dtype == torch.float32
    assert net.new_cache(1, 4, dtype=torch.bfloat16).k[0].dtype == torch.bfloat16
