"""tokenize-anything: text, images and audio as tokens of one width, read by one transformer."""

from multimodal.batch import Batch, collate
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tokenizer import Tokenizer
from multimodal.transformer import Transformer

__all__ = [
    "Batch",
    "InputError",
    "MultimodalModel",
    "Segment",
    "Tokenizer",
    "Transformer",
    "collate",
]
