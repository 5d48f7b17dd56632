import pytest
import torch
from torch import nn

from multimodal.prepack import onednn_bf16, packed_linears
from multimodal.tasks.lm_head import LMHead

needs_bf16 = pytest.mark.skipif(not onednn_bf16(), reason="no oneDNN bfloat16 on this CPU")


@needs_bf16
def test_packed_linears_are_bit_identical_and_restored():
    torch.manual_seed(0)
    linear = nn.Linear(32, 96).to(torch.bfloat16)
    head = LMHead(32, 300, tie_to=None).to(torch.bfloat16)
    h = torch.randn(3, 5, 32, dtype=torch.bfloat16)
    inputs = [h, h[:, -1], h[0]]  # 3-D, 2-D with strided rows (the decoding step), 2-D
    mixed = h.transpose(0, 1)  # non-contiguous: copied first, so only close
    with torch.no_grad():
        want = [[m(x) for x in inputs] for m in (linear, head)]
        with packed_linears([linear, head]):
            assert "forward" in vars(linear) and "forward" in vars(head)
            got = [[m(x) for x in inputs] for m in (linear, head)]
            assert torch.allclose(linear(mixed), linear.__class__.forward(linear, mixed), atol=0.05)
    assert all(torch.equal(a, b) for ws, gs in zip(want, got) for a, b in zip(ws, gs))
    assert "forward" not in vars(linear) and "forward" not in vars(head)


def test_float32_modules_are_left_alone_and_restored_after_errors():
    linear = nn.Linear(4, 4)
    with pytest.raises(RuntimeError), packed_linears([linear]):
        assert "forward" not in vars(linear)
        raise RuntimeError
    half = nn.Linear(4, 4).to(torch.bfloat16)
    with pytest.raises(RuntimeError), packed_linears([half]):
        raise RuntimeError
    assert "forward" not in vars(half)
