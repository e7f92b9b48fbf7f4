"""Every object a loaded model holds, walked without recursion: what the checks after loading look at.

An estimator can sit in an object array, a ``functools.partial``, a bound
method or any plain object as well as in a list, a dict or another
estimator's parameters; a check that looked only at parameters would be a
place to hide. The walk has no depth limit for the same reason.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from types import BuiltinFunctionType, MethodType, ModuleType
from typing import Any

__all__ = ["walk"]

#: Values that hold nothing: walked past at once.
_LEAVES = (str, bytes, bytearray, int, float, complex, bool, type(None), type, ModuleType, BuiltinFunctionType)


def walk(root: Any) -> Iterator[Any]:
    """Each object reachable from ``root`` (itself included), once, leaves of no interest skipped."""
    seen: dict[int, Any] = {}  # holding each value keeps its id from being reused by a temporary
    pending: list[Any] = [root]
    while pending:
        value = pending.pop()
        if isinstance(value, _LEAVES) or id(value) in seen:
            continue
        seen[id(value)] = value
        pending.extend(_children(value))
        yield value


def _children(value: Any) -> list[Any]:
    """What ``value`` holds: items of containers and object arrays, a partial's or method's parts, every attribute."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return list(value.ravel()) if value.dtype.hasobject else []
    children: list[Any] = []
    if isinstance(value, dict):
        children.extend(value.keys())
        children.extend(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        children.extend(value)
    if isinstance(value, functools.partial):
        children.extend((value.func, value.args, value.keywords))
    if isinstance(value, MethodType):
        children.extend((value.__self__, value.__func__))
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        attributes = None
    if isinstance(attributes, dict):
        children.extend(attributes.values())
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots if isinstance(slots, tuple | list) else ():
            with contextlib.suppress(AttributeError, TypeError):
                children.append(object.__getattribute__(value, slot))
    return children
