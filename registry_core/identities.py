"""Actor names: which are refused, how two are compared, and how one is shown.

A name is stored as given (trimmed). It is refused when any of it cannot be
seen: control and format characters (zero-width spaces, bidi controls), every
default-ignorable code point (Hangul fillers, variation selectors, tag
characters), blank symbols such as the braille blank, a name of combining
marks with no letter under them, or one of whitespace only. Two names are the
same person when their *identities* are equal: NFKC-normalized, whitespace
runs collapsed, case-folded, then reduced to their Unicode TR39 confusable
skeleton, so ``dаgster`` with a Cyrillic ``а`` is ``dagster``.

The skeleton's table is Unicode's ``confusables.txt`` as the
``confusable-homoglyphs`` package ships it; it is read on first comparison,
not at import, so the command line starts as fast as before.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from importlib import resources

from .errors import InvalidInput

__all__ = ["MAX_ACTOR", "identity", "same_person", "shown_actor", "validate_actor"]

MAX_ACTOR = 256

#: Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt) outside category Cf, which
#: ``str.isprintable`` already refuses: they render as nothing in most fonts.
_IGNORABLE_NOT_FORMAT = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u3164\ufe00-\ufe0f\uffa0\ufff0-\ufff8\U000e0000-\U000e0fff]"
)
#: Characters that are not ignorable but print as an empty cell: the braille blank, and the
#: Hangul and halfwidth fillers again for clarity of intent.
_BLANK_SYMBOLS = frozenset("\u2800\u3164\uffa0\u115f\u1160")
_WHITESPACE_RUN = re.compile(r"\s+")


def validate_actor(actor: str) -> str:
    """Return ``actor`` trimmed, if every character of it can be seen; else raise :class:`InvalidInput`."""
    text = actor.strip() if isinstance(actor, str) else ""
    problem = _invisible(text) if text else "it is empty"
    if problem is None and len(text) > MAX_ACTOR:
        problem = f"it is {len(text)} characters long"
    if problem is not None:
        raise InvalidInput(
            f"invalid actor {shown_actor(actor) if isinstance(actor, str) else repr(actor)}: {problem}; "
            f"use 1-{MAX_ACTOR} visible characters"
        )
    return text


def _invisible(text: str) -> str | None:
    """Why ``text`` would not show as what it holds, or None."""
    for char in text:
        if char in _BLANK_SYMBOLS or _IGNORABLE_NOT_FORMAT.match(char) or not (char.isprintable() or char == " "):
            return f"it holds the invisible character U+{ord(char):04X}"
    if all(unicodedata.category(char).startswith("M") or char.isspace() for char in text):
        return "it has no visible letter"
    return None


def shown_actor(name: str) -> str:
    """``name`` as a terminal or a web page may show it: every invisible character written as ``\\u3164``.

    Names recorded before invisible characters were refused still show as
    something; names recorded since are returned unchanged.
    """
    if name and _invisible(name) is None:
        return name
    return "".join(
        char if char == " " or (char.isprintable() and char not in _BLANK_SYMBOLS and not _IGNORABLE_NOT_FORMAT.match(char))
        else (f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        for char in name
    ) or "''"


def identity(name: str) -> str:
    """The form in which two actor names are compared (see the module's docstring)."""
    text = _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFKC", name).strip()).casefold()
    # Some prototypes are capitals ('0' -> 'O'): fold again after the skeleton.
    return unicodedata.normalize("NFKC", skeleton(text)).casefold()


def same_person(a: str, b: str) -> bool:
    """Whether two actor names name the same person (see :func:`identity`)."""
    return identity(a) == identity(b)


def skeleton(text: str) -> str:
    """The TR39 skeleton of ``text``: NFD, each character replaced by its prototype, NFD again."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(char, char) for char in decomposed))


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype, read from the package's copy of ``confusables.txt``.

    The package keeps each line (source -> prototype) in both directions. A
    source maps to exactly one prototype and a prototype never maps further
    (TR39 makes the mapping idempotent), so a character with several partners,
    or a sequence of several characters, is a prototype; in a lone pair the
    source is the one the file listed first.
    """
    text = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    raw: dict[str, list[dict[str, str]]] = json.loads(text)
    # Right-to-left characters are wrapped in LEFT-TO-RIGHT MARKs for display; they are not part of them.
    order = {key.replace("\u200e", ""): position for position, key in enumerate(raw)}
    partners: dict[str, set[str]] = {}
    for key, entries in raw.items():
        partners.setdefault(key.replace("\u200e", ""), set()).update(e["c"].replace("\u200e", "") for e in entries)
    prototypes: dict[str, str] = {}
    for char, others in partners.items():
        if len(char) != 1 or len(others) != 1:
            continue
        (other,) = others
        if len(other) > 1 or len(partners.get(other, ())) > 1 or order[char] < order.get(other, len(order)):
            prototypes[char] = other
    return prototypes
