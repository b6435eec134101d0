"""A typed model served end to end over HTTP (issue #22, sections 2-3): the penguins bundle,
trained once by the CLI, answered through the production app (Flask test client, the
components fixture's wiring): ``/predict`` bodies by column name, every refusal's code and
message, unseen categories counted, V2 metadata and named inputs (JSON and binary, BYTES for
strings, as tritonclient writes them), the registration checks on typed batches; Iris as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.bootstrap import build_components
from mlops_pipeline.config import Settings
from mlops_pipeline.delivery.model_checks import DEFAULT_ALLOWED_OPS, graph_ops, realistic_batches
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.schema.rows import TypedBatch
from mlops_pipeline.serving.served_schema import SchemaMismatch, served_schema
from tests.support.helpers import ADMIN, SETOSA_ROW, sample
from tests.support.penguins import (
    CLASSES,
    GENTOO,
    ROW,
)


def predict(client: FlaskClient, body: Any) -> Any:
    return client.post("/predict", json=body)


def test_an_object_row_is_answered_with_the_task_class_names(typed: FlaskClient) -> None:
    answer = predict(typed, {"features": ROW})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["class_name"] == "Adelie"
    assert CLASSES[body["prediction"]] == "Adelie"
    assert len(body["probabilities"]) == 3
    assert abs(sum(body["probabilities"]) - 1) < 1e-4
    assert body["model_version"] in ("v1", "v2")


def test_the_prediction_log_holds_the_typed_rows(typed: FlaskClient) -> None:
    answer = predict(typed, {"instances": [ROW, {**ROW, "sex": None}]})
    assert answer.status_code == 200
    logged = typed.get("/predictions?limit=2", headers=ADMIN).get_json()
    rows = logged["predictions"] if isinstance(logged, dict) else logged
    assert [row["features"] for row in rows][::-1] == [ROW, {**ROW, "sex": None}]


def test_null_in_a_nullable_column_and_left_out_mean_missing(typed: FlaskClient) -> None:
    for row in ({**ROW, "sex": None}, {k: v for k, v in ROW.items() if k != "sex"}):
        answer = predict(typed, {"features": row})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["class_name"] == "Adelie"


def test_an_unseen_island_is_answered_and_counted(
    typed: FlaskClient, registry: CollectorRegistry
) -> None:
    name = "mlops_unseen_categories_total"
    assert registry.get_sample_value(name, {"column": "island"}) == 0  # created at 0
    assert registry.get_sample_value(name, {"column": "sex"}) == 0
    answer = predict(typed, {"instances": [{**ROW, "island": "Atlantis"}, ROW, GENTOO]})
    assert answer.status_code == 200, answer.get_json()
    assert sample(registry, name, column="island") == 1
    assert sample(registry, name, column="sex") == 0
    predict(typed, {"features": {**ROW, "island": "Atlantis", "sex": "unknown"}})
    assert sample(registry, name, column="island") == 2
    assert sample(registry, name, column="sex") == 1


def test_instances_dataframe_split_and_records_answer_alike(typed: FlaskClient) -> None:
    rows = [ROW, GENTOO, {**ROW, "sex": None}]
    split = {"columns": list(ROW), "data": [[row[name] for name in ROW] for row in rows]}
    answers = [
        predict(typed, {"instances": rows}).get_json(),
        predict(typed, {"dataframe_split": split}).get_json(),
        predict(typed, {"dataframe_records": rows}).get_json(),
    ]
    for body in answers:
        assert body["class_names"] == ["Adelie", "Gentoo", "Adelie"], body
        assert np.asarray(body["probabilities"]).shape == (3, 3)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"features": {**ROW, "colour": "blue"}}, "unknown_column", "row 0, column 'colour'"),
        (
            {"instances": [ROW, {k: v for k, v in ROW.items() if k != "island"}]},
            "missing_column",
            "row 1, column 'island': missing (a required column)",
        ),
        (
            {"features": {**ROW, "bill_length_mm": "long"}},
            "wrong_type",
            "row 0, column 'bill_length_mm': expected a number, got 'long'",
        ),
        (
            {"instances": [ROW, ROW, {**ROW, "island": None}]},
            "null_in_required",
            "row 2, column 'island': null in a required column",
        ),
        (
            {"features": {**ROW, "year": 2007.5}},
            "wrong_type",
            "row 0, column 'year': 2007.5 is not an integer",
        ),
        ({"features": {**ROW, "sex": "x" * 300}}, "string_too_long", "row 0, column 'sex'"),
        ({"features": [1, 2, 3]}, "wrong_type", "row 0: a row must be an object by column"),
        ({"rows": [ROW]}, "bad_body", "send exactly one of"),
    ],
)
def test_each_mistake_is_a_400_naming_row_and_column(
    typed: FlaskClient, registry: CollectorRegistry, body: Any, code: str, message: str
) -> None:
    answer = predict(typed, body)
    assert answer.status_code == 400
    error = answer.get_json()
    assert error["code"] == code
    assert message in error["error"]
    assert sample(registry, "mlops_errors_total", code=code) == 1


def test_too_many_rows_is_a_413_like_a_numeric_batch(
    typed: FlaskClient, registry: CollectorRegistry
) -> None:
    answer = predict(typed, {"instances": [ROW] * 51})
    assert answer.status_code == 413
    assert answer.get_json()["code"] == "too_many_rows"
    assert "51 rows; at most 50" in answer.get_json()["error"]
    assert sample(registry, "mlops_errors_total", code="too_many_rows") == 1


def test_a_non_finite_number_is_refused(typed: FlaskClient) -> None:
    raw = json.dumps({"features": {**ROW, "body_mass_g": float("inf")}})
    answer = typed.post("/predict", data=raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["code"] in ("non_finite", "invalid_json")


def test_v2_metadata_has_one_named_input_per_column(typed: FlaskClient) -> None:
    body = typed.get("/v2/models/penguins").get_json()
    assert [(i["name"], i["datatype"], i["shape"]) for i in body["inputs"]] == [
        ("island", "BYTES", [-1, 1]),
        ("bill_length_mm", "FP64", [-1, 1]),
        ("bill_depth_mm", "FP64", [-1, 1]),
        ("flipper_length_mm", "FP64", [-1, 1]),
        ("body_mass_g", "FP64", [-1, 1]),
        ("sex", "BYTES", [-1, 1]),
        ("year", "INT64", [-1, 1]),
    ]
    assert body["outputs"][1]["shape"] == [-1, 3]


def v2_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    datatypes = {"island": "BYTES", "sex": "BYTES", "year": "INT64"}
    return [
        {
            "name": name,
            "datatype": datatypes.get(name, "FP64"),
            "shape": [len(rows), 1],
            "data": [row[name] for row in rows],
        }
        for name in ROW
    ]


def test_v2_infer_with_named_json_inputs(typed: FlaskClient) -> None:
    answer = typed.post(
        "/v2/models/penguins/infer",
        json={"id": "a", "inputs": v2_inputs([ROW, GENTOO, {**ROW, "sex": None}])},
    )
    assert answer.status_code == 200, answer.get_json()
    outputs = {o["name"]: o for o in answer.get_json()["outputs"]}
    assert [CLASSES[i] for i in outputs["label"]["data"]] == ["Adelie", "Gentoo", "Adelie"]
    assert outputs["probabilities"]["shape"] == [3, 3]


def test_v2_infer_errors_name_the_input(typed: FlaskClient) -> None:
    inputs = v2_inputs([ROW])
    inputs[0]["datatype"] = "FP64"
    answer = typed.post("/v2/models/penguins/infer", json={"inputs": inputs})
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "wrong_type"
    assert "input 'island'" in answer.get_json()["error"]
    missing = [i for i in v2_inputs([ROW]) if i["name"] != "year"]
    answer = typed.post("/v2/models/penguins/infer", json={"inputs": missing})
    assert answer.get_json()["code"] == "missing_column"


def test_v2_infer_binary_as_tritonclient_writes_it(typed: FlaskClient) -> None:
    """tritonclient.http's own request body (binary BYTES, FP64 and INT64 inputs, binary
    outputs): the same classes as the JSON form."""
    import tritonclient.http as http_client

    rows = [ROW, GENTOO, {**ROW, "island": "Atlantis"}]
    inputs = []
    for tensor in v2_inputs(rows):
        dtype = {"BYTES": object, "INT64": np.int64, "FP64": np.float64}[tensor["datatype"]]
        array = np.array(tensor["data"], dtype=dtype).reshape(-1, 1)
        infer_input = http_client.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
        infer_input.set_data_from_numpy(array)  # binary_data=True: tritonclient's default
        inputs.append(infer_input)
    outputs = [http_client.InferRequestedOutput(name) for name in ("label", "probabilities")]
    body, json_size = http_client.InferenceServerClient.generate_request_body(
        inputs, outputs=outputs
    )
    answer = typed.post(
        "/v2/models/penguins/infer",
        data=body,
        headers={"Inference-Header-Content-Length": str(json_size)},
    )
    assert answer.status_code == 200, answer.data[:300]
    header_length = int(answer.headers["Inference-Header-Content-Length"])
    result = http_client.InferenceServerClient.parse_response_body(
        answer.data, header_length=header_length
    )
    labels = result.as_numpy("label")
    assert [CLASSES[i] for i in labels] == ["Adelie", "Gentoo", "Adelie"]
    assert result.as_numpy("probabilities").shape == (3, 3)


def test_a_cut_binary_bytes_tensor_is_refused_naming_the_input(typed: FlaskClient) -> None:
    header = {
        "inputs": [
            {
                "name": "island",
                "datatype": "BYTES",
                "shape": [1, 1],
                "parameters": {"binary_data_size": 6},
            },
            *[t for t in v2_inputs([ROW]) if t["name"] != "island"],
        ]
    }
    head = json.dumps(header).encode()
    answer = typed.post(
        "/v2/models/penguins/infer",
        data=head + b"\x09\x00\x00\x00Bi",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "bad_body"
    assert "input 'island'" in answer.get_json()["error"]


def test_registration_checks_allow_the_typed_graphs_and_use_typed_batches(
    penguins_dir: Path,
) -> None:
    for version in ("v1", "v2"):
        onnx_bytes = (penguins_dir / version / "model.onnx").read_bytes()
        assert graph_ops(onnx_bytes) <= DEFAULT_ALLOWED_OPS
    stats = json.loads((penguins_dir / "training_stats.json").read_text())
    batches = realistic_batches(stats)
    assert all(isinstance(batch, TypedBatch) for batch in batches)
    assert [batch.n_rows for batch in batches if isinstance(batch, TypedBatch)][:2] == [1, 7]


def test_versions_with_different_schemas_are_refused_at_start(penguins_dir: Path) -> None:
    meta = json.loads((penguins_dir / "v1" / "metadata.json").read_text())
    other = json.loads(json.dumps(meta))
    other["schema"]["columns"][-1]["type"] = "double"  # year
    other["schema"]["columns"] = other["schema"]["columns"][1:]  # no island
    with pytest.raises(SchemaMismatch) as refused:
        served_schema({"v1": meta, "v2": other})
    message = str(refused.value)
    assert "column 'island' is missing in the candidate" in message
    assert "column 'year': type integer here, double in the candidate" in message


def test_a_bundle_whose_versions_differ_does_not_start(
    penguins_dir: Path, tmp_path: Path, metrics: Metrics
) -> None:
    from mlops_pipeline.artifacts import write_manifest

    copy = tmp_path / "artifacts"
    shutil.copytree(penguins_dir, copy)
    path = copy / "v2" / "metadata.json"
    meta = json.loads(path.read_text())
    meta["schema"]["task"]["classes"] = ["Adelie", "Gentoo", "Chinstrap"]
    path.write_text(json.dumps(meta))
    write_manifest(copy, ["v1", "v2"], {"v1": 0.5, "v2": 0.5})
    settings = Settings(artifacts_dir=copy, log_predictions=False)
    with pytest.raises(SchemaMismatch, match="class order"):
        build_components(settings, metrics)


def test_iris_answers_are_unchanged(client: FlaskClient) -> None:
    answer = client.post("/predict", json={"features": SETOSA_ROW})
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["prediction"], body["class_name"]) == (0, "setosa")
    assert list(body) == [
        "request_id", "prediction", "class_name", "probabilities", "model_version", "latency_ms"
    ]  # fmt: skip
    metadata = client.get("/v2/models/iris").get_json()
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    refused = client.post("/predict", json={"features": [1, 2]})
    assert refused.get_json()["code"] == "wrong_feature_count"
