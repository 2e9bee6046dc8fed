"""The one JSON decoder for request bodies: limits that keep hostile input a 400, never a 500.

Python's `json.loads` raises RecursionError on deep nesting (15,000 `[`), ValueError on integers
longer than `sys.get_int_max_str_digits()` and returns strings with lone surrogates (`"\\ud800"`)
that later break encoders and databases. None of these is a JSONDecodeError, so webargs and Flask
let them through as 500s. Every body the API parses goes through `loads_body` instead.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from flask import Request
from flask import json as flask_json

MAX_DEPTH = 32  # the API's bodies are flat objects; 32 leaves room for any future nesting
MAX_NUMBER_CHARS = 64  # no field takes a number anywhere near this long
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = str.maketrans({"[": "\x01", "{": "\x01", "]": "\x02", "}": "\x02"})


class InvalidJSONBody(json.JSONDecodeError):
    """A body that is not JSON the API accepts; its `msg` is shown to the client."""

    def __init__(self, message: str, document: str) -> None:
        # webargs treats a JSONDecodeError with an empty document as "no body": never empty here.
        super().__init__(message, document or " ", 0)


def _check_number_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidJSONBody(f"Numbers may have at most {MAX_NUMBER_CHARS} characters.", text)


def _parse_int(text: str) -> int:
    _check_number_length(text)
    return int(text)


def _parse_float(text: str) -> float:
    _check_number_length(text)
    return float(text)


def _refuse_constant(name: str) -> Any:
    raise InvalidJSONBody(f"{name} is not a JSON value.", name)


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant
)


def _depth(text: str) -> int:
    """Deepest bracket nesting outside strings, without recursion (linear in the text)."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text)).translate(_BRACKET_STEP)
    if not brackets:
        return 0
    return max(accumulate(1 if ch == "\x01" else -1 for ch in brackets))


def _check_strings(value: Any) -> None:
    """Refuse lone surrogates (`\\ud800`), which no UTF-8 encoder or database accepts."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidJSONBody(
                    "Strings must be valid Unicode (no lone surrogates such as \\ud800).", "?"
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads_body(data: str | bytes) -> Any:
    """Decode a request body as JSON within the API's limits; raise InvalidJSONBody otherwise."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJSONBody("The body is not valid UTF-8.", repr(data[:40])) from None
    else:
        text = data
    if _depth(text) > MAX_DEPTH:
        raise InvalidJSONBody(f"JSON may be nested at most {MAX_DEPTH} levels deep.", text[:40])
    try:
        value = _DECODER.decode(text)
    except InvalidJSONBody:
        raise
    except json.JSONDecodeError as exc:
        raise InvalidJSONBody(f"The body is not valid JSON: {exc.msg}.", text[:40]) from None
    _check_strings(value)
    return value


class _BodyJSONModule:
    """What `Request.get_json` decodes with: `loads_body`; `dumps` as Flask's."""

    loads = staticmethod(loads_body)
    dumps = staticmethod(flask_json.dumps)


class BodyLimitedRequest(Request):
    """Flask's Request whose `get_json()` uses `loads_body` (InvalidJSONBody is Flask's 400)."""

    json_module = _BodyJSONModule
