"""Actor names: which are refused, how two are compared, and how one is shown.

A name is stored as given (trimmed). It is refused when any of it cannot be
seen: control and format characters (zero-width spaces, bidi controls), every
default-ignorable code point (Hangul fillers, variation selectors, tag
characters), blank symbols such as the braille blank, a name of combining
marks with no letter under them, or one of whitespace only. Two names are the
same person when some case of one reads like some case of the other:
NFKC-normalized, whitespace runs collapsed, then compared by their Unicode
TR39 confusable skeleton as written, case-folded and in capitals (see
:func:`identities`), so ``dаgster`` with a Cyrillic ``а`` is ``dagster``,
and ``aIice`` with a capital I is ``alice``.

The skeleton's table is Unicode's own ``confusables.txt`` (UTS #39, version
17.0.0), shipped unchanged beside this module; it is read on first
comparison, not at import, so the command line starts as fast as before.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from importlib import resources

from .errors import InvalidInput

__all__ = ["MAX_ACTOR", "distinct_people", "identities", "same_person", "shown_actor", "validate_actor"]

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


def identities(name: str) -> frozenset[str]:
    """The forms in which actor names are compared: two names sharing one are the same person.

    Each is the TR39 skeleton of the name as written, case-folded or in
    capitals (after NFKC, whitespace runs collapsed): a name is the same
    person as another when some case of it looks like some case of the
    other. So ``dаgster`` (Cyrillic а) is ``dagster``, ``aIice`` (capital I)
    is ``alice``, and the Greek capitals ``ΒΟΒ`` are ``bob``. Skeletons keep
    case, as TR39 defines them: ``ALI`` (I for l) stays apart from ``ALL``.
    """
    text = _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFKC", name).strip())
    return frozenset(skeleton(unicodedata.normalize("NFKC", case)) for case in (text, text.casefold(), text.upper()))


def same_person(a: str, b: str) -> bool:
    """Whether two actor names name the same person (see :func:`identities`)."""
    return not identities(a).isdisjoint(identities(b))


def distinct_people(names: Iterable[str]) -> list[str]:
    """One name per person among ``names``, the first spelling of each, in order.

    Spellings that are the same person through a third (``ALICE`` is
    ``alice`` by case, ``aIice`` by shape) are one person whatever the order.
    """
    groups: list[tuple[set[str], str, int]] = []  # (keys, first spelling, position of the first spelling)
    for position, name in enumerate(names):
        keys = set(identities(name))
        joined = [group for group in groups if group[0] & keys]
        groups = [group for group in groups if not group[0] & keys]
        first = min([(p, n) for _, n, p in joined] + [(position, name)])
        groups.append((keys.union(*(group[0] for group in joined)), first[1], first[0]))
    return [name for _, name, _ in sorted(groups, key=lambda group: group[2])]


def skeleton(text: str) -> str:
    """The TR39 skeleton of ``text``: NFD, each character replaced by its prototype, NFD again."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(char, char) for char in decomposed))


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype, from Unicode's ``confusables.txt`` shipped beside this module.

    Each data line reads ``source ; prototype ; MA # comment``, code points in hex.
    """
    prototypes: dict[str, str] = {}
    text = resources.files(__package__).joinpath("confusables.txt").read_text("utf-8-sig")
    for line in text.splitlines():
        data = line.split("#", 1)[0]
        if not data.strip():
            continue
        source, prototype, *_ = data.split(";")
        prototypes[chr(int(source, 16))] = "".join(chr(int(point, 16)) for point in prototype.split())
    return prototypes
