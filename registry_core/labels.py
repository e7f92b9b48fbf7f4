"""What people attach to models and versions: aliases, tags and descriptions, each change audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from .actions import AuditAction
from .errors import InvalidInput, NotFound
from .governance import protected_alias_facts
from .lookups import lock_model, lock_version
from .policy import GatePolicy
from .records import VersionInfo
from .rows import ALIASES, MODEL_TAGS, MODELS, VERSION_TAGS, VERSIONS, parse_tags, version_info
from .unit_of_work import Catalog
from .validation import MAX_TAGS

__all__ = ["delete_alias", "edit_tags", "set_alias", "set_description"]


def set_alias(catalog: Catalog, actor: str, name: str, alias: str, number: int) -> VersionInfo:
    """Point an alias at a version, creating or moving it.

    A protected alias (the model's policy lists it) may point only at a version
    that meets every gate before Production and is not Archived; its event records what it was
    gated on: the approvers counted and the checks' latest results.
    """
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        model_id = row.model_id_
        policy = GatePolicy.from_dict(row.model_policy)
        gated = protected_alias_facts(work.connection, name, policy, alias, row) if policy.protects(alias) else {}
        previous = work.connection.execute(
            select(ALIASES.c.version_id, VERSIONS.c.version)
            .select_from(ALIASES.outerjoin(VERSIONS, VERSIONS.c.id == ALIASES.c.version_id))
            .where(ALIASES.c.model_id == model_id, ALIASES.c.alias == alias)
        ).first()
        if previous is None:
            work.connection.execute(insert(ALIASES), {"model_id": model_id, "alias": alias, "version_id": row.id})
            before: dict[str, Any] = {}
        elif previous.version_id == row.id:
            return version_info(name, row)
        else:
            work.connection.execute(
                update(ALIASES)
                .where(ALIASES.c.model_id == model_id, ALIASES.c.alias == alias)
                .values(version_id=row.id)
            )
            before = {"alias": alias, "version": previous.version}
        work.record(AuditAction.ALIAS_SET, name, number, before, {"alias": alias, "version": number, **gated})
        return version_info(name, row)


def delete_alias(catalog: Catalog, actor: str, name: str, alias: str) -> None:
    """Remove an alias."""
    with catalog.write(actor) as work:
        model = lock_model(work.connection, name)
        existing = work.connection.execute(
            select(VERSIONS.c.version)
            .select_from(ALIASES.outerjoin(VERSIONS, VERSIONS.c.id == ALIASES.c.version_id))
            .where(ALIASES.c.model_id == model.id, ALIASES.c.alias == alias)
        ).first()
        if existing is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        work.connection.execute(delete(ALIASES).where(ALIASES.c.model_id == model.id, ALIASES.c.alias == alias))
        number = existing.version
        protected = {"protected": True} if GatePolicy.from_dict(model.policy).protects(alias) else {}
        work.record(AuditAction.ALIAS_DELETE, name, number, {"alias": alias, "version": number, **protected}, {})


def edit_tags(
    catalog: Catalog, actor: str, name: str, number: int | None, *, set_: dict[str, str], delete_keys: list[str]
) -> dict[str, str]:
    """Set and delete tags of a model (``number`` None) or a version; returns all its tags after the edit."""
    with catalog.write(actor) as work:
        connection = work.connection
        if number is None:
            model = lock_model(connection, name)
            owner_id, table, owner_column = model.id, MODEL_TAGS, MODEL_TAGS.c.model_id
        else:
            row = lock_version(connection, work.dialect, name, number)
            owner_id, table, owner_column = row.id, VERSION_TAGS, VERSION_TAGS.c.version_id
        current = dict(connection.execute(select(table.c.key, table.c.value).where(owner_column == owner_id)).all())
        missing = [key for key in delete_keys if key not in current]
        if missing:
            raise NotFound(f"no tag {missing[0]!r} on {_label(name, number)}")
        updated = {**current, **set_}
        for key in delete_keys:
            updated.pop(key)
        if len(updated) > MAX_TAGS:
            raise InvalidInput(f"{_label(name, number)} would have {len(updated)} tags; the limit is {MAX_TAGS}")
        if updated == current:
            return parse_tags(current)
        changed = sorted(k for k in current.keys() | updated.keys() if current.get(k) != updated.get(k))
        gone = [k for k in changed if k not in updated]
        if gone:
            connection.execute(delete(table).where(owner_column == owner_id, table.c.key.in_(gone)))
        for key in changed:
            if key in updated and key in current:
                connection.execute(
                    update(table).where(owner_column == owner_id, table.c.key == key).values(value=updated[key])
                )
        added = [{owner_column.key: owner_id, "key": k, "value": updated[k]} for k in changed if k not in current]
        if added:
            connection.execute(insert(table), added)
        work.record(
            AuditAction.MODEL_TAGS if number is None else AuditAction.VERSION_TAGS, name, number,
            {k: current[k] for k in changed if k in current},
            {k: updated[k] for k in changed if k in updated},
        )
        return parse_tags(updated)


def set_description(catalog: Catalog, actor: str, name: str, number: int | None, text: str | None) -> None:
    """Change the description of a model (``number`` None) or of one of its versions."""
    with catalog.write(actor) as work:
        connection = work.connection
        if number is None:
            model = lock_model(connection, name)
            model_id, current = model.id, model.description
        else:
            row = lock_version(connection, work.dialect, name, number)
            model_id, current = row.model_id_, row.description
        if current == text:
            return
        if number is not None:
            connection.execute(update(VERSIONS).where(VERSIONS.c.id == row.id).values(description=text, updated_at=work.now))
        else:
            connection.execute(update(MODELS).where(MODELS.c.id == model_id).values(description=text, updated_at=work.now))
        work.record(
            AuditAction.MODEL_DESCRIPTION if number is None else AuditAction.VERSION_DESCRIPTION, name, number,
            {"description": current}, {"description": text},
        )


def _label(name: str, number: int | None) -> str:
    return f"model {name!r}" if number is None else f"{name} version {number}"
