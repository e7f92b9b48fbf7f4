"""Through MLflow, registry.* tags are read-only in any case."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import MlflowSetup


@pytest.mark.parametrize("key", ["Registry.approved_by", "REGISTRY.unmet_gates", "registry.Approved_By"])
def test_a_reserved_tag_in_another_case_is_refused(mlflow_setup: MlflowSetup, key: str):
    client = MlflowClient()
    with pytest.raises(MlflowException) as refused:
        client.create_registered_model("fraud", tags={key: "mallory"})
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    client.create_registered_model("fraud")
    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_tag("fraud", key, "mallory")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model("fraud").tags == {}
