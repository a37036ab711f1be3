import pytest
from pydantic import BaseModel

from coldstart_exp.llm import parse_json, parse_numbered_steps
from coldstart_exp.llm.errors import ParseError
from coldstart_exp.llm.parsing import parse_choice


class Profile(BaseModel):
    genre: str
    reason: str


@pytest.mark.parametrize("text,expected", [
    ("1. a\n2. b\n3. c", ["a", "b", "c"]),
    ("Sure!\n1) a\n2) b", ["a", "b"]),
    ("Step 1: a\nStep 2: b", ["a", "b"]),
    ("**Step 1:** a\n**Step 2:** b", ["a", "b"]),
    ("(1) a\n(2) b", ["a", "b"]),
    ("1.a\n2.b", ["a", "b"]),
    ("1. a that\ncontinues here\n2. b", ["a that continues here", "b"]),
    ("1. a\n\nThe end chatter\n2. b", ["a", "b"]),
])
def test_numbered_steps_formats(text, expected):
    assert parse_numbered_steps(text) == expected


def test_numbered_steps_loop_and_restart_are_cut():
    looping = "1. likes action\n2. likes action\n3. genre Action\n1. likes action\n2. again"
    assert parse_numbered_steps(looping) == ["likes action", "genre Action"]  # dedup + stop at restart


def test_numbered_steps_bounds():
    assert parse_numbered_steps("1. a\n2. b\n3. c\n4. d\n5. e", max_steps=3) == ["a", "b", "c"]
    with pytest.raises(ParseError):
        parse_numbered_steps("1. only one", min_steps=3)


@pytest.mark.parametrize("bad", ["", "   ", "no numbers at all", "1995 was a year\n2001 too", None])
def test_numbered_steps_malformed(bad):
    with pytest.raises(ParseError):
        parse_numbered_steps(bad)


def test_numbered_steps_skipped_number_stops():
    assert parse_numbered_steps("1. a\n3. c\n4. d") == ["a"]


@pytest.mark.parametrize("text", [
    '{"genre": "Drama", "reason": "likes {braces} in text"}',
    'Here you go:\n```json\n{"genre": "Drama", "reason": "x",}\n```',
    "{'genre': 'Drama', 'reason': 'x'}",
    'prefix {"genre": "Drama", "reason": "x"} suffix {"other": 1}',
])
def test_parse_json_tolerant_extraction(text):
    out = parse_json(text, Profile)
    assert isinstance(out, Profile) and out.genre == "Drama"


def test_parse_json_without_schema_and_arrays():
    assert parse_json("[1, 2, 3]") == [1, 2, 3]
    assert parse_json('x {"a": True, "b": None}') == {"a": True, "b": None}


@pytest.mark.parametrize("bad", ["", "no json here", '{"genre": "Drama"', "{genre: Drama}"])
def test_parse_json_malformed(bad):
    with pytest.raises(ParseError):
        parse_json(bad)


def test_parse_json_schema_violation():
    with pytest.raises(ParseError, match="schema"):
        parse_json('{"genre": "Drama"}', Profile)  # reason missing


def test_parse_choice():
    assert parse_choice("I think Sci-Fi, maybe Drama", ["Drama", "Sci-Fi"]) == "Sci-Fi"
    with pytest.raises(ParseError):
        parse_choice("no idea", ["Drama"])
