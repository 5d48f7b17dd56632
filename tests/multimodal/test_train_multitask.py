"""Multi-task training: experiment=multitask_demo end to end on small stand-in data."""

import pytest
from hydra import compose, initialize_config_module

import multimodal
from multimodal.errors import InputError
from multimodal.train import build_tasks, train

TASKS = ("lm", "digit", "caption", "transcribe", "same")


def demo_config(root, rank_file, tmp_path, *overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=multitask_demo",
                f"data_root={root}",
                f"run_dir={tmp_path / 'run'}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=2",
                "model.context_length=64",
                "model.tokenizers.audio.max_seconds=0.5",
                "tasks.lm.data.block_size=32",
                "tasks.same.data.pairs_per_clip=4",
                "tasks.transcribe.task.max_new_tokens=8",
                "mix_batch_size=40",
                "trainer.max_steps=60",
                "trainer.max_time=null",
                "trainer.val_check_interval=30",
                "trainer.limit_val_batches=2",
                "optim.lr=3e-3",
                "scheduler.warmup_steps=5",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "~callbacks.loss_curve",
                "~loggers.tensorboard",
                *overrides,
            ],
        )


def test_five_tasks_train_together_and_each_head_works(demo_root, rank_file, tmp_path):
    results = train(demo_config(demo_root, rank_file, tmp_path))
    for name in TASKS:  # every task logs its own loss under its own name
        assert f"{name}/train_loss" in results and f"{name}/val_loss" in results
    assert {
        "digit/test_acc",
        "same/test_acc",
        "transcribe/test_wer",
        "caption/test_perplexity",
    } <= set(results)
    assert results["digit/test_acc"] >= 0.5  # ten classes: chance is 0.1
    weighted = sum(results[f"{name}/val_loss"] for name in TASKS)  # weights are all 1
    assert results["val_loss"] == pytest.approx(weighted, rel=1e-4)

    model = multimodal.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    digit = demo_root / "images" / "mnist5k" / "test" / "3" / "0.png"
    clip = demo_root / "speech" / "spoken_digits" / "test" / "3_0.wav"
    assert model.classify(digit, head="digit")[0][0] in [str(d) for d in range(10)]
    assert model.classify([[digit, clip]], head="same")[0][0][0] in ("same", "different")
    assert isinstance(model.generate([digit, "The digit is"], max_new_tokens=4), str)
    assert isinstance(model.transcribe(clip), str)


def test_loss_weights_and_ratios_shape_the_steps(demo_root, rank_file, tmp_path):
    cfg = demo_config(demo_root, rank_file, tmp_path, "tasks.lm.ratio=3.0", "tasks.same.weight=0.5")
    tasks, data, weights = build_tasks(cfg)  # the data is built with no model
    assert weights == {"lm": 1.0, "digit": 1.0, "caption": 1.0, "transcribe": 1.0, "same": 0.5}
    sizes = {name: dm.train_batch_size for name, dm in data.datamodules.items()}
    assert sizes == {"lm": 17, "digit": 6, "caption": 6, "transcribe": 6, "same": 6}  # 40 * 3/7
    data.setup("fit")
    batches = next(iter(data.train_dataloader()))[0]  # one batch of every task
    assert {name: b.shape[0] for name, b in batches.items()} == sizes
    assert all(list(b.targets) == [name] for name, b in batches.items())


@pytest.mark.parametrize(
    "override, match",
    [
        ("tasks.same.ratio=0.0", "tasks.same.ratio must be positive"),
        ("tasks.lm.weight=heavy", "config key tasks.lm.weight must be float"),
        ("mix_batch_size=3", "mix_batch_size 3 is smaller than the number of tasks"),
        ("tasks.same.data.words=[one]", "data.words has 1 words for 10 image classes"),
    ],
)
def test_bad_multitask_settings_are_named(demo_root, rank_file, tmp_path, override, match):
    with pytest.raises(InputError, match=match):
        train(demo_config(demo_root, rank_file, tmp_path, override, "trainer.max_steps=1"))


def test_a_task_without_its_data_is_named(demo_root, rank_file, tmp_path):
    cfg = demo_config(demo_root, rank_file, tmp_path)
    cfg.tasks.same.data = None
    with pytest.raises(InputError, match="config key tasks.same.data is not set"):
        train(cfg)


def test_pack_packs_the_tasks_that_can(demo_root, rank_file, tmp_path):
    cfg = demo_config(
        demo_root,
        rank_file,
        tmp_path,
        "pack=true",
        "model.context_length=128",
        "~tasks.digit",
        "~tasks.same",
        "tasks.transcribe.task.ctc_weight=0",
        "trainer.max_steps=20",
        "trainer.val_check_interval=null",
        "trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
    )
    _, data, _ = build_tasks(cfg)
    data.setup("fit")
    batches = next(iter(data.train_dataloader()))[0]
    for name in ("caption", "transcribe"):  # variable-length samples, several to a row
        batch = batches[name]
        assert batch.shape[1] == 128 and batch.documents is not None
        assert int(batch.documents.max()) + 1 == data.datamodules[name].train_batch_size
        assert batch.shape[0] < data.datamodules[name].train_batch_size
    for name in ("caption", "transcribe"):  # validation reads one sample per row
        assert next(iter(data.datamodules[name].val_dataloader())).documents is None
    results = train(cfg)
    assert results["caption/train_loss"] < 5.0 and results["transcribe/train_loss"] < 5.0


def test_pack_refuses_tasks_that_read_one_sample_per_row(demo_root, rank_file, tmp_path):
    with pytest.raises(InputError, match="^task 'digit' cannot pack its batches: its targets"):
        build_tasks(demo_config(demo_root, rank_file, tmp_path, "pack=true"))
