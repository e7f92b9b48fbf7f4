"""A version loaded first in a separate process, so that whatever loading it does can take only that process down.

The checks before loading (types, I/O parameters, inflated sizes) refuse what
they know of, but a trusted type can still crash its interpreter (a native
extension reading a forged state), exhaust memory or hang. A server that loads
an unapproved candidate next to Production (``registry serve --shadow`` or
``--canary``) therefore tries it in a child process first: the child gets the
verified bytes on stdin, limits its own address space to what the model's
policy allows plus the interpreter, loads the version the same way, warms it
up on the records the server will warm it up on (a :class:`Rehearsal`), and
exits. Only when that succeeds is the version loaded in the server itself.
What no rehearsal can cover (a crash on some later input) the checks after
loading answer for scikit-learn's own classes (:mod:`.tree_structure`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, RegistryError

if TYPE_CHECKING:
    from .policy import GatePolicy

__all__ = ["TRIAL_TIMEOUT_SECONDS", "LoadCrashed", "Rehearsal", "try_in_separate_process"]

#: How long the separate process may take to load a version.
TRIAL_TIMEOUT_SECONDS = 300.0
#: The interpreter with numpy, scipy, scikit-learn and skops imported (about 600 MiB of address space), with room.
_INTERPRETER_BYTES = 1536 * 1024 * 1024
#: Loading may hold a member's bytes, the array made from them and a copy: a few times the inflated limit.
_PER_INFLATED_BYTE = 4


class LoadCrashed(InvalidInput):
    """A version whose loading failed, crashed or ran out of time or memory in the separate process that tried it."""

    kind = "load_crashed"


@dataclass(frozen=True)
class Rehearsal:
    """What the separate process does after loading: warm the version up as a server is about to.

    ``records`` are the recent real records (None: zeros of the version's inputs); ``signature`` is the version's.
    """

    records: list[Any] | None
    signature: dict[str, Any] | None


def try_in_separate_process(
    data: bytes, *, sha256: str, label: str, format: dict[str, Any], model: str, policy: GatePolicy,
    timeout: float = TRIAL_TIMEOUT_SECONDS, rehearsal: Rehearsal | bool | None = None,
) -> None:
    """Load ``data`` (a version's verified bytes) in a child process; raise :class:`LoadCrashed` unless it loads.

    With a :class:`Rehearsal`, the child also warms the loaded version up, and must survive that too.
    """
    if not isinstance(rehearsal, Rehearsal):
        rehearsal = None
    header = {
        "sha256": sha256, "label": label, "format": format, "model": model, "policy": policy.to_dict(),
        "address_space": _INTERPRETER_BYTES + _PER_INFLATED_BYTE * policy.max_load_bytes,
        "rehearsal": None if rehearsal is None else {"records": rehearsal.records, "signature": rehearsal.signature},
    }
    # The child imports what this process would: the same path, whatever added to it since start.
    path = os.pathsep.join(entry or os.getcwd() for entry in sys.path)
    env = {**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__], input=json.dumps(header).encode() + b"\n" + data,
            capture_output=True, timeout=timeout, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoadCrashed(f"{label} did not load within {timeout:.0f} s in the separate process that tried it first") from None
    if done.returncode == 0:
        return
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else str(-done.returncode)
        raise LoadCrashed(f"{label} crashed the separate process that tried it first (signal {name}); not loaded")
    said = done.stdout.decode("utf-8", "replace").strip().splitlines()
    reason = said[-1] if said else f"it exited with {done.returncode}"
    raise LoadCrashed(f"{label} did not load in the separate process that tried it first: {reason}"[:2000])


class _OneBlob:
    """The verified bytes the parent sent, as the one blob of a store."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def open(self, sha256: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def _main() -> int:
    header = json.loads(sys.stdin.buffer.readline())
    try:
        import resource

        limit = int(header["address_space"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # no such limit on this platform: the child still contains a crash, not the memory it takes
    data = sys.stdin.buffer.read()
    from .estimators import load_estimator
    from .policy import GatePolicy

    try:
        model_format = header["format"].get("model_format")
        if model_format is not None:  # ONNX or a booster: its library's own loader, on the same verified bytes
            from .formats import load_model_file

            if hashlib.sha256(data).hexdigest() != header["sha256"]:
                raise RegistryError(f"{header['label']}: the bytes sent do not match its digest")
            estimator = load_model_file(model_format, data, label=header["label"])
        else:
            estimator = load_estimator(
                _OneBlob(data), sha256=header["sha256"], label=header["label"], format=header["format"],  # type: ignore[arg-type]
                model=header["model"], policy=GatePolicy.from_dict(header["policy"]),
            )
        if header.get("rehearsal") is not None:
            _rehearse(estimator, header["rehearsal"])
    except RegistryError as exc:
        print(exc.message.replace("\n", " "))
        return 1
    except MemoryError:
        print(f"it needed more memory than {header['address_space'] // (1024 * 1024)} MiB of address space")
        return 1
    except Exception as exc:  # the child exists to report whatever loading raises, in one line
        print(f"{type(exc).__name__}: {exc}".replace("\n", " ")[:2000])
        return 1
    return 0


def _rehearse(estimator: Any, rehearsal: dict[str, Any]) -> None:
    from .serving.model_holder import warm_up
    from .serving.payload import InputSchema

    warm_up(estimator, InputSchema.of(estimator, rehearsal["signature"]), rehearsal["records"])


if __name__ == "__main__":
    sys.exit(_main())
