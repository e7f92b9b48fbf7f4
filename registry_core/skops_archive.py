"""A skops file measured before anything in it is inflated: member sizes, array sizes, object count, nesting.

A skops file is a zip of a JSON schema and ``.npy`` arrays. Deflate shrinks
zeros a thousandfold, so a few megabytes can declare a gigabyte; and a schema
can nest deeper than the loader's recursion or name millions of objects. The
zip's central directory declares every member's inflated size, and reading a
member never yields more than it declares (``zipfile`` stops there and checks
the CRC), so the sizes checked here bound what loading may allocate. Each
array's header (a few hundred bytes, read on its own) must declare no more
data than its member holds. Everything here reads only what it measures.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput

__all__ = ["ArchiveSize", "LoadLimits", "bounded_copy", "measure", "reproducible"]

#: The deepest schema nesting accepted: a pipeline of pipelines is a few dozen levels; skops recurses per level.
MAX_NESTING = 200
#: The most members a skops file may have (one per array and the schema).
MAX_MEMBERS = 100_000
_NPY_HEADER_BYTES = 65_536
#: JSON values a schema may hold per object it may construct: a node of a real schema holds about six.
JSON_VALUES_PER_OBJECT = 16
#: How much of a member is inflated at a time while it is copied (see :func:`bounded_copy`).
_PIECE = 1 << 20


@dataclass(frozen=True)
class LoadLimits:
    """What loading one version may inflate: total bytes of every member, and objects the schema may construct."""

    max_bytes: int
    max_objects: int


@dataclass(frozen=True)
class ArchiveSize:
    """What a skops file inflates to."""

    bytes: int
    objects: int


def measure(data: bytes, *, label: str, limits: LoadLimits, hint: str) -> ArchiveSize:
    """The inflated size and object count of a skops file, or :class:`InvalidInput` naming what is over a limit.

    ``hint`` says how to raise the limits (the policy command); it ends every refusal.
    """
    archive, members = _declared(data, label=label, limits=limits, hint=hint)
    with archive:
        try:
            schema_info = archive.getinfo("schema.json")
        except KeyError:
            raise InvalidInput(f"{label} is not a readable skops file: it has no schema.json") from None
        schema = _read_schema(archive, schema_info, label, limits, hint)
        objects, reads = _walk_schema(schema, label)
        if objects > limits.max_objects:
            raise InvalidInput(
                f"{label}: its schema constructs {objects} objects, over the limit of {limits.max_objects}; {hint}"
            )
        # Loading reads a member once per node naming it, and a member that is a zip (a sparse matrix's .npz)
        # inflates again inside: charged per read, with its inner members' declared sizes.
        total = schema_info.file_size
        for name, count in sorted(reads.items()):
            try:
                member = archive.getinfo(name)
            except KeyError:
                raise InvalidInput(f"{label} is not a readable skops file: its schema names a missing member {name!r}") from None
            size = member.file_size + _inner_size(archive, member, label)
            total += size * count
            if total > limits.max_bytes:
                read = f" (read by {count} nodes)" if count > 1 else ""
                raise InvalidInput(
                    f"{label}: member {name!r} inflates to {size} bytes{read}, bringing the version to {total} bytes, "
                    f"over the limit of {limits.max_bytes} bytes; {hint}"
                )
        for member in members:
            if member.filename.endswith(".npy"):
                _check_array(archive, member, label)
    return ArchiveSize(max(total, sum(member.file_size for member in members)), objects)


def bounded_copy(data: bytes, *, label: str, limits: LoadLimits, hint: str) -> bytes:
    """The skops file rewritten with its members stored, each inflated a megabyte at a time, never past its size.

    Asked for a whole member, ``zipfile`` inflates everything its deflate stream
    holds in one call and only then cuts it to the size the member declares: a
    member whose stream holds more than it declares (its CRC forged to match
    what is kept) would reach memory whole. Read in bounded pieces instead,
    nothing is inflated more than a piece past the declared sizes, which are
    checked against ``limits`` first; everything after reads the stored copy.
    """
    archive, members = _declared(data, label=label, limits=limits, hint=hint)
    out = io.BytesIO()
    with archive, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        for member in members:
            stored = zipfile.ZipInfo(member.filename, date_time=(1980, 1, 1, 0, 0, 0))
            try:
                with archive.open(member) as source, copy.open(
                    stored, "w", force_zip64=member.file_size >= zipfile.ZIP64_LIMIT
                ) as target:
                    left = member.file_size
                    while left > 0:
                        piece = source.read(min(_PIECE, left))
                        if not piece:
                            raise InvalidInput(
                                f"{label}: member {member.filename!r} holds fewer bytes than the "
                                f"{member.file_size} it declares"
                            )
                        target.write(piece)
                        left -= len(piece)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise InvalidInput(f"{label}: member {member.filename!r} is not readable: {exc}") from None
    return out.getvalue()


def _declared(data: bytes, *, label: str, limits: LoadLimits, hint: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The archive and its members, once their number and declared inflated sizes are within limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidInput(f"{label} is not a readable skops file: {exc}") from None
    if len(members) > MAX_MEMBERS:
        archive.close()
        raise InvalidInput(f"{label} has {len(members)} members, more than the {MAX_MEMBERS} a skops file may have")
    total = 0
    for member in members:
        total += member.file_size
        if total > limits.max_bytes:
            archive.close()
            raise InvalidInput(
                f"{label}: member {member.filename!r} inflates to {member.file_size} bytes, bringing the version to "
                f"{total} bytes, over the limit of {limits.max_bytes} bytes; {hint}"
            )
    return archive, members


def _read_schema(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, limits: LoadLimits, hint: str
) -> dict[str, Any]:
    try:
        text = archive.read(info)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{label} is not a readable skops file: {exc}") from None
    # Parsed JSON takes tens of times its text in memory: its values are bounded before parsing (an upper
    # bound, as brackets and commas inside strings count too; a node of a real schema holds about six).
    values = text.count(b"{") + text.count(b"[") + text.count(b",")
    if values > JSON_VALUES_PER_OBJECT * limits.max_objects:
        raise InvalidInput(
            f"{label}: its schema holds up to {values} JSON values, over the {JSON_VALUES_PER_OBJECT} per object "
            f"of the limit of {limits.max_objects} objects; {hint}"
        )
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError, zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{label} is not a readable skops file: its schema is not JSON ({type(exc).__name__})") from None
    if not isinstance(schema, dict):
        raise InvalidInput(f"{label} is not a readable skops file: its schema is a {type(schema).__name__}, not an object")
    return schema


def _walk_schema(schema: dict[str, Any], label: str) -> tuple[int, dict[str, int]]:
    """Objects the schema describes (nodes with a ``__class__``) and how often each member is read by a node.

    Walked without recursion; refuses deep nesting.
    """
    count = 0
    reads: dict[str, int] = {}
    pending: list[tuple[Any, int]] = [(schema, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            raise InvalidInput(f"{label}: its schema nests deeper than {MAX_NESTING} levels")
        if isinstance(node, dict):
            if "__class__" in node:
                count += 1
                if isinstance(node.get("file"), str):
                    reads[node["file"]] = reads.get(node["file"], 0) + 1
            pending.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            pending.extend((value, depth + 1) for value in node)
    return count, reads


def _inner_size(archive: zipfile.ZipFile, member: zipfile.ZipInfo, label: str) -> int:
    """What a member that is itself a zip (a sparse matrix's .npz) declares its own members inflate to; else 0."""
    with archive.open(member) as stream:
        if stream.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            return 0
    try:
        inner = zipfile.ZipFile(io.BytesIO(archive.read(member)))
        infos = inner.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidInput(f"{label}: member {member.filename!r} is not a readable archive: {exc}") from None
    if len(infos) > MAX_MEMBERS:
        raise InvalidInput(f"{label}: member {member.filename!r} has {len(infos)} members of its own")
    with inner:
        for info in infos:
            _check_array(inner, info, f"{label}: member {member.filename!r}")
    return sum(info.file_size for info in infos)


def _check_array(archive: zipfile.ZipFile, member: zipfile.ZipInfo, label: str) -> None:
    """An array's header must declare no more data than its member holds (numpy allocates what the header says)."""
    import numpy as np
    from numpy.lib import format as npy

    try:
        with archive.open(member) as stream:
            head = io.BytesIO(stream.read(min(member.file_size, _NPY_HEADER_BYTES)))
        version = npy.read_magic(head)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(head)
        else:
            shape, _, dtype = npy.read_array_header_2_0(head)
        declared = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    except (ValueError, TypeError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidInput(f"{label}: array {member.filename!r} has no readable header ({exc})") from None
    if dtype.hasobject:
        return  # object arrays are unpickled, which skops refuses before this matters
    if declared > member.file_size:
        raise InvalidInput(
            f"{label}: array {member.filename!r} declares {declared} bytes but its member holds {member.file_size}"
        )


def reproducible(data: bytes) -> bytes:
    """The same archive made reproducible: an identical model gives identical bytes.

    skops names objects and their array files after ``id()`` (memory addresses)
    and stamps each entry with the time of writing, so the same model would
    never be byte-identical twice. The ids are renumbered in order of first
    appearance in the schema, the files renamed to match, the entries written
    in name order with a fixed time.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {info.filename: (info, source.read(info.filename)) for info in source.infolist()}
    schema = json.loads(entries["schema.json"][1])
    numbers: dict[str, str] = {}

    def renumber(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "__id__" and isinstance(item, int):
                    out[key] = int(numbers.setdefault(str(item), str(len(numbers) + 1)))
                elif key == "file" and isinstance(item, str) and item.endswith(".npy") and item[:-4].isdigit():
                    out[key] = numbers.setdefault(item[:-4], str(len(numbers) + 1)) + ".npy"
                else:
                    out[key] = renumber(item)
            return out
        if isinstance(value, list):
            return [renumber(item) for item in value]
        return value

    renamed = {"schema.json": json.dumps(renumber(schema), sort_keys=True).encode()}
    for name, (_info, content) in entries.items():
        if name == "schema.json":
            continue
        if name.endswith(".npy") and name[:-4] in numbers:
            renamed[numbers[name[:-4]] + ".npy"] = content
        else:
            renamed[name] = content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = entries[name][0].compress_type if name in entries else zipfile.ZIP_DEFLATED
            target.writestr(info, renamed[name])
    return out.getvalue()
