"""init_from + freeze: a new head on a trained, frozen backbone; the old head still works."""

import pytest
import torch

from multimodal.checkpoint import load_model
from multimodal.errors import InputError
from multimodal.generation import generate
from multimodal.train import train

from .test_train import config


def test_new_head_on_a_frozen_backbone(corpus_root, rank_file, tmp_path):
    first = tmp_path / "first"
    train(config(corpus_root, rank_file, first))
    source_ckpt = first / "run" / "checkpoints" / "last.ckpt"
    source = load_model(source_ckpt)

    second = tmp_path / "second"
    cfg = config(
        corpus_root,
        rank_file,
        second,
        f"init_from={source_ckpt}",
        "freeze=[backbone,tokenizers]",
        "model.heads={}",
        "+model.heads.lm2._target_=multimodal.tasks.lm_head.LMHead",
        "+model.heads.lm2.tie_to=null",
        "+model.heads.lm2.d_model=32",
        "+model.heads.lm2.vocab_size=268",
        "task.name=lm2",
        "task.head=lm2",
        "trainer.max_epochs=1",
    )
    train(cfg)
    result = load_model(second / "run" / "checkpoints" / "last.ckpt")
    assert set(result.heads) == {"lm", "lm2"}
    for name, p in source.backbone.state_dict().items():
        assert torch.equal(p, result.backbone.state_dict()[name]), name
    assert not torch.equal(result.heads["lm2"].weight, result.heads["lm"].weight)

    text = source.tokenizer("text")
    prompt = [[text.prepare("To be, or not")]]
    assert generate(source, prompt, 12, temperature=0) == generate(
        result, prompt, 12, temperature=0
    )
    assert len(generate(result, prompt, 12, temperature=0, head="lm2")[0]) == 12


def test_bad_freeze_and_init_from(corpus_root, rank_file, tmp_path):
    with pytest.raises(InputError, match="freeze entry 'brain' is unknown"):
        train(config(corpus_root, rank_file, tmp_path, "freeze=[brain]"))
    with pytest.raises(InputError, match="checkpoint .*missing.ckpt does not exist"):
        train(config(corpus_root, rank_file, tmp_path, f"init_from={tmp_path / 'missing.ckpt'}"))
