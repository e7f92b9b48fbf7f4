"""The search filter language: conditions on names, version attributes and tags, joined by AND.

It is MLflow's filter language, so a filter written for ``mlflow search``
works here unchanged and the other way round:

    name LIKE 'fraud%' AND tags.team = 'risk' AND version_number > 3
    run_id IN ('r1', 'r2')
    tags.`owner.email` ILIKE '%@example.com'

A condition is an attribute or ``tags.KEY`` (a key with characters beyond
letters, digits and ``_`` goes in backticks or double quotes), a comparator
and a value: a quoted string, an integer for ``version_number``, or a
parenthesised list of quoted strings for ``IN`` and ``NOT IN``. Keywords are
case-insensitive. Each condition parses to the same dictionary MLflow's
parser gives (``type``, ``key``, ``comparator``, ``value``), so one query
builder serves both.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

from .errors import InvalidInput
from .validation import require_unicode

__all__ = [
    "MODEL_ATTRIBUTES",
    "TAG_COMPARATORS",
    "VERSION_ATTRIBUTES",
    "Condition",
    "parse_filter",
    "parse_order_by",
]

#: Attributes a model filter may name.
MODEL_ATTRIBUTES = ("name",)
#: Attributes a version filter may name.
VERSION_ATTRIBUTES = ("name", "version_number", "run_id", "source_path")
NUMERIC_ATTRIBUTES = ("version_number",)
STRING_COMPARATORS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
NUMERIC_COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")
TAG_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
#: Attributes that take ``IN`` lists.
_LIST_ATTRIBUTES = ("name", "run_id")

#: Order keys by what is searched, and what MLflow also calls them.
MODEL_ORDER_KEYS = {"name": "name", "last_updated_timestamp": "last_updated_timestamp",
                    "timestamp": "last_updated_timestamp"}
VERSION_ORDER_KEYS = {"name": "name", "version_number": "version_number",
                      "creation_timestamp": "creation_timestamp", "last_updated_timestamp": "last_updated_timestamp",
                      "timestamp": "last_updated_timestamp"}

_TOKENS = re.compile(
    r"""\s*(?:
        (?P<string>'[^']*'|"[^"]*")
      | (?P<number>-?\d+(?:\.\d*)?)
      | (?P<operator>!=|<>|<=|>=|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>(?:`[^`]*`|[A-Za-z_][A-Za-z0-9_]*)(?:\.(?:`[^`]*`|"[^"]*"|[A-Za-z0-9_]+))?)
    )""",
    re.VERBOSE,
)


class Condition(TypedDict):
    """One condition of a filter, in the shape MLflow's parser gives."""

    type: Literal["attribute", "tag"]
    key: str
    comparator: str
    value: Any


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(f"search filter: {message}")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) of each token; anything unrecognised is an error naming where it is."""
    found, position, end = [], 0, len(text.rstrip())
    while position < end:
        match = _TOKENS.match(text, position)
        if match is None or match.end() == position:
            raise _invalid(f"cannot read {text[position:].strip()[:30]!r} at position {position + 1}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return found


def _unquote(text: str) -> str:
    return text[1:-1] if text[:1] in "`\"'" and text[-1:] == text[:1] and len(text) >= 2 else text


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, expected: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise _invalid(f"the filter ends where {expected} was expected")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.at += 1
            return True
        return False


def _subject(token: tuple[str, str, int], attributes: tuple[str, ...]) -> tuple[Literal["attribute", "tag"], str]:
    kind, text, position = token
    if kind != "word":
        raise _invalid(f"expected an attribute or tags.KEY at position {position + 1}, found {text!r}")
    head, _, rest = text.partition(".")
    if head.lower() == "tags" and rest:
        key = _unquote(rest)
        if not key:
            raise _invalid(f"empty tag key at position {position + 1}")
        return "tag", key
    key = _unquote(text) if not rest else text
    if key not in attributes:
        raise _invalid(f"unknown attribute {key!r}; use one of {', '.join(attributes)} or tags.KEY")
    return "attribute", key


def _comparator(reader: _Reader) -> str:
    if reader.keyword("NOT"):
        if not reader.keyword("IN"):
            raise _invalid("NOT must be followed by IN")
        return "NOT IN"
    for word in ("LIKE", "ILIKE", "IN"):
        if reader.keyword(word):
            return word
    kind, text, position = reader.take("a comparator")
    if kind != "operator":
        raise _invalid(f"expected a comparator at position {position + 1}, found {text!r}")
    return {"==": "=", "<>": "!="}.get(text, text)


def _value(reader: _Reader, comparator: str) -> Any:
    if comparator in ("IN", "NOT IN"):
        kind, text, position = reader.take("a list")
        if text != "(":
            raise _invalid(f"{comparator} needs a parenthesised list of quoted strings at position {position + 1}")
        values = []
        while True:
            kind, text, position = reader.take("a quoted string")
            if kind != "string":
                raise _invalid(f"expected a quoted string in the list at position {position + 1}, found {text!r}")
            values.append(_unquote(text))
            kind, text, position = reader.take("',' or ')'")
            if text == ")":
                return tuple(values)
            if text != ",":
                raise _invalid(f"expected ',' or ')' at position {position + 1}, found {text!r}")
    kind, text, position = reader.take("a value")
    if kind == "string":
        return _unquote(text)
    if kind == "number":
        return float(text) if "." in text else int(text)
    raise _invalid(f"expected a quoted value at position {position + 1}, found {text!r} (quote strings with ' or \")")


def _checked(condition: Condition) -> Condition:
    key, comparator, value = condition["key"], condition["comparator"], condition["value"]
    if condition["type"] == "tag":
        if comparator not in TAG_COMPARATORS:
            raise _invalid(f"tags take {', '.join(TAG_COMPARATORS)}, not {comparator}")
    elif key in NUMERIC_ATTRIBUTES:
        if comparator not in NUMERIC_COMPARATORS:
            raise _invalid(f"{key} takes {', '.join(NUMERIC_COMPARATORS)}, not {comparator}")
        if not isinstance(value, int):
            raise _invalid(f"{key} compares with a whole number, not {value!r}")
    else:
        if comparator not in STRING_COMPARATORS or (comparator in ("IN", "NOT IN") and key not in _LIST_ATTRIBUTES):
            raise _invalid(f"{key} does not take {comparator}")
        if not isinstance(value, str | tuple):
            raise _invalid(f"{key} compares with a quoted string, not {value!r}")
    return condition


def parse_filter(text: str | None, *, versions: bool) -> list[Condition]:
    """The conditions of a model filter (``versions=False``) or a version filter; none for an empty filter."""
    if text is None or not text.strip():
        return []
    require_unicode(text, what="search filter")
    attributes = VERSION_ATTRIBUTES if versions else MODEL_ATTRIBUTES
    reader, conditions = _Reader(text), []
    while True:
        kind, key = _subject(reader.take("a condition"), attributes)
        comparator = _comparator(reader)
        value = _value(reader, comparator)
        conditions.append(_checked(Condition(type=kind, key=key, comparator=comparator, value=value)))
        if reader.peek() is None:
            return conditions
        if not reader.keyword("AND"):
            kind_, word, position = reader.take("AND")
            raise _invalid(f"conditions are joined by AND; found {word!r} at position {position + 1}")


def parse_order_by(clauses: list[str] | tuple[str, ...] | None, *, versions: bool) -> list[tuple[str, bool]]:
    """``["name ASC", "last_updated_timestamp DESC"]`` as (key, ascending) pairs, each key once."""
    keys = VERSION_ORDER_KEYS if versions else MODEL_ORDER_KEYS
    ordering: list[tuple[str, bool]] = []
    for clause in clauses or ():
        words = require_unicode(clause, what="order by").split()
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise InvalidInput(f"order by {clause!r}: expected KEY, KEY ASC or KEY DESC")
        key = keys.get(words[0].strip("`"))
        if key is None:
            raise InvalidInput(f"order by {clause!r}: the keys are {', '.join(sorted(keys))}")
        if any(key == seen for seen, _ in ordering):
            raise InvalidInput(f"order by names {words[0]!r} twice")
        ordering.append((key, len(words) == 1 or words[1].upper() == "ASC"))
    return ordering
