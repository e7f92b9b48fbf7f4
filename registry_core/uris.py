"""Model URIs: ``models:/NAME/VERSION``, ``models:/NAME/STAGE``, ``models:/NAME@ALIAS``, ``models:/NAME/latest``."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput
from .stages import Stage, parse_stage
from .validation import is_number, validate_alias, validate_name, validate_version_number

__all__ = ["ModelRef", "parse_model_uri"]

_SCHEME = "models:/"


@dataclass(frozen=True)
class ModelRef:
    """What a model URI points at: exactly one of version, stage, alias or latest (or none: the model)."""

    name: str
    version: int | None = None
    stage: Stage | None = None
    alias: str | None = None
    latest: bool = False

    def __str__(self) -> str:
        if self.version is not None:
            return f"{_SCHEME}{self.name}/{self.version}"
        if self.stage is not None:
            return f"{_SCHEME}{self.name}/{self.stage}"
        if self.alias is not None:
            return f"{_SCHEME}{self.name}@{self.alias}"
        if self.latest:
            return f"{_SCHEME}{self.name}/latest"
        return f"{_SCHEME}{self.name}"


def parse_model_uri(uri: str, *, allow_model: bool = False) -> ModelRef:
    """Parse a model URI; with ``allow_model``, ``models:/NAME`` (the model itself) is accepted too."""
    if not isinstance(uri, str) or not uri.startswith(_SCHEME):
        raise InvalidInput(
            f"invalid model URI {uri!r}: expected models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME@ALIAS or models:/NAME/latest"
        )
    rest = uri[len(_SCHEME):]
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return ModelRef(name=validate_name(name), alias=validate_alias(alias))
    name, sep, selector = rest.partition("/")
    validate_name(name)
    if not sep:
        if allow_model:
            return ModelRef(name=name)
        raise InvalidInput(f"invalid model URI {uri!r}: name a version, stage, alias or 'latest' after the model name")
    if "/" in selector or not selector:
        raise InvalidInput(f"invalid model URI {uri!r}: expected exactly one of VERSION, STAGE or latest after the name")
    if selector.lower() == "latest":
        return ModelRef(name=name, latest=True)
    if is_number(selector):
        return ModelRef(name=name, version=validate_version_number(selector))
    try:
        return ModelRef(name=name, stage=parse_stage(selector))
    except InvalidInput:
        raise InvalidInput(
            f"invalid model URI {uri!r}: {selector!r} is neither a version number, a stage nor 'latest'"
        ) from None
