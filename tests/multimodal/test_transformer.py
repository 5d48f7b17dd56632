import torch

from multimodal.context import Context
from multimodal.inference_mode import inference_mode
from multimodal.rotary import Rotary, apply_rotary
from multimodal.transformer import Transformer, count_parameters


def test_shapes_and_backward():
    net = Transformer(d_model=32, n_layers=2, n_heads=4)
    x = torch.randn(3, 7, 32, requires_grad=True)
    pos = torch.arange(7).expand(3, 7)
    y = net(x, Context(pos, is_causal=True))
    assert y.shape == (3, 7, 32)
    y.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())


def test_causal_output_ignores_the_future():
    torch.manual_seed(0)
    net = Transformer(32, 2, 4).eval()
    x = torch.randn(1, 8, 32)
    pos = torch.arange(8)[None]
    full = net(x, Context(pos, is_causal=True))
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 32)
    assert torch.allclose(net(changed, Context(pos, is_causal=True))[:, :5], full[:, :5], atol=1e-5)


def test_rotary_depends_only_on_relative_position():
    torch.manual_seed(0)
    net = Transformer(32, 2, 4).eval()
    x = torch.randn(2, 6, 32)
    pos = torch.arange(6).expand(2, 6)
    assert torch.allclose(
        net(x, Context(pos, is_causal=True)), net(x, Context(pos + 17, is_causal=True)), atol=1e-4
    )


def test_rotary_formula():
    rot = Rotary(head_dim=4, base=10000.0)
    q = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 1, 4)  # (B, T, H, hd)
    out = apply_rotary(q, rot(torch.tensor([[3]]))[:, :, 0]).flatten()
    theta = torch.tensor([3.0, 3.0 / 100.0])  # pos * base ** (-2i / hd) for pairs i = 0, 1
    x, y = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0])  # pairs (1, 2) and (3, 4)
    rx, ry = x * theta.cos() - y * theta.sin(), x * theta.sin() + y * theta.cos()
    assert torch.allclose(out, torch.stack([rx, ry], dim=1).flatten(), atol=1e-6)


def test_parameter_count_of_tiny_preset():
    # 4 blocks of (qkv + proj + fc + proj + 2 norms) + final norm, width 128
    per_block = (
        (128 * 384 + 384) + (128 * 128 + 128) + (128 * 512 + 512) + (512 * 128 + 128) + 4 * 128
    )
    assert count_parameters(Transformer(128, 4, 4)) == 4 * per_block + 2 * 128


def test_rotary_off_ignores_positions_and_keeps_the_parameters():
    torch.manual_seed(0)
    on, off = Transformer(32, 2, 4), Transformer(32, 2, 4, rotary=False)
    assert off.rotary is None and on.state_dict().keys() == off.state_dict().keys()
    off.load_state_dict(on.state_dict())  # checkpoints move between the two
    x = torch.randn(2, 6, 32)
    pos = torch.arange(6).expand(2, 6)
    assert torch.equal(off.eval()(x, Context(pos)), off(x, Context(pos + 17)))
    order = torch.tensor([3, 0, 5, 1, 4, 2])  # no positions: bidirectional is order-blind
    assert torch.allclose(off(x[:, order], Context(pos)), off(x, Context(pos))[:, order], atol=1e-5)


def test_in_place_residuals_keep_values_and_gradients():
    torch.manual_seed(0)
    block = Transformer(32, 1, 4).blocks[0]
    x = torch.randn(2, 5, 32, requires_grad=True)
    pos = torch.arange(5).expand(2, 5)
    ctx = Context(pos, rotations=Transformer(32, 1, 4).rotary(pos))

    def reference(x):  # out of place
        x = x + block.attn(block.norm1(x), ctx)
        return x + block.mlp(block.norm2(x))

    y, ref = block(x, ctx), reference(x)
    assert torch.equal(y, ref)
    (gx,) = torch.autograd.grad(y.square().sum(), x)
    (gr,) = torch.autograd.grad(ref.square().sum(), x)
    assert torch.equal(gx, gr)
    with inference_mode(block):  # the in-place residuals and GELU
        assert block.in_place and block.mlp.in_place
        assert torch.equal(block(x, ctx), ref)
    assert not block.in_place and not block.mlp.in_place


def test_residual_stream_runs_in_the_parameters_dtype():
    net = Transformer(32, 2, 4).eval()
    x, ctx = torch.randn(1, 4, 32), Context(torch.arange(4)[None], is_causal=True)
    seen = []
    for block in net.blocks:
        block.register_forward_hook(lambda _, __, out: seen.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(x.bfloat16(), ctx).dtype == torch.float32  # a bfloat16 input joins it
    assert net.dtype == torch.float32 and seen == [torch.float32] * 2
    assert net.to(torch.float64)(x, ctx).dtype == net.dtype == torch.float64
    assert seen[2:] == [torch.float64] * 2
