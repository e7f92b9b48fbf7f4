"""The Dagster type of the training data: a pandas DataFrame, checked without importing pandas when the code loads.

Every Dagster run starts a process that loads the code location; the
approval and rollback runs never touch a data frame, so pandas (about 0.6 s
to import) is imported by the runs that do, when they check or build one.
"""

from typing import Any

from dagster import DagsterType, TypeCheck, TypeCheckContext

__all__ = ["DataFrame"]


def _is_data_frame(_context: TypeCheckContext, value: Any) -> TypeCheck:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return TypeCheck(success=True)
    return TypeCheck(success=False, description=f"expected a pandas DataFrame, got {type(value).__name__}")


DataFrame = DagsterType(name="DataFrame", type_check_fn=_is_data_frame, description="A pandas DataFrame.")
