"""The training module stops on a non-finite loss before the weights change, naming the step,
the task and the batch, and keeps the last good checkpoint."""

import pytest
import torch

from multimodal.errors import InputError
from multimodal.train import train


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(lm_config, tmp_path):
    # lr 1e30: the first update makes the weights about 1e30, so step 1's loss overflows
    cfg = lm_config("optim.lr=1e30", "scheduler.warmup_steps=1", "save_every_n_steps=1")
    with pytest.raises(InputError) as e:
        train(cfg)
    message = str(e.value)
    assert message.startswith("training step 1 (epoch 0, batch 1): task 'lm' loss ")
    assert message.endswith("is not finite; training stopped, the last checkpoint is kept")
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 1
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_optimizer_and_schedule_come_from_config(lm_config, tmp_path):
    cfg = lm_config("optim=sgd", "scheduler=constant", "trainer.max_steps=3")
    train(cfg)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    [state] = last["optimizer_states"]
    assert all("momentum_buffer" in s for s in state["state"].values())  # SGD's, not AdamW's
    assert [g["lr"] for g in state["param_groups"]] == [0.05, 0.05]  # constant after no warm-up
    assert [g["weight_decay"] for g in state["param_groups"]] == [1e-4, 0.0]
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_the_zero_loss_of_an_emptied_batch_reaches_sharded_parameters(tmp_path):
    """Under FSDP2 parameters are DTensors; the zero loss adds each one's local shard."""
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    from multimodal.tasks.module import local

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        layer = fully_shard(torch.nn.Linear(4, 3))
        assert all(type(p).__name__ == "DTensor" for p in layer.parameters())
        loss = torch.tensor(1.5, requires_grad=True)
        total = loss + 0.0 * sum(local(p).sum() for p in layer.parameters())
        total.backward()
        assert total.item() == 1.5
        assert all(
            p.grad is not None and float(p.grad.full_tensor().abs().sum()) == 0
            for p in layer.parameters()
        )
    finally:
        dist.destroy_process_group()
