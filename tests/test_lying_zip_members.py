"""A skops member whose deflate stream holds more, or less, than it declares never inflates past its declared size."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib

import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from registry_core import GatePolicy, InvalidInput, Registry
from registry_core.estimators import load_estimator

#: What the lying member's stream holds beyond what it declares.
HIDDEN = 64 << 20


def model_bytes() -> bytes:
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 1])
    return skops.io.dumps(model, compression=zipfile.ZIP_DEFLATED)


def lying(data: bytes, *, extra: int, cut: int = 0) -> tuple[bytes, str]:
    """``data`` with one array member's stream replaced by its content plus ``extra`` zeros (or minus ``cut`` bytes).

    Its declared size and CRC still describe the true content, in the local header and in the central directory,
    so ``zipfile`` reads it without complaint: it cuts the stream at the declared size and the CRC matches.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        name = next(info.filename for info in source.infolist() if info.filename.endswith(".npy"))
        content = source.read(name)
        members = [(info, source.read(info)) for info in source.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info, body in members:
            target.writestr(info, content[: len(content) - cut] + bytes(extra) if info.filename == name else body)
    forged = bytearray(out.getvalue())
    crc, size = zlib.crc32(content), len(content)
    encoded = name.encode()
    for signature, crc_at in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        at = forged.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if forged[name_at:name_at + len(encoded)] == encoded:
                struct.pack_into("<I", forged, at + crc_at, crc)
                struct.pack_into("<I", forged, at + crc_at + 8, size)
            at = forged.find(signature, at + 4)
    return bytes(forged), name


def load(registry: Registry, data: bytes):
    sha256 = registry.store.put_stream(io.BytesIO(data)).sha256
    return load_estimator(registry.store, sha256=sha256, label="models:/lying/1", format={"serializer": "skops"},
                          model="lying", policy=GatePolicy())


def test_the_forgery_really_hides_its_stream_from_the_declared_size():
    """zipfile itself inflates the whole hidden stream when asked for the member, then returns what was declared."""
    data, name = lying(model_bytes(), extra=HIDDEN)
    assert len(data) < 1 << 20
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        declared = archive.getinfo(name).file_size
        tracemalloc.start()
        try:
            assert len(archive.read(name)) == declared
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak > HIDDEN


def test_a_member_hiding_more_than_it_declares_loads_within_its_declared_size(registry: Registry):
    """Read a megabyte at a time, the hidden 64 MiB never reach memory; the model loads as declared."""
    data, _ = lying(model_bytes(), extra=HIDDEN)
    tracemalloc.start()
    try:
        model = load(registry, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert model.predict([[3.0]]) is not None
    assert peak < 8 << 20, peak


def test_a_member_holding_less_than_it_declares_is_one_line(registry: Registry):
    data, name = lying(model_bytes(), extra=0, cut=16)
    with pytest.raises(InvalidInput) as refused:
        load(registry, data)
    message = str(refused.value)
    assert message.startswith(f"models:/lying/1: member {name!r} ")
    assert "\n" not in message
