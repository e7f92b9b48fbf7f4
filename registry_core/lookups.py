"""Finding what a call names: a model, a version, what a URI points at, and saying precisely what is missing.

Writers of one model queue on that model's row: :func:`lock_version` takes the
lock and loads the version (with its tags) in one statement. Reads use the same
queries without the lock.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select

from .errors import InvalidInput, NotFound
from .rows import ALIASES, AUDIT, MODELS, VERSIONS, version_tags_json
from .stages import Stage
from .uris import ModelRef

__all__ = ["MODEL_ID", "lock_model", "lock_version", "missing_version", "model_row", "no_such_model", "resolve_query", "resolved_row", "version_row"]

#: The id of the model named by the ``name`` parameter. Filtering versions by it (rather than only through
#: a join on the name) lets PostgreSQL walk the (model_id, ...) indexes in order, e.g. for "newest first".
MODEL_ID = select(MODELS.c.id).where(MODELS.c.name == bindparam("name")).scalar_subquery()

#: Model columns under names that do not collide with the version's.
_MODEL_COLUMNS = (
    MODELS.c.id.label("model_id_"),
    MODELS.c.name.label("model_name"),
    MODELS.c.policy.label("model_policy"),
    MODELS.c.last_version.label("model_last_version"),
)


# Statements are built once, with bind parameters, and reused: building one costs more than running it.


@functools.cache
def _model_query(lock: bool) -> Select[Any]:
    query = select(MODELS).where(MODELS.c.name == bindparam("name"))
    return query.with_for_update() if lock else query


@functools.cache
def _version_query(dialect: str, lock: bool) -> Select[Any]:
    joined = MODELS.outerjoin(
        VERSIONS, (VERSIONS.c.model_id == MODELS.c.id) & (VERSIONS.c.version == bindparam("number"))
    )
    query = (
        select(*_MODEL_COLUMNS, *VERSIONS.c, version_tags_json(dialect))
        .select_from(joined)
        .where(MODELS.c.name == bindparam("name"))
    )
    return query.with_for_update(of=MODELS) if lock else query


def model_row(connection: Connection, name: str, *, lock: bool = False) -> Any | None:
    """The model's row (every column), locked for this transaction with ``lock``; None when missing."""
    return connection.execute(_model_query(lock), {"name": name}).first()


def no_such_model(connection: Connection, name: str, version: int | None = None) -> NotFound:
    """The error for a model ``name`` that does not exist, naming any model whose name differs only in case.

    Names are case-sensitive, as in MLflow, so ``Fraud`` never opens ``fraud``;
    the hint keeps a wrong case from reading as a missing model.
    """
    query = select(MODELS.c.name).where(func.lower(MODELS.c.name) == name.lower()).order_by(MODELS.c.name).limit(3)
    near = connection.execute(query).scalars().all()
    hint = f" (names are case-sensitive: did you mean {' or '.join(map(repr, near))}?)" if near else ""
    if not near and connection.execute(
        select(AUDIT.c.seq).where(AUDIT.c.model == name, AUDIT.c.action == "model.delete").limit(1)
    ).first():
        hint = f" (it was deleted; its history: registry audit {name!r})"
    return NotFound(f"model {name!r} does not exist{hint}", model=name, version=version)


def missing_version(name: str, number: int, given_out: int) -> NotFound:
    """A version number the model does not have: never given out yet, or deleted (numbers are never reused)."""
    if number <= given_out:
        return NotFound(f"model {name!r} has no version {number}: it was deleted (its history: registry audit "
                        f"{name!r} --version {number})", model=name, version=number)
    return NotFound(f"model {name!r} has no version {number} (latest is {given_out})", model=name, version=number)


def lock_model(connection: Connection, name: str) -> Any:
    """The model's row, locked until the transaction ends; :class:`NotFound` when there is no such model."""
    row = model_row(connection, name, lock=True)
    if row is None:
        raise no_such_model(connection, name)
    return row


def version_row(connection: Connection, dialect: str, name: str, number: int, *, lock: bool = False) -> Any:
    """One version with its tags and its model's key columns, in one statement.

    With ``lock`` the model's row is locked until the transaction ends (writers
    of one model queue there). The row has every version column, ``tags_json``,
    and ``model_id_``, ``model_name``, ``model_policy``, ``model_last_version``.
    Raises :class:`NotFound` naming what is missing.
    """
    row = connection.execute(_version_query(dialect, lock), {"name": name, "number": number}).first()
    if row is None:
        raise no_such_model(connection, name, number)
    if row.id is None:
        raise missing_version(name, number, row.model_last_version)
    return row


def lock_version(connection: Connection, dialect: str, name: str, number: int) -> Any:
    """:func:`version_row` with the model locked: the start of every change to a version."""
    return version_row(connection, dialect, name, number, lock=True)


@functools.cache
def _resolve_query(dialect: str, kind: str, stage: Stage | None) -> Select[Any]:
    query = (
        select(*VERSIONS.c, version_tags_json(dialect), MODELS.c.policy.label("model_policy"))
        .select_from(VERSIONS.join(MODELS, MODELS.c.id == VERSIONS.c.model_id))
        .where(MODELS.c.name == bindparam("name"))
    )
    if kind == "version":
        return query.where(VERSIONS.c.version == bindparam("number"))
    if kind == "latest":  # the highest version there is (the highest given out may have been deleted)
        return query.order_by(VERSIONS.c.version.desc()).limit(1)
    if kind == "alias":
        return query.join(
            ALIASES, (ALIASES.c.model_id == MODELS.c.id) & (ALIASES.c.version_id == VERSIONS.c.id)
        ).where(ALIASES.c.alias == bindparam("alias"))
    query = query.where(VERSIONS.c.model_id == MODEL_ID, VERSIONS.c.stage == stage)
    if stage is Stage.PRODUCTION:
        return query  # at most one row: the partial unique index answers it directly
    return query.order_by(VERSIONS.c.version.desc()).limit(1)


def resolve_query(ref: ModelRef, dialect: str) -> tuple[Select[Any], dict[str, Any]]:
    """The one query behind every model URI, and its parameters: the version row it points at, with its tags
    and its model's policy."""
    params: dict[str, Any] = {"name": ref.name}
    if ref.version is not None:
        return _resolve_query(dialect, "version", None), {**params, "number": ref.version}
    if ref.latest:
        return _resolve_query(dialect, "latest", None), params
    if ref.alias is not None:
        return _resolve_query(dialect, "alias", None), {**params, "alias": ref.alias}
    if ref.stage is None:
        raise InvalidInput(f"{ref} names a model, not a version")
    return _resolve_query(dialect, "stage", ref.stage), params


def resolved_row(connection: Connection, dialect: str, ref: ModelRef) -> Any:
    """The version row ``ref`` points at; :class:`NotFound` saying precisely what is missing."""
    query, params = resolve_query(ref, dialect)
    row = connection.execute(query, params).first()
    if row is not None:
        return row
    model = model_row(connection, ref.name)
    if model is None:
        raise no_such_model(connection, ref.name, ref.version)
    if ref.version is not None:
        raise missing_version(ref.name, ref.version, model.last_version)
    if ref.latest:
        raise NotFound(f"model {ref.name!r} has no versions")
    if ref.alias is not None:
        raise NotFound(f"model {ref.name!r} has no alias {ref.alias!r}")
    raise NotFound(f"model {ref.name!r} has no version in {ref.stage}")
