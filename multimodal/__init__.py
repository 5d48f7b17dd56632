"""tokenize-anything: text, images and audio as tokens of one width, read by one transformer."""

import os
import sys

# OpenMP reads these once, when torch loads; see multimodal.threads
if "torch" not in sys.modules and not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ):
    os.environ["GOMP_SPINCOUNT"] = "10000"

from multimodal.batch import Batch, collate
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tokenizer import Tokenizer
from multimodal.transformer import Transformer


def load(path, device="cpu", allow=()):
    """A `multimodal.inference.Predictor` for a checkpoint or an exported `.safetensors` file;
    `allow`: classes (or class paths) its stored config may name beyond the registry's."""
    from multimodal.inference import load as load_predictor  # keeps `import multimodal` light

    return load_predictor(path, device, allow)


__all__ = [
    "Batch",
    "InputError",
    "MultimodalModel",
    "Segment",
    "Tokenizer",
    "Transformer",
    "collate",
    "load",
]
