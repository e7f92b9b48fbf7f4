"""A client's mistake through MLflow is INVALID_PARAMETER_VALUE (400) naming it, answered at once; never a 5xx.

MLflow's client retries 5xx answers for minutes, so a forged page token, a
bad page size or a version number no catalog can hold must each be a 400, on
SQLite and PostgreSQL alike. (A source nobody can read here is no mistake: it
is registered as a reference, see test_mlflow_references.py.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import MlflowSetup

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated in MLflow, not here


def token(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def assert_invalid(call, *named: str) -> None:
    """``call`` raises INVALID_PARAMETER_VALUE (HTTP 400) whose message names each of ``named``."""
    with pytest.raises(MlflowException) as refused:
        call()
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE", refused.value.message
    assert refused.value.get_http_status_code() == 400
    for text in named:
        assert text in refused.value.message


@pytest.fixture
def client(mlflow_setup: MlflowSetup, tmp_path: Path) -> MlflowClient:
    """MLflow's client in-process on a catalog with one model and one version."""
    client = MlflowClient()
    client.create_registered_model("fraud")
    (tmp_path / "model.pkl").write_bytes(b"weights")
    client.create_model_version("fraud", str(tmp_path / "model.pkl"))
    return client


FORGED_TOKENS = {
    "negative": token({"offset": -1}),
    "beyond-64-bits": token({"offset": 2**70}),
    "at-2**63": token({"offset": 2**63}),
    "fraction": token({"offset": 1.5}),
    "a-list": token([1]),
    "text": token({"offset": "x"}),
}


@pytest.mark.parametrize("search", ["search_registered_models", "search_model_versions"])
@pytest.mark.parametrize("forged", FORGED_TOKENS.values(), ids=FORGED_TOKENS.keys())
def test_a_forged_page_token_is_invalid(client: MlflowClient, search: str, forged: str):
    """A page token the registry did not issue is refused, not sent to the database."""
    assert_invalid(lambda: getattr(client, search)(page_token=forged), "page token")


@pytest.mark.parametrize("search", ["search_registered_models", "search_model_versions"])
@pytest.mark.parametrize("size", [-1, 0, 1e3, 5.0, "5", True, 10**30], ids=str)
def test_a_page_size_that_is_not_a_positive_integer_is_invalid(client: MlflowClient, search: str, size: object):
    assert_invalid(lambda: getattr(client, search)(max_results=size), "max_results")


def test_pages_still_go_through_every_version(client: MlflowClient, tmp_path: Path):
    """The tokens the registry issues keep working after the checks."""
    for _ in range(4):
        client.create_model_version("fraud", str(tmp_path / "model.pkl"))
    seen, page_token = [], None
    while True:
        page = client.search_model_versions("name = 'fraud'", max_results=2, page_token=page_token)
        seen += [v.version for v in page]
        page_token = page.token
        if not page_token:
            break
    assert sorted(int(v) for v in seen) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "filter_string",
    ["version_number = 99999999999999999999", "version_number > 9223372036854775808",
     "version_number < -99999999999999999999", "version_number >= 2147483648"],
)
def test_a_version_number_no_catalog_holds_in_a_filter_is_invalid(client: MlflowClient, filter_string: str):
    assert_invalid(lambda: client.search_model_versions(filter_string), "version_number", "2147483647")


def test_the_largest_version_number_is_a_valid_filter(client: MlflowClient):
    assert list(client.search_model_versions("version_number = 2147483647")) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_model_version("fraud", "99999999999999999999"),
        lambda c: c.get_model_version_download_uri("fraud", str(2**64)),
        lambda c: c.transition_model_version_stage("fraud", "99999999999999999999", "Staging"),
        lambda c: c.set_registered_model_alias("fraud", "champion", "99999999999999999999"),
    ],
    ids=["get", "download-uri", "transition", "alias"],
)
def test_a_version_number_beyond_64_bits_is_invalid(client: MlflowClient, call):
    assert_invalid(lambda: call(client), "invalid version")


