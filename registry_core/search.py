"""Searching models and versions by filter, as indexed queries with offset page tokens.

The filter language is in :mod:`.search_filters`. Each search is one
statement for the page (``limit + 1`` rows, to know whether another page
follows), ordered as MLflow's SQL store orders: the requested keys, then
name ascending, then version descending. What keeps it off full scans:

- ``name =`` probes the unique name index; a model's versions come from
  ``(model_id, version)``; ``run_id`` has its own index;
- a tag condition ``tags.k = 'v'`` selects the owners through the tag tables'
  ``(key, substr(value, 1, 200))`` index, other tag comparisons probe the tag
  tables' primary keys per candidate row;
- ordering by a time reads ``(updated_at)`` or ``(created_at)``, or
  the same per model, newest first, instead of sorting every version.

Page tokens are MLflow's (base64 of ``{"offset": N}``), so a token from
either interface continues the other's search.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, false, func, literal_column, select
from sqlalchemy import String as SqlString

from .errors import InvalidInput
from .queries import model_record, models_select
from .records import ModelInfo, VersionInfo
from .rows import MODEL_TAGS, MODELS, VERSION_TAGS, VERSIONS, version_info, version_tags_json
from .schema import TAG_VALUE_INDEXED
from .search_filters import Condition, parse_filter, parse_order_by
from .unit_of_work import Catalog

__all__ = [
    "PROMPT_TAG",
    "SOURCE_TAG",
    "SearchPage",
    "find_models",
    "find_versions",
    "models_query",
    "page_offset",
    "page_token",
    "versions_query",
]

#: The tag MLflow marks prompts with; the catalog refuses it, so it holds no prompts.
PROMPT_TAG = "mlflow.prompt.is_prompt"
#: The source MLflow was given at registration (a reserved tag); ``source_path`` filters on it.
SOURCE_TAG = "registry.mlflow.source"

T = TypeVar("T")


@dataclass(frozen=True)
class SearchPage(Generic[T]):
    """One page of results and the token of the next page (``None`` on the last)."""

    items: list[T]
    next_page_token: str | None


def page_token(offset: int) -> str:
    """The token of the page starting at ``offset`` (MLflow's format)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def page_offset(token: str | bytes | None) -> int:
    """Where the page a token names starts; a token that is not one of ours is a one-line error."""
    if not token:
        return 0
    try:
        parsed = json.loads(base64.b64decode(token, validate=True))
        offset = int(parsed["offset"]) if isinstance(parsed, dict) else -1
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidInput("invalid page token: pass the token a previous page returned, unchanged") from None
    if offset < 1:
        raise InvalidInput("invalid page token: pass the token a previous page returned, unchanged")
    return offset


def _glob_pattern(like: str) -> str:
    """A LIKE pattern (``%``, ``_``) as the equivalent case-sensitive GLOB pattern."""
    specials = {"*": "[*]", "?": "[?]", "[": "[[]", "]": "[]]", "%": "*", "_": "?"}
    return "".join(specials.get(ch, ch) for ch in like)


def _compare(comparator: str, dialect: str, column: Any, value: Any) -> ColumnElement[bool]:
    """MLflow's comparison semantics: LIKE case-sensitive on both dialects, ILIKE not."""
    if comparator == "LIKE":
        # SQLite's LIKE ignores case; GLOB is the same match, case-sensitive, without a connection PRAGMA.
        return column.op("GLOB")(_glob_pattern(value)) if dialect == "sqlite" else column.like(value)
    if comparator == "ILIKE":
        return column.ilike(value)
    if comparator == "IN":
        return column.in_(list(value))
    if comparator == "NOT IN":
        return ~column.in_(list(value))
    operators = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
    if comparator not in operators:
        raise InvalidInput(f"search filter: unknown comparator {comparator!r}")
    return getattr(column, operators[comparator])(value)


def _asks_for_prompts(conditions: Sequence[Condition]) -> bool:
    """Whether a filter selects MLflow prompts (``tags.`mlflow.prompt.is_prompt` = 'true'``), as MLflow reads it."""
    for condition in conditions:
        if condition["key"] == PROMPT_TAG and condition["type"] == "tag":
            value = str(condition["value"]).lower()
            return (condition["comparator"] == "=" and value == "true") or (
                condition["comparator"] == "!=" and value == "false"
            )
    return False


def _indexed_value(tags: Any) -> Any:
    """The tag indexes' expression, with its constants inline (bound parameters would not match the index)."""
    return func.substr(tags.c.value, literal_column("1"), literal_column(str(TAG_VALUE_INDEXED)))


def _tag_conditions(conditions: Sequence[Condition], dialect: str, tags: Any, owner: Any) -> list[Any]:
    """One ``owner IN (tag rows)`` per tag key, holding every condition on that key's value (MLflow's semantics).

    An equality also compares the value's indexed prefix, so the tag table's
    ``(key, prefix)`` index finds the owners. Like MLflow's SQL store, a
    condition on the prompt marker only chooses between prompts and models;
    the catalog holds no prompts, so asking for them matches nothing.
    """
    if _asks_for_prompts(conditions):
        return [false()]
    by_key: dict[str, list[Any]] = {}
    for condition in conditions:
        if condition["key"] == PROMPT_TAG:
            continue
        value = condition["value"]
        matches = by_key.setdefault(condition["key"], [])
        if condition["comparator"] == "=" and isinstance(value, str):
            # The prefix holds the whole value when it is shorter: then the prefix comparison is the equality.
            # (Comparing the value too would let SQLite substitute it into the index expression and lose the index.)
            matches.append(_indexed_value(tags) == value[:TAG_VALUE_INDEXED])
            if len(value) < TAG_VALUE_INDEXED:
                continue
        matches.append(_compare(condition["comparator"], dialect, tags.c.value, value))
    owner_column = tags.c.model_id if tags is MODEL_TAGS else tags.c.version_id
    return [owner.in_(select(owner_column).where(tags.c.key == key, *matches)) for key, matches in by_key.items()]


def _split(conditions: Sequence[Condition]) -> tuple[list[Condition], list[Condition]]:
    return [c for c in conditions if c["type"] == "attribute"], [c for c in conditions if c["type"] == "tag"]


def models_query(conditions: Sequence[Condition], ordering: Sequence[tuple[str, bool]], limit: int, offset: int,
                 dialect: str, *, columns: Sequence[Any] = (MODELS.c.id, MODELS.c.name)) -> Any:
    """The page of models matching ``conditions``: ``limit + 1`` rows of ``columns`` from ``offset``."""
    attributes, tags = _split(conditions)
    where = [_compare(c["comparator"], dialect, MODELS.c.name, c["value"]) for c in attributes]
    where += _tag_conditions(tags, dialect, MODEL_TAGS, MODELS.c.id)
    order = {"name": MODELS.c.name, "last_updated_timestamp": MODELS.c.updated_at}
    clauses = [order[key].asc() if ascending else order[key].desc() for key, ascending in ordering]
    if "name" not in {key for key, _ in ordering}:
        clauses.append(MODELS.c.name.asc())
    statement = select(*columns).where(*where).order_by(*clauses).limit(limit + 1)
    return statement.offset(offset) if offset else statement


_VERSION_ORDER = {
    "name": MODELS.c.name,
    "version_number": VERSIONS.c.version,
    "creation_timestamp": VERSIONS.c.created_at,
    "last_updated_timestamp": VERSIONS.c.updated_at,
}
#: The order MLflow's ``search_model_versions`` uses when none is given.
DEFAULT_VERSION_ORDER = [("last_updated_timestamp", False), ("name", True), ("version_number", False)]


def _source_column() -> Any:
    """The source MLflow was given (a reserved tag), else the catalog's artifact location."""
    given = (
        select(VERSION_TAGS.c.value)
        .where(VERSION_TAGS.c.version_id == VERSIONS.c.id, VERSION_TAGS.c.key == SOURCE_TAG)
        .scalar_subquery()
    )
    return func.coalesce(given, VERSIONS.c.artifact_uri, type_=SqlString())


def versions_query(conditions: Sequence[Condition], ordering: Sequence[tuple[str, bool]], limit: int, offset: int,
                   dialect: str, *, columns: Sequence[Any] = (MODELS.c.name, VERSIONS.c.version)) -> Any:
    """The page of versions matching ``conditions``: ``limit + 1`` rows of ``columns`` from ``offset``."""
    attributes, tags = _split(conditions)
    where = []
    for condition in attributes:
        column = {"name": MODELS.c.name, "version_number": VERSIONS.c.version, "run_id": VERSIONS.c.run_id}.get(
            condition["key"]
        )
        where.append(_compare(condition["comparator"], dialect,
                              _source_column() if column is None else column, condition["value"]))
    where += _tag_conditions(tags, dialect, VERSION_TAGS, VERSIONS.c.id)
    ordering = [*(ordering or DEFAULT_VERSION_ORDER)]
    keys = {key for key, _ in ordering}
    ordering += [(key, up) for key, up in (("name", True), ("version_number", False)) if key not in keys]
    clauses = [_VERSION_ORDER[key].asc() if up else _VERSION_ORDER[key].desc() for key, up in ordering]
    statement = (
        select(*columns)
        .select_from(VERSIONS.join(MODELS, MODELS.c.id == VERSIONS.c.model_id))
        .where(*where)
        .order_by(*clauses)
        .limit(limit + 1)
    )
    return statement.offset(offset) if offset else statement


#: The most results one page of our own searches holds.
MAX_PAGE = 1_000


def _parsed(filter_string: str | None, order_by: Iterable[str] | None, limit: int, token: str | None, *,
            versions: bool) -> tuple[list[Condition], list[tuple[str, bool]], int]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return (parse_filter(filter_string, versions=versions), parse_order_by(list(order_by or ()), versions=versions),
            page_offset(token))


def _page(rows: list[Any], items: list[T], limit: int, offset: int) -> SearchPage[T]:
    return SearchPage(items[:limit], page_token(offset + limit) if len(rows) > limit else None)


def find_models(catalog: Catalog, filter_string: str | None, order_by: Iterable[str] | None, limit: int,
                token: str | None) -> SearchPage[ModelInfo]:
    """A page of models matching a filter, with their tags, aliases and Production version: one statement."""
    conditions, ordering, offset = _parsed(filter_string, order_by, limit, token, versions=False)
    base = models_select(catalog.dialect)
    statement = models_query(conditions, ordering, limit, offset, catalog.dialect, columns=base.selected_columns)
    with catalog.read() as connection:
        rows = connection.execute(statement).all()
    return _page(rows, [model_record(row) for row in rows], limit, offset)


def find_versions(catalog: Catalog, filter_string: str | None, order_by: Iterable[str] | None, limit: int,
                  token: str | None) -> SearchPage[VersionInfo]:
    """A page of versions matching a filter, with their tags: one statement."""
    conditions, ordering, offset = _parsed(filter_string, order_by, limit, token, versions=True)
    columns = [*VERSIONS.c, version_tags_json(catalog.dialect), MODELS.c.name.label("model_name")]
    statement = versions_query(conditions, ordering, limit, offset, catalog.dialect, columns=columns)
    with catalog.read() as connection:
        rows = connection.execute(statement).all()
    return _page(rows, [version_info(row.model_name, row) for row in rows], limit, offset)
