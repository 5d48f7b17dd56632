"""TextDataModule: a file with nothing printable in it is a bad sample, named or skipped."""

import pytest
import torch

from multimodal.data.text import TextDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.text_preprocessor import TextPreprocessor

BAD = {
    "nul.txt": (b"\x00" * 100, "holds NUL bytes"),
    "utf16.txt": ("To be, or not to be\n".encode("utf-16-le"), "holds NUL bytes"),
    "control.txt": (b"\x01\x02\x1b\x7f\x0c\n\t", "holds only control characters"),
    "blank.txt": (b" \n\r\n\t", "is empty"),
    "latin1.txt": ("café".encode("latin-1"), "is not valid UTF-8"),
}


def text_data(root, byte_encoding, policy) -> TextDataModule:
    return TextDataModule(
        root,
        block_size=8,
        preprocessors={"text": TextPreprocessor(encoding=byte_encoding)},
        collate_fn=list,
        on_bad_sample=policy,
    )


@pytest.mark.parametrize("name", list(BAD))
def test_text_without_printable_content_is_a_bad_sample(tmp_path, byte_encoding, name):
    content, message = BAD[name]
    for folder in ("good", "mixed"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "good.txt").write_text("To be, or not to be, that is it.\n" * 3)
    (tmp_path / "mixed" / name).write_bytes(content)
    with pytest.raises(InputError, match=f"text file .*{name} {message}"):
        text_data(tmp_path / "mixed", byte_encoding, "raise").setup()

    data, clean = (text_data(tmp_path / f, byte_encoding, "skip") for f in ("mixed", "good"))
    data.setup()
    clean.setup()
    assert len(data.bad_samples.skipped) == 1 and message in data.bad_samples.skipped[0]
    for split in ("train", "val"):  # the same tokens as without the bad file
        assert torch.equal(data.splits[split].ids, clean.splits[split].ids)
