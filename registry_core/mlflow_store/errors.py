"""The registry's typed errors as MLflow error codes, translated in one place.

MLflow's REST client retries 408, 429, 500, 502, 503 and 504 for minutes, so
a refusal (a gate, a bad name, a missing version) must map to a 4xx code the
client shows at once. Only an unreachable catalog is a 503
(``TEMPORARILY_UNAVAILABLE``): there, retrying is what the caller wants.
An operation the registry does not offer keeps MLflow's ``NOT_IMPLEMENTED``
code in the answer's body, but its HTTP status is 405, not MLflow's 501: a
refusal is never a 5xx, which `mlflow server` would also log as its own error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as codes

from ..errors import (
    ConflictError,
    DatabaseUnavailable,
    GateUnmet,
    IntegrityFailure,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RegistryError,
    StoreUnavailable,
)

__all__ = [
    "ERROR_CODES",
    "IMMUTABLE",
    "NotOffered",
    "alias_not_found",
    "already_exists",
    "mlflow_errors",
    "not_implemented",
    "refused",
]

#: Why renaming is refused.
IMMUTABLE = "versions are immutable; archive instead"

#: Registry error class -> MLflow error code; the first matching class wins.
ERROR_CODES: tuple[tuple[type[RegistryError], int], ...] = (
    (GateUnmet, codes.PERMISSION_DENIED),
    (NotPermitted, codes.PERMISSION_DENIED),
    (NotFound, codes.RESOURCE_DOES_NOT_EXIST),
    (InvalidTransition, codes.INVALID_PARAMETER_VALUE),
    (InvalidInput, codes.INVALID_PARAMETER_VALUE),
    (IntegrityFailure, codes.ABORTED),
    (DatabaseUnavailable, codes.TEMPORARILY_UNAVAILABLE),
    (StoreUnavailable, codes.TEMPORARILY_UNAVAILABLE),
    (ConflictError, codes.RESOURCE_ALREADY_EXISTS),
)


def error_code(error: RegistryError) -> int:
    """The MLflow error code for one of the registry's errors (INVALID_PARAMETER_VALUE when none is specific)."""
    for kind, code in ERROR_CODES:
        if isinstance(error, kind):
            return code
    return codes.INVALID_PARAMETER_VALUE


def translated(error: RegistryError) -> MlflowException:
    """``error`` as an :class:`MlflowException` with the code from :data:`ERROR_CODES`; a missing model or version
    is first said in MLflow's own words (clients match them), then in the registry's."""
    message = error.message
    if isinstance(error, NotFound) and error.model is not None:
        what = (f"Model Version (name={error.model}, version={error.version})" if error.version is not None
                else f"Registered Model with name={error.model}")
        message = f"{what} not found: {message}"
    return MlflowException(message, error_code=error_code(error))


@contextlib.contextmanager
def mlflow_errors() -> Iterator[None]:
    """Registry errors raised in this block leave it as MLflow exceptions; the original stays as the cause."""
    try:
        yield
    except RegistryError as error:
        raise translated(error) from error


def refused(message: str) -> MlflowException:
    """A request the registry's governance does not allow through MLflow."""
    return MlflowException(message, error_code=codes.INVALID_PARAMETER_VALUE)


def already_exists(name: str) -> MlflowException:
    """A second ``create_registered_model`` of ``name``, in MLflow's own words (some clients match the text)."""
    return MlflowException(f"Registered Model (name={name}) already exists.", error_code=codes.RESOURCE_ALREADY_EXISTS)


def alias_not_found(alias: str) -> MlflowException:
    """An alias the model does not have, with the code and text of MLflow's SQL store (INVALID_PARAMETER_VALUE)."""
    return MlflowException(f"Registered model alias {alias} not found.", error_code=codes.INVALID_PARAMETER_VALUE)


class NotOffered(MlflowException):
    """MLflow's ``NOT_IMPLEMENTED`` for an operation the registry refuses by design, answered over HTTP as 405."""

    def get_http_status_code(self) -> int:
        return 405  # `mlflow server`'s handlers answer with this method's status


def not_implemented(what: str, why: str) -> NotOffered:
    """An MLflow operation this registry deliberately does not offer (HTTP 405, which MLflow's client does not retry)."""
    return NotOffered(f"{what} is not supported by this registry: {why}", error_code=codes.NOT_IMPLEMENTED)
