"""The streaming datamodules of each kind of shards `mm-data optimize` writes: text, images,
speech and image-clip pairs. Stored samples hold raw inputs (`multimodal.data.optimize`); the
makers here decode them and hand them to the tokenizers' preprocessors, in DataLoader workers.
"""

import io

import soundfile as sf
import torch
from PIL import Image, UnidentifiedImageError

from multimodal.data.optimize_text import vocab_fingerprint
from multimodal.data.streaming import StreamingDataModule
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor
from multimodal.tokenizers.audio_io import read_sound


def open_image(data, name: str) -> Image.Image:
    """Stored image bytes, opened (header only: `prepare` checks the size before decoding)."""
    try:
        return Image.open(io.BytesIO(bytes(data)))
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"{name} is not a readable image ({e})") from None


def read_audio(data, name: str, max_seconds: float) -> tuple:
    """Stored audio bytes to (samples (N,) or (N, C) float32, rate), read and checked as
    `audio_io.read_file` reads a file."""
    return read_sound(io.BytesIO(bytes(data)), name, max_seconds)


class TextWindow:
    """{"ids", "offset", "vocab"} -> a language-modelling `Example` of the window."""

    def __init__(self, text: Preprocessor):
        self.text = text

    def __call__(self, sample: dict) -> Example:
        ids = torch.from_numpy(sample["ids"].astype("int64"))  # (L,)
        return Example([self.text.prepare(ids)], meta={"offset": int(sample["offset"])})


class TextDocument:
    """{"text", "path"} -> the document's ids and an end-of-text, one `Example`."""

    def __init__(self, text: Preprocessor):
        self.text = text

    def __call__(self, sample: dict) -> Example:
        try:
            ids = self.text.prepare(sample["text"]).data
        except InputError as e:
            raise InputError(f"text file {sample['path']}: {e}") from None
        segment = Segment("text", torch.cat([ids, torch.tensor([self.text.eot])]))
        return Example([segment], meta={"path": sample["path"]})


class StreamingTextDataModule(StreamingDataModule):
    """Text shards: windows of token ids (written with the training's vocabulary, which is
    checked), or documents (tokenized here). Args (besides `StreamingDataModule`'s):
    block_size, the windows' length, checked (None: any)."""

    kind = "text"
    fields = WINDOWS = frozenset({"ids", "offset", "vocab"})
    DOCUMENTS = frozenset({"text", "path"})

    def __init__(self, root, block_size: int | None = None, **kwargs):
        super().__init__(root, **kwargs)
        self.block_size = block_size

    def check(self, sample: dict, folder: str) -> None:
        self.fields = self.check_fields(sample, folder, self.WINDOWS, self.DOCUMENTS)
        if self.fields == self.DOCUMENTS:
            return
        if sample["vocab"] != vocab_fingerprint(self.text):
            raise InputError(
                f"shard folder {folder} holds token ids of another vocabulary than the model's "
                "text tokenizer; write it again with this vocabulary (`mm-data optimize text`)"
            )
        length = len(sample["ids"])
        if self.block_size is not None and length != self.block_size:
            raise InputError(
                f"shard folder {folder} holds windows of {length} tokens; data.block_size is "
                f"{self.block_size}"
            )

    @property
    def text(self) -> Preprocessor:
        return self.preprocessor("text")

    def maker(self, split: str):
        return TextWindow(self.text) if self.fields == self.WINDOWS else TextDocument(self.text)


class LabelledImage:
    """{"image", "label", "path"} -> `Example([image], target=class index)`."""

    def __init__(self, image: Preprocessor, classes: list[str], train: bool):
        self.image, self.classes, self.train = image, classes, train

    def __call__(self, sample: dict) -> Example:
        path, label = sample["path"], sample["label"]
        if label not in self.classes:
            raise InputError(f"image {path} has class {label!r}, not one of {self.classes}")
        name = f"image file {path}"
        seg = self.image.prepare(open_image(sample["image"], name), train=self.train, name=name)
        target = self.classes.index(label)
        return Example([seg], target=target, meta={"path": path, "label": target})


class StreamingImageDataModule(StreamingDataModule):
    """Image shards with class names. Args (besides `StreamingDataModule`'s): classes, the
    class names in index order; modality, the preprocessor that prepares the images."""

    kind = "images"
    fields = frozenset({"image", "label", "path"})

    def __init__(self, root, classes: list[str], modality: str = "image", **kwargs):
        super().__init__(root, **kwargs)
        self.classes, self.modality = [str(c) for c in classes], modality

    def maker(self, split: str):
        return LabelledImage(self.preprocessor(self.modality), self.classes, split == "train")


class Clip:
    """{"audio", "text", "where"} -> `Example([audio], target=transcript)`; the transcript is
    lowercased if asked and must fit `charset` (None: any)."""

    def __init__(self, audio: Preprocessor, charset: str | None, lowercase: bool):
        self.audio, self.charset, self.lowercase = audio, charset, lowercase

    def __call__(self, sample: dict) -> Example:
        where, text = sample["where"], sample["text"]
        text = text.lower() if self.lowercase else text
        bad = [c for c in dict.fromkeys(text) if self.charset is not None and c not in self.charset]
        if bad:
            raise InputError(
                f"{where} has transcript characters {bad} outside the CTC vocabulary "
                f"{self.charset!r}"
            )
        try:
            wave = read_audio(sample["audio"], f"audio of {where}", self.audio.max_seconds)
            seg = self.audio.prepare(wave)
        except InputError as e:
            raise InputError(f"{where}: {e}") from None
        return Example([seg], target=text, meta={"where": where})


class StreamingSpeechDataModule(StreamingDataModule):
    """Clip shards with transcripts. Args (besides `StreamingDataModule`'s): charset, the
    characters a transcript may hold (None: any); lowercase, lowercase transcripts first."""

    kind = "speech"
    fields = frozenset({"audio", "text", "where"})

    def __init__(self, root, charset: str | None = None, lowercase: bool = False, **kwargs):
        super().__init__(root, **kwargs)
        self.charset, self.lowercase = charset, lowercase

    def maker(self, split: str):
        return Clip(self.preprocessor("audio"), self.charset, self.lowercase)


class Pair:
    """{"image", "audio", "same", "path"} -> `Example([image, audio], target=same)`."""

    def __init__(self, image: Preprocessor, audio: Preprocessor, train: bool):
        self.image, self.audio, self.train = image, audio, train

    def __call__(self, sample: dict) -> Example:
        path = sample["path"]
        name = f"image of pair {path}"
        image = self.image.prepare(open_image(sample["image"], name), train=self.train, name=name)
        wave = read_audio(sample["audio"], f"audio of pair {path}", self.audio.max_seconds)
        segments = [image, self.audio.prepare(wave)]
        return Example(segments, target=int(sample["same"]), meta={"path": path})


class StreamingPairsDataModule(StreamingDataModule):
    """Image-clip pair shards; target 1 when the clip says the image's class. Args: see
    `StreamingDataModule`."""

    kind = "pairs"
    fields = frozenset({"image", "audio", "same", "path"})

    def maker(self, split: str):
        image, audio = self.preprocessor("image"), self.preprocessor("audio")
        return Pair(image, audio, split == "train")
