"""CTC parts: the character vocabulary, best-path decoding, targets and the loss."""

import pytest
import torch

from multimodal.errors import InputError
from multimodal.tasks.char_vocab import BLANK, CharVocab
from multimodal.tasks.ctc_head import CTCHead
from multimodal.tasks.transcribe_ctc import ctc_loss, ctc_targets, greedy_texts

CHARS = " 'abcdefghijklmnopqrstuvwxyz"


def test_ids_start_after_the_blank_and_round_trip():
    vocab = CharVocab(CHARS)
    assert vocab.size == 29 and BLANK == 0
    assert vocab.encode("a b") == [3, 1, 4]
    assert vocab.decode(vocab.encode("it's ok")) == "it's ok"


def test_best_path_collapses_repeats_then_drops_blanks():
    vocab = CharVocab("helo")
    h, e, l, o = 1, 2, 3, 4  # noqa: E741
    assert vocab.greedy([0, h, h, e, 0, l, l, 0, l, o, o, 0]) == "hello"
    assert vocab.greedy([l, l, l]) == "l" and vocab.greedy([]) == "" and vocab.greedy([0, 0]) == ""


def test_vocabulary_errors_name_the_input():
    with pytest.raises(InputError, match=r"repeats the characters \['a'\]"):
        CharVocab("abca")
    with pytest.raises(InputError, match="non-empty string"):
        CharVocab("")
    with pytest.raises(InputError, match=r"clip7.wav has characters \['T', '!'\] outside"):
        CharVocab(CHARS).encode("Two!", "transcript of clip7.wav")


def test_targets_are_padded_and_must_fit_the_audio():
    vocab = CharVocab(CHARS)
    targets = ctc_targets(vocab, ["ab", "c"], [5, 5], ["x", "y"])
    assert targets.tolist() == [[3, 4], [5, -100]]
    ctc_targets(vocab, ["aab"], [4], ["x"])  # a, blank, a, b
    with pytest.raises(InputError, match="transcript of x needs 4 CTC steps but its audio gives 3"):
        ctc_targets(vocab, ["aab"], [3], ["x"])


def test_loss_matches_torch_on_a_hand_made_path_and_decodes_it():
    vocab = CharVocab("ab")
    path = torch.tensor([[1, 1, 0, 2, 0], [2, 0, 0, 0, 0]])  # "ab" in 5 steps; "b" in 1 (+ pad)
    logits = torch.nn.functional.one_hot(path, 3).float() * 20  # (B, L, C), confident
    lengths = torch.tensor([5, 1])
    targets = torch.tensor([[1, 2], [2, -100]])
    loss = ctc_loss(logits, lengths, targets)
    assert loss < 1e-3
    assert greedy_texts(vocab, logits, lengths) == ["ab", "b"]
    wrong = ctc_loss(logits, lengths, torch.tensor([[2, 1], [1, -100]]))
    assert wrong > 10


def test_head_maps_width_to_characters_plus_blank():
    head = CTCHead(d_model=8, vocab=CHARS)
    assert head(torch.zeros(2, 5, 8)).shape == (2, 5, 29) and head.vocab.chars == CHARS
