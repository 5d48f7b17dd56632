import pytest
import torch
from torch import nn

from multimodal.prepack import linear_modules, onednn_bf16, onednn_linear, packed_linears
from multimodal.tasks.lm_head import LMHead

needs_bf16 = pytest.mark.skipif(not onednn_bf16(), reason="no oneDNN bfloat16 on this CPU")
needs_onednn = pytest.mark.skipif(not onednn_linear(), reason="no oneDNN linear on this build")


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


@needs_onednn
def test_float32_packed_linears_agree_to_rounding():
    torch.manual_seed(0)
    linear, head = nn.Linear(32, 96), LMHead(512, 300, tie_to=None)  # too small, large enough
    h, g = torch.randn(3, 5, 32), torch.randn(3, 5, 512)
    with torch.no_grad():
        want = [m(x) for m, y in ((linear, h), (head, g)) for x in (y, y[:, -1])]
        with packed_linears([linear, head]):
            assert "forward" not in vars(linear) and "forward" in vars(head)
            got = [m(x) for m, y in ((linear, h), (head, g)) for x in (y, y[:, -1])]
    for a, b in zip(want, got, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert "forward" not in vars(linear) and "forward" not in vars(head)


def test_other_modules_are_left_alone_and_all_restored_after_errors():
    double = nn.Linear(4, 4).to(torch.float64)
    with packed_linears([double, nn.LayerNorm(4)]):
        assert "forward" not in vars(double)
    linear = nn.Linear(512, 512)
    with pytest.raises(RuntimeError), packed_linears([linear]):
        raise RuntimeError
    assert "forward" not in vars(linear)
    half = nn.Linear(4, 4).to(torch.bfloat16)
    with pytest.raises(RuntimeError), packed_linears([half]):
        raise RuntimeError
    assert "forward" not in vars(half)


def test_linear_modules_are_plain_linears_and_declared_ones():
    class Scaled(nn.Linear):  # another forward: not taken for a plain linear
        def forward(self, x):
            return 2 * super().forward(x)

    head, plain, scaled = LMHead(8, 10, tie_to=None), nn.Linear(8, 8), Scaled(8, 8)
    model = nn.ModuleDict({"a": plain, "b": scaled, "c": head, "d": nn.LayerNorm(8)})
    assert linear_modules(model) == [plain, head]


@needs_onednn
def test_nested_packing_leaves_the_outer_blocks_weights_alone():
    linear = nn.Linear(512, 512)
    with packed_linears([linear]):
        outer = vars(linear)["forward"]
        with packed_linears([linear]):
            assert vars(linear)["forward"] is outer
        assert vars(linear)["forward"] is outer
    assert "forward" not in vars(linear)
