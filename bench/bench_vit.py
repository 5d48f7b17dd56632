"""Image classification speed at ViT-Tiny sizes: our image tokenizer + shared transformer +
classifier head against timm's `vit_tiny_patch16_224` (built without pretrained weights).

Both sides: 224x224 RGB, patch 16 (196 patches + a class token), width 192, depth 12, 3 heads,
MLP ratio 4, 1000 classes, class-token pooling, the same batch, in the same process,
alternating. Ours runs without rotary positions (`rotary=False`): its patches carry 2D position
embeddings from the tokenizer, as timm's carry learned ones, and timm has no rotary either.
Ours starts from prepared images (normalized tensors) and includes collation (patch packing),
as timm's figure includes its conv patch embedding. Ours computes the logits as the classify
task does (`ClassifierHead.logits`): with class-token pooling, only the class token goes
through the last block's MLP and output projection, since no other token's last output is
read. Two figures each: inference (eval, no grad) and a training step (forward, cross-entropy,
backward).
"""

import torch
import torch.nn.functional as F
from common import measure, record

from multimodal.inference_mode import inference_mode
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tasks.classifier_head import ClassifierHead
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.transformer import Transformer

SIZE, PATCH, WIDTH, DEPTH, HEADS, CLASSES = 224, 16, 192, 12, 3, 1000
PEER, UNIT = "timm vit_tiny_patch16_224", "images/s"


def ours_model() -> MultimodalModel:
    grid = SIZE // PATCH
    tok = ImageTokenizer(
        WIDTH, patch_size=PATCH, channels=3, max_patches=grid * grid, class_token=True
    )
    return MultimodalModel(
        {"image": tok},
        Transformer(WIDTH, DEPTH, HEADS, rotary=False),
        {"classifier": ClassifierHead(WIDTH, CLASSES, pooling="cls")},
        context_length=grid * grid + 1,
    )


def peer_model():
    import timm

    return timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES)


def ours_logits(model: MultimodalModel, segments: list[Segment]) -> torch.Tensor:
    batch = model.collate([[s] for s in segments])
    head = model.head("classifier")  # reads the class token's column only
    return head(model(batch, mask="bidirectional", keep=head.columns(batch)), batch)  # (B, K)


def compare(batch_size: int, repeats: int, warmup: int) -> list[dict]:
    torch.manual_seed(0)
    images = torch.randn(batch_size, 3, SIZE, SIZE)  # already normalized pixels
    labels = torch.randint(0, CLASSES, (batch_size,))
    segments = [Segment("image", img) for img in images]
    ours, peer = ours_model(), peer_model()
    config = {
        "batch": batch_size,
        "image": SIZE,
        "patch": PATCH,
        "width": WIDTH,
        "depth": DEPTH,
        "heads": HEADS,
        "classes": CLASSES,
        "rotary": False,
        "threads": torch.get_num_threads(),
    }

    ours.eval(), peer.eval()

    def ours_infer():
        with inference_mode(ours):
            return ours_logits(ours, segments)

    @torch.no_grad()
    def peer_infer():
        return peer(images)

    t_ours, t_peer = measure(ours_infer, peer_infer, repeats, warmup)
    records = [
        record(
            "vit_tiny_inference",
            batch_size / t_ours,
            batch_size / t_peer,
            PEER,
            UNIT,
            True,
            {**config, "mode": "eval, no_grad"},
        )
    ]

    ours.train(), peer.train()

    def ours_train():
        F.cross_entropy(ours_logits(ours, segments), labels).backward()

    def peer_train():
        F.cross_entropy(peer(images), labels).backward()

    t_ours, t_peer = measure(ours_train, peer_train, repeats, warmup)
    records.append(
        record(
            "vit_tiny_train_step",
            batch_size / t_ours,
            batch_size / t_peer,
            PEER,
            UNIT,
            True,
            {**config, "mode": "train, forward + cross-entropy + backward"},
        )
    )
    return records


def run(batch_size: int = 32, repeats: int = 7, warmup: int = 2) -> list[dict]:
    return compare(batch_size, repeats, warmup)


if __name__ == "__main__":
    for r in run():
        print(r)
