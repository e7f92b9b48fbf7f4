"""The registry's typed errors as Airflow task outcomes, translated in this one place.

A refusal (a gate unmet, a bad input, a decision not permitted) fails the task
at once with the registry's one-line reason: retrying cannot change the answer.
An unreachable catalog or artifact store is an ordinary failure that Airflow
retries as the task's ``retries`` say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from registry_core import DatabaseUnavailable, RegistryError, StoreUnavailable

__all__ = ["RegistryRefusal", "RegistryUnavailable", "registry_refusals"]


class RegistryRefusal(AirflowFailException):
    """The registry refused the step; the message is its reason. Not retried."""


class RegistryUnavailable(AirflowException):
    """The catalog or artifact store could not be reached; retried like any failure."""


@contextlib.contextmanager
def registry_refusals() -> Iterator[None]:
    try:
        yield
    except (DatabaseUnavailable, StoreUnavailable) as error:
        raise RegistryUnavailable(str(error)) from None
    except RegistryError as error:
        raise RegistryRefusal(str(error)) from None
