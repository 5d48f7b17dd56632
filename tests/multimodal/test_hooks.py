"""Forward hooks see what each layer really took and gave: nothing captured is overwritten later.

Hooks on every module of the backbone (blocks, attention, MLPs and the linear layers and norms
inside them) keep references to their inputs and outputs, with a copy taken at that moment; after
the forward, the references must still equal the copies, and a clean recompute of each module on
its captured input must give its captured output.
"""

from dataclasses import fields

import pytest
import torch

from multimodal.attention import Attention
from multimodal.block import Block
from multimodal.context import Context
from multimodal.generation import generate
from multimodal.inference_mode import inference_mode
from multimodal.mlp import MLP

OBSERVED = (Block, Attention, MLP)


def tensors(value) -> list[torch.Tensor]:
    """The tensors inside args, kwargs, outputs and contexts, in a fixed order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Context):
        value = [getattr(value, f.name) for f in fields(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [t for v in value for t in tensors(v)]
    return []


def capture(model) -> tuple[list, list]:
    records = []

    def hook(module, args, kwargs, output):
        seen = tensors((args, kwargs, output))
        records.append((module, args, kwargs, output, [t.detach().clone() for t in seen]))

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in model.backbone.modules()]
    return records, handles


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("keep", [False, True], ids=["all", "keep"])
@pytest.mark.parametrize("mask", ["causal", "prefix"])
def test_hooks_capture_what_a_clean_recompute_gives(tiny_lm, grad, keep, mask):
    text = tiny_lm.tokenizer("text")
    batch = tiny_lm.collate([[text.prepare("To be, or not")], [text.prepare("a sea")]], [2, 1])
    kept = torch.tensor([[4], [2]]) if keep else None
    records, handles = capture(tiny_lm)
    with torch.set_grad_enabled(grad):
        tiny_lm(batch, mask=mask, keep=kept)
    for h in handles:
        h.remove()
    n_layers = tiny_lm.backbone.n_layers
    observed = [type(m).__name__ for m, *_ in records if isinstance(m, OBSERVED)]
    assert sorted(observed) == sorted(["Block", "Attention", "MLP"] * n_layers)
    assert len(records) > 3 * n_layers  # the layers inside them too
    for module, args, kwargs, output, copies in records:
        name = type(module).__name__
        now = tensors((args, kwargs, output))
        assert all(torch.equal(t, c) for t, c in zip(now, copies, strict=True)), name
        with torch.no_grad():
            again = module(*args, **kwargs)
        assert torch.equal(again, output.detach()), name


def test_inference_mode_is_fast_and_equal_inside_and_restores_everything(tiny_lm):
    text = tiny_lm.tokenizer("text")
    batch = tiny_lm.collate([[text.prepare("To be, or not")], [text.prepare("a sea")]])
    tiny_lm.train()
    tiny_lm.tokenizers.eval()  # a part in another mode than the whole comes back as it was
    with torch.no_grad():
        want = tiny_lm.eval()(batch)
    tiny_lm.train()
    tiny_lm.tokenizers.eval()
    layers = [m for m in tiny_lm.modules() if isinstance(m, Block | MLP)]
    with inference_mode(tiny_lm) as model:
        assert model is tiny_lm and not torch.is_grad_enabled() and not tiny_lm.training
        assert all(m.in_place for m in layers)
        with inference_mode(tiny_lm):  # nested: nothing more to switch, nothing undone early
            pass
        assert all(m.in_place for m in layers)
        got = tiny_lm(batch)
    assert torch.equal(got, want)
    assert not any(m.in_place for m in layers) and torch.is_grad_enabled()
    assert tiny_lm.training and tiny_lm.backbone.training and not tiny_lm.tokenizers.training


def test_inference_mode_restores_after_an_error(tiny_lm):
    with pytest.raises(RuntimeError), inference_mode(tiny_lm, prepack=True):
        raise RuntimeError
    assert not any(m.in_place for m in tiny_lm.modules() if isinstance(m, Block | MLP))
    assert not any("forward" in vars(m) for m in tiny_lm.modules())


def test_generation_runs_in_inference_mode(tiny_lm):
    seen = []
    block = tiny_lm.backbone.blocks[0]
    handle = block.register_forward_pre_hook(lambda m, _: seen.append(m.in_place))
    text = tiny_lm.tokenizer("text")
    generate(tiny_lm, [[text.prepare("To be")]], max_new_tokens=3, temperature=0)
    handle.remove()
    assert seen == [True] * 3 and not block.in_place  # the prompt and two decoding steps
