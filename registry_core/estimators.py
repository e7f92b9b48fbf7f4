"""Live scikit-learn estimators: stored with skops, or with pickle only where a model's policy opts in.

skops writes an object as a zip of JSON and arrays, and its loader builds only
the types on a list it is given. Pickle runs whatever code the pickle names
when it is loaded. So:

**What a skops version may construct.** Every type skops trusts by default
(builtins, numpy and scipy types, scikit-learn's estimators), every *class*
defined in scikit-learn (outside its test and vendored code and its
``sklearn.callback`` package, whose callbacks open sockets when restored), and the types
its model's policy names in ``trusted_types``; nothing else. The
scikit-learn rule looks up the name the loader will import and requires a
class whose own ``__module__`` is scikit-learn's: a name that merely points
into scikit-learn does not count, and neither do functions, since
scikit-learn ships helpers that run programs and a ``FunctionTransformer``
calls whatever function it holds. The check runs at registration, before
anything is stored, and again at every load against the policy at load time.

**Pickle** is written only when asked for (``serialization="pickle"``) under a
policy with ``allow_pickle``, and loads only while the policy still allows
it. Versions pickled before pickle became opt-in carry ``legacy_pickle``
(set by migration 0006) and keep loading, with a :class:`LegacyPickleWarning`.

Nothing here imports scikit-learn or skops until an estimator is packed or loaded.
"""

from __future__ import annotations

import enum
import importlib
import io
import pickle
import platform
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .blobstore import BlobStore, copy_verified
from .contained_load import Rehearsal, try_in_separate_process
from .errors import InvalidInput, PickleNotAllowed, RegistryError, UntrustedType
from .estimator_checks import check_estimator
from .extras import require_extra, requiring_extra
from .skops_archive import LoadLimits, bounded_copy, measure, reproducible

if TYPE_CHECKING:
    from .policy import GatePolicy

__all__ = [
    "LegacyPickleWarning",
    "ModelVersionWarning",
    "Serialization",
    "check_format_allowed",
    "describe_serialization",
    "is_scikit_learn_class",
    "load_estimator",
    "parse_serialization",
    "serialize_estimator",
]

PICKLE_PROTOCOL = 5
#: Module path parts whose classes are not trusted by the scikit-learn rule: test suites and vendored code.
_NOT_SCIKIT_LEARNS_OWN = frozenset({"tests", "conftest", "_testing", "externals", "_build_utils", "__check_build"})


class ModelVersionWarning(UserWarning):
    """A model saved with different library versions than the ones loading it."""


class LegacyPickleWarning(UserWarning):
    """A version pickled before pickle became opt-in, loaded although its model's policy does not allow pickle."""


class Serialization(enum.StrEnum):
    """How a live estimator is written to its blob."""

    SKOPS = "skops"
    PICKLE = "pickle"


def parse_serialization(value: str | Serialization | None) -> Serialization:
    """The serialization named by ``value`` (default skops); anything else is :class:`InvalidInput`."""
    if value is None:
        return Serialization.SKOPS
    try:
        return Serialization(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown serialization {value!r}: use 'skops' or 'pickle'") from None


def is_scikit_learn_class(name: str) -> bool:
    """Whether the fully qualified ``name`` imports as a class defined in scikit-learn itself.

    Only modules of scikit-learn's public subpackages (and its ``_loss``, which
    they use) are imported to find out: a name can never make the check import
    a build script or any other module with effects of its own.
    """
    if not isinstance(name, str):
        return False
    module_name, _, attribute = name.rpartition(".")
    if not _scikit_learns_own(module_name) or not _importable(module_name):
        return False
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(found, type) and _scikit_learns_own(getattr(found, "__module__", None) or "")


#: scikit-learn's private top-level packages whose classes its public subpackages construct (the loss objects).
_RUNTIME_PRIVATE = frozenset({"_loss"})


def _importable(module_name: str) -> bool:
    """Whether looking up a class may import ``module_name``: a module of a public subpackage, or already imported."""
    if module_name in sys.modules:
        return True
    parts = module_name.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        return False
    import sklearn

    public = {entry for entry in getattr(sklearn, "__all__", ()) if entry.isidentifier()} - {"externals", "experimental"}
    return parts[1] in public or parts[1] in _RUNTIME_PRIVATE


#: scikit-learn's subpackages whose classes reach outside the process when restored: a ``ScoringMonitor``
#: connects to the address its state names and opens a listening socket, so callbacks are never trusted by
#: the scikit-learn rule (a served model has no use for them).
_REACHES_OUT = frozenset({"callback"})


def _scikit_learns_own(module_name: str) -> bool:
    parts = module_name.split(".")
    return (
        parts[0] == "sklearn"
        and not _NOT_SCIKIT_LEARNS_OWN.intersection(parts)
        and not (len(parts) > 1 and parts[1] in _REACHES_OUT)
    )


def _untrusted(names: Iterable[str], policy: GatePolicy) -> list[str]:
    """The names among skops' untrusted ones that neither the scikit-learn rule nor the policy trusts."""
    listed = set(policy.trusted_types)
    return sorted(name for name in names if name not in listed and not is_scikit_learn_class(name))


def _untrusted_message(subject: str, refused: list[str], model: str) -> str:
    which = ", ".join(refused)
    noun = "type" if len(refused) == 1 else "types"
    return (
        f"{subject} contains the {noun} {which}, trusted neither as scikit-learn's own nor by the policy of "
        f"{model!r}; a trusted type's code runs wherever the model loads, so if you trust it: "
        f"registry policy {model} " + " ".join(f"--trusted-type {name}" for name in refused)
    )


def _pickle_refusal(label: str, model: str) -> str:
    return (
        f"{label} is a pickle, and loading a pickle runs whatever code it holds; the policy of {model!r} "
        f"does not allow pickle. If you trust whoever registered it: registry policy {model} --allow-pickle"
    )


def _pickle_registration_refusal(model: str) -> str:
    return (
        f"cannot register {model} as a pickle: loading a pickle runs whatever code it holds, and the policy of "
        f"{model!r} does not allow pickle. Register without serialization='pickle' (skops), or if you trust "
        f"whoever registers its versions: registry policy {model} --allow-pickle"
    )


def serialize_estimator(
    estimator: Any, *, model: str, policy: GatePolicy, serialization: Serialization
) -> tuple[bytes, dict[str, Any]]:
    """The bytes to store for a live estimator and the format record that says how to load them.

    Raises :class:`UntrustedType` or :class:`PickleNotAllowed` when the model's
    policy does not allow what the estimator needs; nothing is stored then.
    """
    sklearn = sys.modules["sklearn"]
    cls = type(estimator)
    io_parameters = check_estimator(estimator, subject=f"cannot register {model}: the estimator", model=model,
                                    policy=policy)
    record: dict[str, Any] = {
        "serializer": serialization.value,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "library": "scikit-learn",
        "library_version": sklearn.__version__,
        "python": platform.python_version(),
    }
    if io_parameters:
        record["io_parameters"] = io_parameters
    if serialization is Serialization.PICKLE:
        if not policy.allow_pickle:
            raise PickleNotAllowed(_pickle_registration_refusal(model))
        try:
            data = pickle.dumps(estimator, protocol=PICKLE_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"cannot serialize {cls.__qualname__} with pickle: {exc}") from None
        # Written only by this opt-in: 'registry audit --verify' tells these from pickles made before it existed.
        return data, {**record, "pickle_protocol": PICKLE_PROTOCOL, "pickle_opt_in": True}
    with requiring_extra("sklearn", f"registering {model} (a scikit-learn model, stored with skops)"):
        import skops
        import skops.io

    try:
        # Deflated: a forest's node arrays shrink about ninefold, for a few milliseconds more per load.
        data = reproducible(skops.io.dumps(estimator, compression=zipfile.ZIP_DEFLATED))
    except Exception as exc:  # skops raises many kinds for objects it cannot walk; one line says which
        raise InvalidInput(
            f"cannot serialize {cls.__qualname__} with skops ({type(exc).__name__}: {exc}); to store it as a pickle "
            f"instead, allow pickle in the policy of {model!r} and register with serialization='pickle'"
        ) from None
    size = measure(data, label=f"cannot register {model}: the estimator", limits=_limits(policy), hint=_limit_hint(model))
    needed = skops.io.get_untrusted_types(data=data)
    refused = _untrusted(needed, policy)
    if refused:
        raise UntrustedType(_untrusted_message(f"cannot register {model}: the estimator", refused, model), refused)
    trusted_by_policy = sorted(name for name in needed if not is_scikit_learn_class(name))
    return data, {**record, "skops_version": skops.__version__, "trusted_types": trusted_by_policy,
                  "inflated_bytes": size.bytes}


def _limits(policy: GatePolicy) -> LoadLimits:
    return LoadLimits(max_bytes=policy.max_load_bytes, max_objects=policy.max_load_objects)


def _limit_hint(model: str) -> str:
    return f"if the model really is that large: registry policy {model} --max-load-mib N --max-load-objects N"


def check_format_allowed(format: dict[str, Any], *, model: str, policy: GatePolicy) -> None:
    """Refuse a registration whose format the model's policy no longer allows (it changed while packing)."""
    serializer = format.get("serializer")
    if serializer == Serialization.PICKLE and not policy.allow_pickle:
        raise PickleNotAllowed(_pickle_registration_refusal(model))
    if serializer == Serialization.SKOPS:
        refused = sorted(set(format.get("trusted_types") or ()) - set(policy.trusted_types))
        if refused:
            raise UntrustedType(_untrusted_message(f"cannot register {model}: the estimator", refused, model), refused)
    refused_io = sorted(set(format.get("io_parameters") or ()) - set(policy.allow_io_parameters))
    if refused_io:
        raise UntrustedType(
            f"cannot register {model}: the estimator sets {', '.join(refused_io)}, which the policy of {model!r} "
            "no longer allows", refused_io,
        )


def load_estimator(
    store: BlobStore, *, sha256: str, label: str, format: dict[str, Any], model: str, policy: GatePolicy,
    contained: bool | Rehearsal = False,
) -> Any:
    """A version's estimator, its bytes verified first and its types or pickle checked against ``policy``.

    With ``contained`` (True, or a :class:`Rehearsal` to warm it up there too), the version is first loaded in a
    separate process (see :mod:`registry_core.contained_load`), so a crash there leaves this one running.
    """
    serializer = format.get("serializer")
    if serializer == Serialization.SKOPS:
        return _load_skops(store, sha256=sha256, label=label, format=format, model=model, policy=policy,
                           contained=contained)
    if serializer != Serialization.PICKLE:
        raise InvalidInput(f"{label} was serialized as {serializer!r}, which this registry cannot load")
    legacy = format.get("legacy_pickle") is True
    if not policy.allow_pickle and not legacy:
        raise PickleNotAllowed(_pickle_refusal(label, model))
    require_extra("sklearn", f"loading {label} (a scikit-learn model)")
    if contained:
        buffer = io.BytesIO()
        copy_verified(store, sha256, buffer.write, label=label)
        try_in_separate_process(buffer.getvalue(), sha256=sha256, label=label, format=format, model=model,
                                policy=policy, rehearsal=contained)
    with tempfile.TemporaryFile() as spool:
        copy_verified(store, sha256, spool.write, label=label)
        # Only verified bytes reach the unpickler.
        _warn_on_library_mismatch(format, label)
        if legacy and not policy.allow_pickle:
            warnings.warn(
                f"{label} was pickled before pickle became opt-in and loads although the policy of {model!r} does not "
                "allow pickle: loading it runs whatever code it holds. Register the estimator again (it is stored with "
                "skops) and serve that version instead",
                LegacyPickleWarning,
                stacklevel=3,
            )
        spool.seek(0)
        estimator = pickle.load(spool)  # noqa: S301 - verified bytes, and the policy (or the legacy mark) allows pickle
    check_estimator(estimator, subject=label, model=model, policy=policy)
    return estimator


def _load_skops(
    store: BlobStore, *, sha256: str, label: str, format: dict[str, Any], model: str, policy: GatePolicy,
    contained: bool | Rehearsal,
) -> Any:
    with requiring_extra("sklearn", f"loading {label} (a scikit-learn model)"):
        import skops.io

    buffer = io.BytesIO()
    copy_verified(store, sha256, buffer.write, label=label)
    # Inflated a megabyte at a time, never past each member's declared size (bounded by the policy), then measured
    # before skops reads anything: array headers, object count and nesting.
    data = bounded_copy(buffer.getvalue(), label=label, limits=_limits(policy), hint=_limit_hint(model))
    measure(data, label=label, limits=_limits(policy), hint=_limit_hint(model))
    if contained:  # the verified bytes themselves: the separate process checks their digest again
        try_in_separate_process(buffer.getvalue(), sha256=sha256, label=label, format=format, model=model, policy=policy,
                                rehearsal=contained)
    _warn_on_library_mismatch(format, label)
    try:
        needed = skops.io.get_untrusted_types(data=data)
        refused = _untrusted(needed, policy)
    except Exception as exc:  # a hand-made schema of the wrong shape raises whatever its shape provokes
        raise InvalidInput(f"{label} is not a readable skops file: {type(exc).__name__}: {exc}"[:500]) from None
    if refused:
        raise UntrustedType(_untrusted_message(f"{label}", refused, model), refused)
    try:
        # Exactly the names checked above: skops refuses any other type before constructing anything.
        estimator = skops.io.loads(data, trusted=needed)
    except RegistryError:
        raise
    except MemoryError:
        raise InvalidInput(f"{label} needs more memory to load than this process may use") from None
    except Exception as exc:  # as above: a malformed schema is the file's fault, said in one line
        raise InvalidInput(f"{label} is not a readable skops file: {type(exc).__name__}: {exc}"[:500]) from None
    check_estimator(estimator, subject=label, model=model, policy=policy)
    return estimator


def describe_serialization(format: dict[str, Any] | None) -> str | None:
    """How an estimator version was serialized, in a few words (None for files and folders)."""
    serializer = (format or {}).get("serializer")
    io_parameters = (format or {}).get("io_parameters") or []
    touches_files = f"; sets {', '.join(io_parameters)} (reads or writes files; allowed by the policy)" if io_parameters else ""
    if serializer == Serialization.SKOPS:
        trusted = (format or {}).get("trusted_types") or []
        return "skops" + (f", trusting {', '.join(trusted)}" if trusted else "") + touches_files
    if serializer == Serialization.PICKLE:
        if (format or {}).get("legacy_pickle"):
            return "pickle (registered before pickle became opt-in; loads with a warning)"
        return "pickle (loads only while the model's policy allows pickle)" + touches_files
    return None


def _warn_on_library_mismatch(format: dict[str, Any], label: str) -> None:
    saved = format.get("library_version")
    import sklearn

    if saved and saved != sklearn.__version__:
        warnings.warn(
            f"{label} was saved with scikit-learn {saved} and is being loaded with {sklearn.__version__}; "
            "predictions may differ or loading may fail",
            ModelVersionWarning,
            stacklevel=4,
        )
