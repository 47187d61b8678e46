"""What may enter Glint from outside, as pure rules.

Each limit is one that SQLite, MariaDB and PostgreSQL can all hold, so that
the three answer a request alike (a clear 400) instead of one storing what
another refuses with a driver error. README.md "Limits" lists them all.

- Strings: no NUL character (PostgreSQL's text cannot hold one) and no lone
  UTF-16 surrogate (`"\\udc80"` in JSON decodes to a code point UTF-8 cannot
  encode, so no driver can send it).
- Text: at most 65,535 bytes in UTF-8, MariaDB's TEXT (Glance's column type
  for property values, descriptions and JSON documents).
- Integers: within the column they are compared with or stored in (64-bit
  for sizes and byte offsets, 32-bit for min_ram and min_disk).
- JSON documents: nested at most MAX_JSON_DEPTH containers deep, so parsing,
  schema validation and serialization never hit Python's recursion limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

from glint.domain.errors import InvalidInput

MAX_TEXT_BYTES = 65_535
MAX_JSON_DEPTH = 32
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Longest project or user id a caller may act as: the owner and member columns.
MAX_IDENTITY_LENGTH = 255

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_text_input(text: str, where: str) -> None:
    """Raise InvalidInput when `text` holds a NUL character or a lone surrogate.

    `where` names the text for the message, e.g. "The URL path".
    """
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise InvalidInput(f"{where} contains a NUL character (\\u0000), which is not allowed.")
    raise InvalidInput(f"{where} contains an unpaired UTF-16 surrogate "
                       f"(\\u{ord(found.group()):04x}), which is not valid Unicode.")


def check_text_size(what: str, text: str) -> None:
    """Raise InvalidInput when `text` takes more than MAX_TEXT_BYTES in UTF-8."""
    # A character takes at most 4 bytes: most texts need no encoding to tell.
    if len(text) * 4 <= MAX_TEXT_BYTES:
        return
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_TEXT_BYTES} bytes.")


def json_text(what: str, document: Any) -> str:
    """`document` serialized for a text column; InvalidInput when the text
    would pass MAX_TEXT_BYTES."""
    text = json.dumps(document)
    check_text_size(what, text)
    return text


def check_integer(name: str, value: int, bounds: tuple[int, int]) -> int:
    """`value` if it lies within `bounds` (inclusive); InvalidInput otherwise."""
    low, high = bounds
    if not low <= value <= high:
        raise InvalidInput(f"'{name}' must be between {low} and {high}, got {value}.")
    return value


def parse_json_document(raw: bytes) -> Any:
    """A request body parsed as strict JSON (no NaN or Infinity) and checked
    by `check_document`; InvalidInput when it is empty, malformed or breaks a rule."""
    if not raw.strip():
        raise InvalidInput("The request body is empty; a JSON document is required.")
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(_too_deep()) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Malformed JSON in request body.") from None
    check_document(document)
    return document


def check_document(document: Any) -> None:
    """Raise InvalidInput when the parsed JSON `document` nests containers more
    than MAX_JSON_DEPTH deep or holds a key or string `check_text_input` refuses.

    Walks with an explicit stack, so any depth is safe to inspect.
    """
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            check_text_input(value, "A string in the request body")
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidInput(_too_deep())
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    check_text_input(key, "A member name in the request body")
                stack.append((item, depth + 1))


def _too_deep() -> str:
    return f"The JSON document is nested more than {MAX_JSON_DEPTH} levels deep."


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
