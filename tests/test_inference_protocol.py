"""The Open Inference Protocol (KServe V2 REST) of `registry serve`, driven by Triton's own HTTP client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from test_serving import (
    FEATURES,
    RECORD,
    WAIT,
    client_for,
    collapsed,
    metric,
    notify,
    register_ready,
    serve_command,
    serving,
    trained,
    wait_until,
)
from tritonclient.utils import InferenceServerException

from registry_core import Registry
from registry_core.serving import read_recent_traffic

ROWS = np.array([[120.5, 3.0, 0.7, 12.0], [-2.0, 14.0, 0.1, 1.5], [0.4, 23.0, 0.9, 300.0]])


def triton(url: str) -> Any:
    return httpclient.InferenceServerClient(url=url.removeprefix("http://"), network_timeout=WAIT)


def matrix_input(rows: np.ndarray, name: str = "input", datatype: str = "FP64") -> Any:
    tensor = httpclient.InferInput(name, list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=False)
    return tensor


def outputs(*names: str) -> list[Any]:
    return [httpclient.InferRequestedOutput(name, binary_data=False) for name in names]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The real `registry serve` command in its own process on loopback: version 1 in Production, 2 in Staging."""
    root = tmp_path_factory.mktemp("served")
    database_url = f"sqlite:///{root / 'catalog.db'}"
    with Registry(database_url, root / "artifacts", actor="alice") as registry:
        register_ready(registry, trained(1))
        register_ready(registry, trained(2))
        registry.promote("fraud", 1)
    with serve_command(database_url, root / "artifacts") as (_process, port):
        url = f"http://127.0.0.1:{port}"
        with client_for(url) as client:
            def healthy() -> bool:
                try:
                    return client.get("/v2/health/ready").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(healthy, timeout=30.0, what="the server answering")
        yield url, triton(url)


def test_health_and_server_metadata(served):
    _url, client = served
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud")
    assert client.is_model_ready("fraud", "1")
    assert not client.is_model_ready("fraud", "2")
    assert not client.is_model_ready("no-such-model")
    assert client.get_server_metadata()["name"] == "registry-serve"


def test_model_metadata_lists_the_served_versions_inputs(served):
    _url, client = served
    metadata = client.get_model_metadata("fraud")
    assert metadata["name"] == "fraud"
    assert metadata["versions"] == ["1"]
    assert [item["name"] for item in metadata["inputs"]] == FEATURES
    assert {item["datatype"] for item in metadata["inputs"]} == {"FP64"}
    assert [item["name"] for item in metadata["outputs"]] == ["predict", "predict_proba"]
    assert client.get_model_metadata("fraud", "1")["versions"] == ["1"]


def test_infer_with_one_fp64_matrix_matches_predict(served):
    url, client = served
    result = client.infer("fraud", [matrix_input(ROWS)], outputs=outputs("predict", "predict_proba"))
    with client_for(url) as plain:
        expected = plain.post("/predict", json={"records": ROWS.tolist(), "return_probabilities": True}).json()
    assert result.as_numpy("predict").tolist() == expected["predictions"]
    assert result.as_numpy("predict_proba").shape == (3, 2)
    assert np.allclose(result.as_numpy("predict_proba"), expected["probabilities"])
    response = result.get_response()
    assert response["model_name"] == "fraud"
    assert response["model_version"] == "1"


def test_infer_without_requested_outputs_gives_predictions_and_probabilities(served):
    url, _client = served
    body = {"id": "r-1", "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64",
                                     "data": [RECORD[name] for name in FEATURES]}]}
    with client_for(url) as plain:
        answer = plain.post("/v2/models/fraud/infer", json=body).json()
    assert answer["id"] == "r-1"
    assert [(o["name"], o["shape"], o["datatype"]) for o in answer["outputs"]] == [
        ("predict", [1], "INT64"), ("predict_proba", [1, 2], "FP64")]


def test_named_inputs_one_per_feature_column(served):
    _url, client = served
    columns = [matrix_input(ROWS[:, index].copy(), name) for index, name in enumerate(FEATURES)]
    named = client.infer("fraud", columns, outputs=outputs("predict")).as_numpy("predict")
    whole = client.infer("fraud", [matrix_input(ROWS)], outputs=outputs("predict")).as_numpy("predict")
    assert named.tolist() == whole.tolist()
    float32 = [matrix_input(ROWS[:, index].astype(np.float32), name, "FP32") for index, name in enumerate(FEATURES)]
    assert client.infer("fraud", float32, outputs=outputs("predict")).as_numpy("predict").shape == (3,)


def test_versioned_path_answers_for_the_served_version_and_404s_for_another(served):
    _url, client = served
    result = client.infer("fraud", [matrix_input(ROWS)], model_version="1", outputs=outputs("predict"))
    assert result.get_response()["model_version"] == "1"
    for version in ("2", "0", "x"):
        with pytest.raises(InferenceServerException) as refused:
            client.infer("fraud", [matrix_input(ROWS)], model_version=version)
        assert refused.value.status() == "404"
        assert "not served" in refused.value.message()
    with pytest.raises(InferenceServerException) as refused:
        client.get_model_metadata("fraud", "2")
    assert refused.value.status() == "404"


def refused_by(client: Any, inputs: list[Any], **options: Any) -> tuple[int, str]:
    with pytest.raises(InferenceServerException) as refused:
        client.infer("fraud", inputs, **options)
    return int(refused.value.status()), refused.value.message()


def test_wrong_shape_unknown_model_and_wrong_datatype_are_4xx(served):
    _url, client = served
    status, message = refused_by(client, [matrix_input(ROWS[:, :3].copy())])
    assert status == 400 and "takes 4" in message
    with pytest.raises(InferenceServerException) as refused:
        client.infer("no-such-model", [matrix_input(ROWS)])
    assert refused.value.status() == "404" and "unknown model" in refused.value.message()
    text = httpclient.InferInput("input", [1, 4], "BYTES")
    text.set_data_from_numpy(np.array([["a", "b", "c", "d"]], dtype=object), binary_data=False)
    status, message = refused_by(client, [text])
    assert status == 400
    status, _message = refused_by(client, [matrix_input(ROWS)], outputs=outputs("embedding"))
    assert status == 400
    binary = httpclient.InferInput("input", [3, 4], "FP64")
    binary.set_data_from_numpy(ROWS, binary_data=True)
    status, message = refused_by(client, [binary])
    assert status == 400 and "binary" in message


@pytest.mark.parametrize(
    "body",
    [
        b"", b"[]", b"not json", b'{"inputs": []}', b'{"inputs": [{"name": "input"}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, "4"]}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4.5]}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, true]}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "COMPLEX", "data": [1, 2, 3, 4]}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [[1, 2, 3, 4]]}]}',
        b'{"inputs": [{"name": "input", "shape": [-1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}',
        b'{"inputs": [{"name": "amount", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}',
        b'{"inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [1]},'
        b' {"name": "hour", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}], "extra": 1}',
        b'{"inputs": [{"name": "input", "shape": [0, 4], "datatype": "FP64", "data": []}]}',
        b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 1e999]}]}',
        b"[" * 10_000 + b"]" * 10_000,
    ],
)
def test_malformed_infer_bodies_are_400_with_the_protocols_error_json(served, body: bytes):
    url, _client = served
    with client_for(url) as plain:
        response = plain.post("/v2/models/fraud/infer", content=body, headers={"content-type": "application/json"})
        assert plain.get("/v2/health/live").status_code == 200
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and response.json()["error"]


def test_infer_requests_are_counted_in_the_metrics(served):
    url, client = served
    client.infer("fraud", [matrix_input(ROWS)])
    with client_for(url) as plain:
        text = plain.get("/metrics").text
    assert (metric(text, "registry_serving_requests_total", endpoint="/v2/infer", status="200") or 0) >= 1
    assert (metric(text, "registry_serving_records_scored_total", slot="primary", version="1") or 0) >= 3


# --- hot swap, canary and shadow go through the same scoring path as /predict -------------------------------


def test_promotion_and_rollback_during_infer_traffic_fail_no_request(registry: Registry):
    register_ready(registry, trained(1))
    register_ready(registry, trained(2))
    registry.promote("fraud", 1)
    with serving(registry) as (server, client):
        versions: list[int] = []
        failures: list[str] = []
        stopped = threading.Event()

        def traffic() -> None:
            infer = triton(server.url)
            try:
                while not stopped.is_set() and len(versions) < 50_000:
                    try:
                        answer = infer.infer("fraud", [matrix_input(ROWS)], outputs=outputs("predict"))
                        versions.append(int(answer.get_response()["model_version"]))
                    except InferenceServerException as exc:
                        failures.append(f"{exc.status()}: {exc.message()}")
            finally:
                infer.close()

        thread = threading.Thread(target=traffic, daemon=True)
        thread.start()
        try:
            wait_until(lambda: versions and versions[-1] == 1, what="traffic on version 1")
            for change, target in ((lambda: registry.promote("fraud", 2), 2),
                                   (lambda: registry.rollback("fraud", reason="drill"), 1)):
                change()
                notify(client)
                wait_until(lambda target=target: versions and versions[-1] == target, what=f"traffic on {target}")
        finally:
            stopped.set()
            thread.join(WAIT)
    assert failures == []
    assert collapsed(versions) == [1, 2, 1]


def test_canary_routing_and_shadow_logging_apply_to_infer(registry: Registry, tmp_path: Path):
    register_ready(registry, trained(1))
    register_ready(registry, trained(2))
    registry.promote("fraud", 1)
    log_path = tmp_path / "predictions.jsonl"
    with serving(registry, canary_uri="models:/fraud/Staging", canary_percent=100.0,
                 shadow_uri="models:/fraud/Staging", prediction_log=log_path) as (server, client):
        for slot in ("canary", "shadow"):
            wait_until(lambda slot=slot: (client.get("/version").json()[slot]["serving"] or {}).get("version") == 2,
                       what=f"the {slot} loaded")
        infer = triton(server.url)
        try:
            answer = infer.infer("fraud", [matrix_input(ROWS)], outputs=outputs("predict")).get_response()
            pinned = infer.infer("fraud", [matrix_input(ROWS)], model_version="1").get_response()
            assert sorted(infer.get_model_metadata("fraud")["versions"]) == ["1", "2"]
        finally:
            infer.close()
        assert answer["model_version"] == "2" and answer["parameters"]["slot"] == "canary"
        assert pinned["model_version"] == "1" and pinned["parameters"]["slot"] == "primary"
        wait_until(lambda: len(read_recent_traffic(log_path)) >= 2, what="both requests logged")
    entries = read_recent_traffic(log_path)
    assert sorted(entry["served"]["slot"] for entry in entries) == ["canary", "primary"]
    assert all(entry["records"] == ROWS.tolist() for entry in entries)
    assert all(entry["shadow"]["version"] == 2 and len(entry["shadow"]["predictions"]) == 3 for entry in entries)
