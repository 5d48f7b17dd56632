import pytest
import torch

from multimodal.model import MultimodalModel
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.audio import AudioTokenizer
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer


@pytest.fixture(scope="module")
def mixed_model(rank_file) -> MultimodalModel:
    """A width-32 text + image + audio model with an LM head, in eval mode, whose outputs depend
    on every token it may see: a wrong mask, position or padding changes them."""
    torch.manual_seed(0)
    d = 32
    model = MultimodalModel(
        {
            "text": TextTokenizer(d, vocab=str(rank_file)),
            "image": ImageTokenizer(d, patch_size=4),
            "audio": AudioTokenizer(d, max_seconds=1.0),
        },
        Transformer(d, n_layers=2, n_heads=4),
        {"lm": LMHead()},
        context_length=128,
    ).eval()
    with torch.no_grad():
        # At the default init each block adds little to its input, so the tied LM head just
        # repeats the last token. Unit-variance layers and a wider text embedding make greedy
        # continuations depend on the whole prompt, so a wrong mask or padding changes them.
        for layer in model.backbone.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, std=layer.in_features**-0.5)
        torch.nn.init.normal_(model.tokenizers["text"].embedding.weight, std=0.1)
        for tok in model.tokenizers.values():  # tell the modalities apart
            torch.nn.init.normal_(tok.modality_embedding, std=0.02)
    return model
