"""Estimator parameters that make scikit-learn itself reach outside the process: refused unless a policy allows them.

Every class a skops version may construct is scikit-learn's own or trusted by
the policy, yet some of scikit-learn's own classes read or write files when
given the right parameter: a text vectorizer with ``input="filename"`` opens
the path each input names (so a pipeline that turns any input into a fixed
path returns that file's contents through ``/predict``), and ``memory`` caches
fitted transformers on disk. These are found by walking everything the
estimator holds (nested estimators, and any list, dict, object array, partial,
bound method or plain object they sit in), at registration and again after
every load, and refused unless the model's policy names them in
``allow_io_parameters``.

The list was made by reading every estimator's constructor parameters in
scikit-learn (``sklearn.utils.all_estimators``): the vectorizers' ``input``
and the ``memory`` of Pipeline, AgglomerativeClustering, FeatureAgglomeration
and OPTICS are the parameters that take a path or a file. Callables
(``func``, ``metric``, ``tokenizer`` ...) are types, which the trusted-type
rule already judges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UntrustedType
from .object_graph import walk

if TYPE_CHECKING:
    from .policy import GatePolicy

__all__ = ["IO_PARAMETERS", "IoParameter", "IoParameterRefused", "check_io_parameters", "io_parameters"]

class IoParameterRefused(UntrustedType):
    """An estimator whose parameters make scikit-learn read or write files, not allowed by its model's policy."""

    kind = "io_parameter_refused"


@dataclass(frozen=True)
class IoParameter:
    """One scikit-learn class and parameter that, with some values, reaches the file system."""

    cls: str
    param: str
    does_io: Callable[[Any], bool]
    what: str

    @property
    def key(self) -> str:
        """``Class.param``, the spelling a policy's ``allow_io_parameters`` uses."""
        return f"{self.cls}.{self.param}"


def _reads_files(value: Any) -> bool:
    return value in ("filename", "file")


def _caches(value: Any) -> bool:
    return value is not None


IO_PARAMETERS: tuple[IoParameter, ...] = (
    *(IoParameter(cls, "input", _reads_files, "input='filename' or 'file' opens each input as a file")
      for cls in ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")),
    *(IoParameter(cls, "memory", _caches, "memory caches fitted transformers in a folder on disk")
      for cls in ("Pipeline", "AgglomerativeClustering", "FeatureAgglomeration", "OPTICS")),
)
_BY_CLASS: dict[str, list[IoParameter]] = {}
for _parameter in IO_PARAMETERS:
    _BY_CLASS.setdefault(_parameter.cls, []).append(_parameter)
#: Every ``Class.param`` a policy may allow.
KNOWN = frozenset(parameter.key for parameter in IO_PARAMETERS)


def io_parameters(estimator: Any) -> list[str]:
    """Every ``Class.param`` in ``estimator`` (nested estimators included) whose value reaches the file system."""
    return sorted({parameter.key for parameter in _found(estimator)})


def check_io_parameters(estimator: Any, *, subject: str, model: str, policy: GatePolicy) -> list[str]:
    """The I/O parameters found (each allowed by ``policy``), or :class:`IoParameterRefused` naming the first refused."""
    found = io_parameters(estimator)
    refused = [key for key in found if key not in policy.allow_io_parameters]
    if refused:
        first = next(p for p in IO_PARAMETERS if p.key == refused[0])
        raise IoParameterRefused(
            f"{subject} sets {first.key} ({first.what}), which gives the model access to the host's files; the policy "
            f"of {model!r} does not allow it. If you trust it: registry policy {model} "
            + " ".join(f"--allow-io-parameter {key}" for key in refused),
            refused,
        )
    return found


def _found(root: Any) -> Iterator[IoParameter]:
    """Every I/O parameter set anywhere in the object graph under ``root`` (see :func:`.object_graph.walk`)."""
    for value in walk(root):
        if _is_estimator(value):
            for parameter in _BY_CLASS.get(_sklearn_class_name(value) or "", ()):
                if parameter.does_io(getattr(value, parameter.param, None)):
                    yield parameter


def _is_estimator(value: Any) -> bool:
    base = _sklearn_base()
    return base is not None and isinstance(value, base.BaseEstimator)


def _sklearn_base() -> Any:
    import sys

    return sys.modules.get("sklearn.base")


def _sklearn_class_name(value: Any) -> str | None:
    """The class's own name when some class in its MRO is the scikit-learn class of that name (subclasses count)."""
    for cls in type(value).__mro__:
        if cls.__module__.split(".")[0] == "sklearn" and cls.__name__ in _BY_CLASS:
            return cls.__name__
    return None
