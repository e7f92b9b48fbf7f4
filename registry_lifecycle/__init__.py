"""registry_lifecycle: the model lifecycle's steps that every orchestrator shares.

Data set digests and holdouts, metric gates, scoring and shadow comparison,
Great Expectations suites, and the shipped fraud detector's data and training.
Pure functions of models and data: no orchestrator, no catalog. ``registry_pipelines``
(Dagster) and ``registry_airflow`` (Airflow) both build on it; it imports neither.
Its heavy libraries (pandas, scikit-learn, Great Expectations) come with the
[dagster] and [airflow] extras.
"""
