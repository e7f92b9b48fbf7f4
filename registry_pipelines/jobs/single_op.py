"""A job that runs one op, the way every lifecycle step but redeploy is shaped."""

from dagster import JobDefinition, OpDefinition, in_process_executor, job


def single_op_job(op_def: OpDefinition, *, name: str, description: str, tags: dict[str, str]) -> JobDefinition:
    """A job of ``op_def`` alone, run in-process (each step is small; a run subprocess is already one process)."""

    @job(name=name, description=description, executor_def=in_process_executor, tags=tags)
    def _single_op() -> None:
        op_def()

    return _single_op
