"""The documented limits on names and values, checked before anything is written."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidInput
from .identities import validate_actor

__all__ = [
    "ALIAS_PATTERN",
    "MAX_DESCRIPTION",
    "MAX_JSON_DEPTH",
    "MAX_MODEL_CARD",
    "MAX_TAGS",
    "MAX_TAG_VALUE",
    "MODEL_NAME_PATTERN",
    "NAME_PATTERN",
    "parse_key_values",
    "validate_actor",
    "validate_alias",
    "validate_description",
    "validate_json_object",
    "validate_metrics",
    "is_number",
    "validate_name",
    "validate_params",
    "validate_registration",
    "validate_tags",
    "is_reserved_tag",
    "nesting_depth",
    "require_unicode",
    "RESERVED_TAG_PREFIX",
    "LINEAGE_TAGS",
    "validate_text",
    "validate_version_number",
]

#: Check names: a letter or digit, then letters, digits, ``.``, ``_``, ``-``; 128 at most.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Model names, as MLflow's store allows them within what a URI, a filter and a shell can carry: a letter or digit,
#: then letters, digits, spaces and ``. _ - + ( ) [ ] ,`` (not ending in a space); 128 at most. ``/``, ``:`` and
#: ``@`` separate a model URI's parts (MLflow refuses the first two too); ``#``, ``?`` and ``%`` change a URI's meaning.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._+(),\[\]-]{0,126}[A-Za-z0-9._+(),\[\]-])?")
#: Aliases: a letter, then letters, digits, ``_``, ``-``; 64 at most.
ALIAS_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/:-]{0,249}")
#: Tag keys may also hold spaces inside, as MLflow's do (``another key``); never at either end.
_TAG_KEY_PATTERN = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._/: -]{0,248}[A-Za-z0-9._/:-])?")
_RESERVED_ALIASES = {"none", "candidate", "staging", "production", "archived", "latest"}
#: Aliases MLflow reserves for version references (``v1``, ``V12``): refused when an alias is set, as MLflow does.
_VERSION_ALIAS = re.compile(r"[vV][0-9]+")
#: Tag keys under this prefix, in any case, belong to the registry: shown, never written by users.
RESERVED_TAG_PREFIX = "registry."
#: The reserved keys the MLflow plugin writes when it registers a version (MLflow's source, logged model, run link).
LINEAGE_TAGS = frozenset({"registry.mlflow.source", "registry.mlflow.model_id", "registry.mlflow.run_link",
                          "registry.mlflow.opaque"})

MAX_DESCRIPTION = 10_000
MAX_MODEL_CARD = 200_000
MAX_TAGS = 100
#: MLflow 3's limit for registry tag values, so that what MLflow accepts, the catalog stores.
MAX_TAG_VALUE = 100_000
MAX_PARAM_VALUE = 6_000
MAX_PARAMS = 1_000
MAX_REFERENCE = 512
MAX_JSON_DOCUMENT = 1_000_000
#: How deeply JSON objects and arrays may nest: far more than any real document, far less than the parser's recursion.
MAX_JSON_DEPTH = 64
MAX_VERSION = 2**31 - 1
#: Version and sequence numbers: ASCII digits only (``str.isdigit`` also accepts ``²`` and ``١``).
_DIGITS = re.compile(r"[0-9]+")


def validate_name(name: str, *, what: str = "model name") -> str:
    """Return ``name`` if it is a valid model name (:data:`MODEL_NAME_PATTERN`) or, for any other ``what``, matches
    :data:`NAME_PATTERN`; else raise :class:`InvalidInput`."""
    if what == "model name":
        if not isinstance(name, str) or not MODEL_NAME_PATTERN.fullmatch(name):
            raise InvalidInput(
                f"invalid {what} {_shown(name)}: use 1-128 letters, digits, spaces or '.', '_', '-', '+', '(', ')', "
                "'[', ']', ',', starting with a letter or digit and not ending in a space"
            )
        return name
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"invalid {what} {_shown(name)}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def validate_alias(alias: str, *, new: bool = False) -> str:
    """Return ``alias`` if it is a valid alias that cannot be mistaken for a stage (with ``new``, nor a version)."""
    if not isinstance(alias, str) or not ALIAS_PATTERN.fullmatch(alias):
        raise InvalidInput(
            f"invalid alias {_shown(alias)}: use 1-64 letters, digits, '_' or '-', starting with a letter"
        )
    if alias.lower() in _RESERVED_ALIASES:
        raise InvalidInput(f"invalid alias {alias!r}: stage names and 'latest' are reserved")
    if new and _VERSION_ALIAS.fullmatch(alias):
        raise InvalidInput(f"invalid alias {alias!r}: 'v' followed by digits names a version and is reserved, as in MLflow")
    return alias


def is_number(text: str) -> bool:
    """Whether ``text`` is a non-negative integer written in ASCII digits (and not too long to be one)."""
    return isinstance(text, str) and len(text) <= 20 and _DIGITS.fullmatch(text) is not None


def validate_version_number(version: int | str) -> int:
    """Read a version number: a positive integer, given as an int or in ASCII digits."""
    if isinstance(version, bool):
        raise InvalidInput(f"invalid version {version!r}: expected a positive integer")
    if isinstance(version, int):
        number = version
    elif isinstance(version, str) and is_number(version.strip()):
        number = int(version.strip())
    else:
        raise InvalidInput(f"invalid version {_shown(version)}: expected a positive integer")
    if not 1 <= number <= MAX_VERSION:
        raise InvalidInput(f"invalid version {number}: expected a positive integer")
    return number


def validate_text(value: str | None, *, what: str, limit: int) -> str | None:
    """Return ``value`` if it is ``None`` or a string of at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"invalid {what}: expected text")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters long; the limit is {limit}")
    return _unicode(value, what=what)


def require_unicode(text: str, *, what: str) -> str:
    """``text`` if it can be stored as UTF-8, else :class:`InvalidInput` (see :func:`_unicode`)."""
    return _unicode(text, what=what)


def _unicode(text: str, *, what: str) -> str:
    """``text`` if it can be stored as UTF-8: lone surrogates (undecodable bytes of a command line) cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid Unicode text (it holds a lone surrogate, or undecodable bytes)") from None
    return text


def validate_description(value: str | None) -> str | None:
    """Return a description of at most :data:`MAX_DESCRIPTION` characters."""
    return validate_text(value, what="description", limit=MAX_DESCRIPTION)


def is_reserved_tag(key: str) -> bool:
    """Whether ``key`` is the registry's: it starts with ``registry.`` in any case (``Registry.approved_by`` too)."""
    return key.casefold().startswith(RESERVED_TAG_PREFIX)


def _writable_key(key: str, *, lineage: bool = False) -> str:
    if lineage:
        if key not in LINEAGE_TAGS:
            raise InvalidInput(f"lineage key {_shown(key)}: expected one of {', '.join(sorted(LINEAGE_TAGS))}")
        return key
    if is_reserved_tag(key):
        raise InvalidInput(
            f"tag {_shown(key)} is the registry's and read-only: keys starting with {RESERVED_TAG_PREFIX!r} "
            "(in any case) are reserved"
        )
    return key


def validate_tags(tags: Mapping[str, str] | None, *, lineage: bool = False) -> dict[str, str]:
    """Return tags whose keys and values are within the documented limits, none of them reserved.

    With ``lineage``, the keys are instead the MLflow plugin's :data:`LINEAGE_TAGS`, spelled exactly, and only those.
    """
    result: dict[str, str] = {}
    _require_mapping(tags, what="tags")
    for key, value in (tags or {}).items():
        _validate_tag_key(key)
        _writable_key(key, lineage=lineage)
        if not isinstance(value, str):
            raise InvalidInput(f"tag {key!r}: value must be text")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidInput(f"tag {key!r}: 'value' exceeds the maximum length of {MAX_TAG_VALUE} characters "
                               f"({len(value)} given)")  # MLflow's words, which its clients match
        result[key] = _unicode(value, what=f"tag {key!r}")
    if len(result) > MAX_TAGS:
        raise InvalidInput(f"{len(result)} tags given; the limit is {MAX_TAGS}")
    return result


def validate_tag_keys(keys: Iterable[str]) -> list[str]:
    """Return tag keys that are well formed, each once, in the order given."""
    if isinstance(keys, str):
        raise InvalidInput(f"tag keys must be a list of keys, not the single string {_shown(keys)}")
    return list(dict.fromkeys(_writable_key(_validate_tag_key(key)) for key in keys))


def validate_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Return parameters as text, each within the documented limits."""
    result: dict[str, str] = {}
    _require_mapping(params, what="params")
    for key, value in (params or {}).items():
        _validate_key(key, what="param name")
        text = value if isinstance(value, str) else _json_text(value, what=f"param {key!r}")
        if len(text) > MAX_PARAM_VALUE:
            raise InvalidInput(f"param {key!r}: value is {len(text)} characters long; the limit is {MAX_PARAM_VALUE}")
        result[key] = _unicode(text, what=f"param {key!r}")
    if len(result) > MAX_PARAMS:
        raise InvalidInput(f"{len(result)} params given; the limit is {MAX_PARAMS}")
    return result


def validate_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Return metrics as finite floats."""
    result: dict[str, float] = {}
    _require_mapping(metrics, what="metrics")
    for key, value in (metrics or {}).items():
        _validate_key(key, what="metric name")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"metric {key!r}: {value!r} is not a number") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise InvalidInput(f"metric {key!r}: {value!r} is not a finite number")
        result[key] = number
    if len(result) > MAX_PARAMS:
        raise InvalidInput(f"{len(result)} metrics given; the limit is {MAX_PARAMS}")
    return result


def validate_json_object(value: Any, *, what: str) -> dict[str, Any] | None:
    """Return ``value`` (a JSON object, or JSON text of one) as a dict that round-trips through JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_json(value, what=what)
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return json.loads(_json_text(value, what=what))


def parse_json(text: str, *, what: str) -> Any:
    """Parse JSON text, refusing documents too long or nested too deeply before the parser recurses into them."""
    if len(text) > MAX_JSON_DOCUMENT:
        raise InvalidInput(f"{what} is {len(text)} characters long; the limit is {MAX_JSON_DOCUMENT}")
    depth = _text_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{what} nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN or Infinity, or a number too long to convert
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def nesting_depth(text: str) -> int:
    """How deeply brackets nest in JSON ``text`` (counted up to just past :data:`MAX_JSON_DEPTH`), without parsing it."""
    return _text_depth(text)


def _text_depth(text: str) -> int:
    """How deeply brackets nest in JSON text, outside strings: one pass, no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _json_text(value: Any, *, what: str) -> str:
    """``value`` as JSON text, if it is plain JSON (objects with text keys, lists, text, finite numbers, booleans, null)."""
    _check_plain_json(value, what=what)
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} cannot be stored as JSON: {exc}") from None
    if len(text) > MAX_JSON_DOCUMENT:
        raise InvalidInput(f"{what} is {len(text)} characters as JSON; the limit is {MAX_JSON_DOCUMENT}")
    return text


def _check_plain_json(value: Any, *, what: str) -> None:
    """Walk a Python value without recursion: too deep (or cyclic), too large, or not JSON is refused."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_JSON_DOCUMENT:
            raise InvalidInput(f"{what} cannot be stored as JSON: it holds more than {MAX_JSON_DOCUMENT} values")
        if item is None or isinstance(item, (bool, int)):
            continue
        if isinstance(item, str):
            _unicode(item, what=what)
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{what} cannot be stored as JSON: {item!r} is not a finite number")
            continue
        if isinstance(item, (dict, list, tuple)):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidInput(f"{what} cannot be stored as JSON: it nests more than {MAX_JSON_DEPTH} levels deep (or contains itself)")
            if isinstance(item, dict):
                for key, child in item.items():
                    # The key types json.dumps turns into text; anything else is refused.
                    if not (key is None or isinstance(key, (str, int, bool))
                            or (isinstance(key, float) and math.isfinite(key))):
                        raise InvalidInput(f"{what} cannot be stored as JSON: the key {_shown(key)} is not text")
                    if isinstance(key, str):
                        _unicode(key, what=what)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
            continue
        raise InvalidInput(f"{what} cannot be stored as JSON: it holds a {type(item).__name__}")


def parse_key_values(items: Iterable[str], *, what: str) -> dict[str, str]:
    """Read ``key=value`` strings given on a command line."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"invalid {what} {item!r}: expected KEY=VALUE")
        result[key] = value
    return result


def _require_mapping(value: Any, *, what: str) -> None:
    if value is not None and not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a mapping of names to values, not {type(value).__name__}")


def _validate_key(key: str, *, what: str) -> str:
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"invalid {what} {_shown(key)}: use 1-250 letters, digits, '_', '.', '/', ':' or '-'"
        )
    return key


def _validate_tag_key(key: str) -> str:
    if not isinstance(key, str) or not _TAG_KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"invalid tag key {_shown(key)}: use 1-250 letters, digits, '_', '.', '/', ':', '-' or spaces "
            "(not at either end)"
        )
    return key


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_registration(
    *, run_id: str | None, dataset_digest: str | None, params: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None, description: str | None, signature: Mapping[str, Any] | str | None,
    model_card: str | None,
) -> dict[str, Any]:
    """A new version's lineage and documentation, each checked against its limit."""
    return {
        "run_id": validate_text(run_id, what="run id", limit=MAX_REFERENCE),
        "dataset_digest": validate_text(dataset_digest, what="dataset digest", limit=MAX_REFERENCE),
        "params": validate_params(params),
        "metrics": validate_metrics(metrics),
        "description": validate_description(description),
        "signature": validate_json_object(signature, what="signature"),
        "model_card": validate_text(model_card, what="model card", limit=MAX_MODEL_CARD),
    }
