"""schema/mlflow_signature.py: FeatureSchema <-> MLflow column signature, read without mlflow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from mlops_pipeline.schema.mlflow_signature import (
    columns_from_signature,
    read_mlmodel_signature,
    schema_from_mlmodel,
    signature_inputs,
    to_signature,
)
from mlops_pipeline.schema.model import Column, FeatureSchema, SchemaError, Task

TASK = Task("classification", ("Adelie", "Chinstrap", "Gentoo"), "species")

# The shape MLflow 2.x/3.x writes for an sklearn model logged with a pandas input example:
# the signature's inputs and outputs are JSON strings inside the YAML.
MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.2
mlflow_version: 2.17.0
model_uuid: 0b4b3f6c2d6e4f0e9b8f1a2c3d4e5f60
signature:
  inputs: '[{"type": "string", "name": "island", "required": true}, {"type": "double",
    "name": "bill_length_mm", "required": false}, {"type": "float", "name": "bill_depth_mm",
    "required": false}, {"type": "long", "name": "year", "required": true}, {"type":
    "integer", "name": "chicks", "required": true}, {"type": "boolean", "name": "tagged"}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "object", "shape": [-1]}}]'
  params: null
utc_time_created: '2024-10-01 12:00:00.000000'
"""


def test_read_an_mlmodel_file() -> None:
    # The inputs string is folded over four lines, as PyYAML (MLflow's writer) folds long ones.
    block = read_mlmodel_signature(MLMODEL)
    assert sorted(block) == ["inputs", "outputs"]
    assert schema_from_mlmodel(MLMODEL, TASK) == FeatureSchema(
        (
            Column("island", "string", False),  # no categories in a signature
            Column("bill_length_mm", "double", True),
            Column("bill_depth_mm", "double", True),  # float widens to double
            Column("year", "integer", False),
            Column("chicks", "integer", False),  # MLflow's 32-bit integer widens
            Column("tagged", "boolean", False),  # no "required" (MLflow 1.x): required
        ),
        TASK,
    )


def test_write_then_read_round_trip() -> None:
    schema = FeatureSchema(
        (
            Column("island", "string", False, ("Biscoe", "Dream")),
            Column("bill_length_mm", "double", True),
            Column("year", "integer"),
            Column("tagged", "boolean", True),
        ),
        TASK,
    )
    assert json.loads(signature_inputs(schema)) == [
        {"type": "string", "name": "island", "required": True},
        {"type": "double", "name": "bill_length_mm", "required": False},
        {"type": "long", "name": "year", "required": True},  # 64-bit: MLflow's long
        {"type": "boolean", "name": "tagged", "required": False},
    ]
    signature = to_signature(schema)
    assert json.loads(signature["outputs"]) == [
        {"type": "string", "name": "species", "required": True}
    ]
    # Written into an MLmodel file as MLflow writes it, and read back.
    text = yaml.safe_dump({"signature": signature, "flavors": {}}, default_flow_style=False)
    again = schema_from_mlmodel(text, TASK)
    assert (
        again.columns
        == (
            Column("island", "string", False),  # categories do not travel in a signature
            *schema.columns[1:],
        )
    )
    regression = FeatureSchema(schema.columns, Task("regression", (), "body_mass_g"))
    assert json.loads(to_signature(regression)["outputs"])[0]["type"] == "double"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}],
            r"tensor-based \(float64 tensor of shape \[-1, 4\]\).* column-based signature",
        ),
        ([{"type": "binary", "name": "photo"}], r"column 'photo': MLflow type binary has no"),
        ([{"type": "datetime", "name": "when"}], r"column 'when': MLflow type datetime has no"),
        (
            [{"type": {"type": "array", "items": {"type": "double"}}, "name": "v"}],
            r"column 'v': MLflow type \{\"type\": \"array\"",
        ),
        ([{"type": "double"}], r"signature input 0 has no name"),
        ([{"type": "double", "name": "x", "required": "yes"}], r"'required' must be true"),
        ([], r"non-empty list of columns"),
        ({"type": "double"}, r"non-empty list of columns"),
        ([{"type": "double", "name": "x"}, {"type": "long", "name": "x"}], r"duplicate column"),
    ],
)
def test_refused_signatures(inputs: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        FeatureSchema(columns_from_signature(json.dumps(inputs)), TASK)


def test_refused_mlmodel_files() -> None:
    with pytest.raises(SchemaError, match="not JSON"):
        columns_from_signature("[{'type': 'double'}]")
    with pytest.raises(SchemaError, match="no input signature"):
        read_mlmodel_signature("flavors: {}\nsignature: null\n")
    with pytest.raises(SchemaError, match="must be a YAML mapping"):
        read_mlmodel_signature("- a\n- b\n")
    with pytest.raises(SchemaError, match="must be JSON strings"):
        read_mlmodel_signature("signature:\n  inputs: [1, 2]\n")


def test_yaml_tags_are_not_run() -> None:
    # safe_load builds plain values only: a tag naming a Python callable is an error, not a call.
    text = "signature: !!python/object/apply:os.system ['echo ran > /dev/null']\n"
    with pytest.raises(SchemaError, match="not plain YAML"):
        read_mlmodel_signature(text)


def test_without_pyyaml_the_json_strings_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(SchemaError, match="needs PyYAML"):
        read_mlmodel_signature(MLMODEL)
    inputs = '[{"type": "double", "name": "x", "required": false}]'
    assert columns_from_signature(inputs) == (Column("x", "double", True),)


def test_reading_imports_no_mlflow() -> None:
    # In a fresh interpreter: other tests of the suite may import mlflow themselves.
    code = (
        "import sys; from mlops_pipeline.schema.mlflow_signature import read_mlmodel_signature;"
        f" read_mlmodel_signature({MLMODEL!r});"
        " print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
