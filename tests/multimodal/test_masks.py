import pytest
import torch

from multimodal.errors import InputError
from multimodal.masks import attention_mask, query_rows


def reference(kind, T, length, prefix):
    """Hand-written loops over one right-padded sequence of `length` real tokens."""
    m = torch.zeros(T, T, dtype=torch.bool)
    for i in range(T):
        for j in range(length):
            qi = i if i < length else 0  # padded queries sit at position 0
            if kind == "bidirectional" or j <= qi or (kind == "prefix" and j < prefix):
                m[i, j] = True
    return m


@pytest.mark.parametrize("kind", ["causal", "bidirectional", "prefix"])
def test_mask_matches_loops(kind):
    T, length, prefix = 6, 4, 2
    pos = torch.tensor([[0, 1, 2, 3, 0, 0]])
    pad = torch.tensor([[False] * 4 + [True] * 2])
    got = attention_mask(kind, pos, pos, pad, torch.tensor([prefix]))
    assert got.shape == (1, 1, T, T)
    assert torch.equal(got[0, 0], reference(kind, T, length, prefix))


def test_every_query_sees_a_key():
    pos = torch.tensor([[0, 0, 0, 1, 2]])  # left padded
    pad = torch.tensor([[True, True, False, False, False]])
    for kind in ("causal", "bidirectional", "prefix"):
        assert attention_mask(kind, pos, pos, pad, torch.tensor([0])).any(-1).all()


def test_unknown_kind():
    pos = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(InputError, match="mask kind 'sideways'"):
        attention_mask("sideways", pos, pos, torch.zeros(1, 2, dtype=torch.bool), torch.zeros(1))


@pytest.mark.parametrize("kind", ["causal", "bidirectional", "prefix"])
def test_query_rows_are_the_rows_of_the_kept_columns(kind):
    pos = torch.tensor([[0, 1, 2, 3, 0, 0], [0, 1, 2, 3, 4, 5]])
    pad = torch.tensor([[False] * 4 + [True] * 2, [False] * 6])
    full = attention_mask(kind, pos, pos, pad, torch.tensor([2, 3]))
    keep = torch.tensor([[3, 0], [5, 2]])
    rows = query_rows(full, False, keep, 6)
    assert rows.shape == (2, 1, 2, 6)
    assert torch.equal(rows[0, 0], full[0, 0, [3, 0]]) and torch.equal(
        rows[1, 0], full[1, 0, [5, 2]]
    )


def test_query_rows_turn_the_causal_flag_into_a_mask():
    pos = torch.arange(5)[None]
    causal = attention_mask("causal", pos, pos, torch.zeros(1, 5, dtype=torch.bool), pos[:, 0])
    keep = torch.tensor([[4, 1]])
    assert torch.equal(query_rows(None, True, keep, 5), causal[:, :, [4, 1]])
    assert query_rows(None, False, keep, 5) is None
