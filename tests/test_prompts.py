import math

import pytest

from pixforge.errors import ConfigError
from pixforge.prompts import Weighted, parse_image_prompts, parse_noise_prompts, parse_prompts


def test_plain_and_pipe_separated():
    assert parse_prompts("a red circle") == [Weighted("a red circle", 1.0, -math.inf)]
    assert [p.value for p in parse_prompts("a | b|c")] == ["a", "b", "c"]


def test_weight_and_stop():
    (a, b, c) = parse_prompts("cat:2|dog:-1|sky:1.5:0.8")
    assert (a.value, a.weight) == ("cat", 2.0)
    assert (b.value, b.weight) == ("dog", -1.0)
    assert (c.value, c.weight, c.stop) == ("sky", 1.5, 0.8)


def test_colons_inside_text_stay():
    (p,) = parse_prompts("style: watercolor of a fox:2")
    assert p.value == "style: watercolor of a fox" and p.weight == 2.0
    (q,) = parse_prompts("time: 10 o'clock")
    assert q.value == "time: 10 o'clock"


def test_list_input():
    assert [p.value for p in parse_prompts(["a|b", "c"])] == ["a", "b", "c"]


@pytest.mark.parametrize("bad", ["a|||b", "a|| ", ":2", "cat:1.2.3", " | "])  # "a||b" is two scenes (test_animation)
def test_bad_syntax_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        parse_prompts(bad)


def test_image_prompts_need_files(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"not checked here")
    (p,) = parse_image_prompts(f"{image}:0.5")
    assert p.value == str(image) and p.weight == 0.5
    with pytest.raises(ConfigError, match="missing.png"):
        parse_image_prompts(str(tmp_path / "missing.png"))


def test_noise_prompts_need_integer_seeds():
    (p,) = parse_noise_prompts("123:0.3")
    assert p.value == "123" and p.weight == 0.3
    with pytest.raises(ConfigError, match="whole number"):
        parse_noise_prompts("abc:1")
