"""What every estimator passes at registration and after every load, before anything predicts with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .estimator_io import check_io_parameters
from .tree_structure import check_tree_structures

if TYPE_CHECKING:
    from .policy import GatePolicy

__all__ = ["check_estimator"]


def check_estimator(estimator: Any, *, subject: str, model: str, policy: GatePolicy) -> list[str]:
    """Refuse trees scikit-learn would walk out of bounds, then I/O parameters the policy does not allow.

    Returns the I/O parameters found (each allowed); see :mod:`.tree_structure` and :mod:`.estimator_io`.
    """
    check_tree_structures(estimator, subject=subject)
    return check_io_parameters(estimator, subject=subject, model=model, policy=policy)
