from __future__ import annotations

import json

import pytest

from glint.domain.errors import InvalidInput
from glint.domain.input_rules import (
    INT32,
    INT64,
    MAX_JSON_DEPTH,
    check_document,
    check_integer,
    check_text_input,
    check_text_size,
    json_text,
    parse_json_document,
)


@pytest.mark.parametrize("text", ["", "plain", "é中😀", "\ufffd", "\x01\x7f", "\ud83d\ude00".encode(
    "utf-16", "surrogatepass").decode("utf-16")])
def test_storable_text(text: str) -> None:
    check_text_input(text, "The text")


@pytest.mark.parametrize("text, message", [
    ("a\x00b", "The text contains a NUL character (\\u0000), which is not allowed."),
    ("\udc80", "The text contains an unpaired UTF-16 surrogate (\\udc80), which is not valid"),
    ("x\ud800", "unpaired UTF-16 surrogate (\\ud800)"),
])
def test_unstorable_text(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_text_input(text, "The text")
    assert message in raised.value.message


def test_text_size_counts_utf8_bytes() -> None:
    check_text_size("v", "x" * 65_535)
    check_text_size("v", "中" * 21_845)  # 65,535 bytes
    for text in ("x" * 65_536, "中" * 21_846, "😀" * 16_384):
        with pytest.raises(InvalidInput, match="^v is longer than 65535 bytes.$"):
            check_text_size("v", text)


def test_json_text_is_what_is_stored() -> None:
    assert json.loads(json_text("doc", {"a": [1, "b"]})) == {"a": [1, "b"]}
    with pytest.raises(InvalidInput, match="doc is longer than 65535 bytes"):
        json_text("doc", ["x" * 40_000, "y" * 40_000])


def test_integers_within_bounds() -> None:
    assert check_integer("n", 2**63 - 1, INT64) == 2**63 - 1
    assert check_integer("n", -(2**31), INT32) == -(2**31)
    with pytest.raises(InvalidInput, match="'n' must be between -2147483648 and 2147483647"):
        check_integer("n", 2**31, INT32)
    with pytest.raises(InvalidInput):
        check_integer("n", -(2**63) - 1, INT64)


def _nested(depth: int) -> object:
    document: object = "leaf"
    for level in range(depth):
        document = [document] if level % 2 else {"k": document}
    return document


def test_depth_limit() -> None:
    check_document(_nested(MAX_JSON_DEPTH))
    with pytest.raises(InvalidInput, match="nested more than 32 levels deep"):
        check_document(_nested(MAX_JSON_DEPTH + 1))
    check_document([[]] * 10_000)  # wide is fine


def test_strings_anywhere_in_a_document_are_checked() -> None:
    with pytest.raises(InvalidInput, match="A string in the request body contains a NUL"):
        check_document({"a": [1, {"b": ["ok", "\x00"]}]})
    with pytest.raises(InvalidInput, match="A member name in the request body contains an unpaired"):
        check_document([{"\udfff": 1}])


@pytest.mark.parametrize("raw, message", [
    (b"", "The request body is empty"),
    (b"  \n", "The request body is empty"),
    (b"{", "Malformed JSON in request body."),
    (b"\xff\xfe{", "Malformed JSON in request body."),
    (b"[NaN]", "Malformed JSON in request body."),
    (b"-Infinity", "Malformed JSON in request body."),
    (b"1" * 5000, "Malformed JSON in request body."),
    (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels deep"),
    (b"[" * 500 + b"]" * 500, "nested more than 32 levels deep"),
    (b'"\\u0000"', "contains a NUL character"),
])
def test_parse_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_json_document(raw)
    assert message in raised.value.message


def test_parse_accepts_json_in_any_unicode_encoding() -> None:
    assert parse_json_document('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    assert parse_json_document(b'"\\ud83d\\ude00"') == "😀"
