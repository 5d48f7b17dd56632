"""Inference options: one place for every setting, each refused by name when it is wrong."""

import pytest

from multimodal.errors import InputError
from multimodal.options import Options


def test_sampling_takes_the_tasks_temperature_unless_one_is_given():
    assert Options().sampling(temperature=0.0) == dict(
        temperature=0.0, top_k=None, top_p=None, seed=None, use_cache=True
    )
    given = Options(temperature=0.7, top_k=5, top_p=0.9, seed=3, use_cache=False)
    assert given.sampling(temperature=1.0) == dict(
        temperature=0.7, top_k=5, top_p=0.9, seed=3, use_cache=False
    )


@pytest.mark.parametrize(
    "setting, says",
    [
        ({"max_new_tokens": "8"}, "max_new_tokens must be a positive int, got '8'"),
        ({"max_new_tokens": 0}, "max_new_tokens must be a positive int, got 0"),
        ({"labels": 2.0}, "labels must be a positive int, got 2.0"),
        ({"batch_size": True}, "batch_size must be a positive int, got True"),
        ({"top_k": 0}, "top_k must be a positive int, got 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number, got nan"),
        ({"temperature": "hot"}, "temperature must be a finite number, got 'hot'"),
        ({"temperature": -0.5}, r"temperature must be 0 \(greedy\) or positive, got -0.5"),
        ({"top_p": 0.0}, r"top_p must lie in \(0, 1\], got 0.0"),
        (
            {"seed": 2**70},
            r"seed must be an int in \[-2\*\*63, 2\*\*64\), got 1180591620717411303424",
        ),
        ({"seed": 1.5}, "seed must be an int"),
        ({"use_cache": "yes"}, "use_cache must be true or false, got 'yes'"),
        ({"stop_at_eot": None}, "stop_at_eot must be true or false, got None"),
    ],
)
def test_a_wrong_setting_is_named(setting, says):
    with pytest.raises(InputError, match=f"^{says}"):
        Options(**setting)


def test_settings_by_name_refuse_an_unknown_name():
    assert Options.of(top_k=3, labels=2) == Options(top_k=3, labels=2)
    with pytest.raises(InputError, match="'topk' is no inference setting; expected some of"):
        Options.of(topk=3)
