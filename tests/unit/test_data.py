from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlops_pipeline.training.data import DataError, Dataset, load_csv_dataset, snake_case


def test_iris_has_snake_case_feature_names(iris: Dataset) -> None:
    assert iris.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert iris.class_names == ("setosa", "versicolor", "virginica")
    assert iris.features.shape == (150, 4)
    assert np.bincount(iris.labels).tolist() == [50, 50, 50]


def test_snake_case_drops_units() -> None:
    assert snake_case("Petal Width (cm)") == "petal_width"


def test_content_hash_is_stable_and_sensitive(iris: Dataset) -> None:
    changed = iris.features.copy()
    changed[0, 0] += 0.1
    other = Dataset(changed, iris.labels, iris.feature_names, iris.class_names, "x")
    assert (
        iris.content_hash()
        == Dataset(
            iris.features.copy(), iris.labels.copy(), iris.feature_names, iris.class_names, "y"
        ).content_hash()
    )
    assert other.content_hash() != iris.content_hash()


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_with_named_classes(tmp_path: Path) -> None:
    rows = ["a,b,label"] + [f"{i},{i * 2},{'yes' if i % 2 else 'no'}" for i in range(12)]
    dataset = load_csv_dataset(write_csv(tmp_path / "d.csv", rows), "label")
    assert dataset.feature_names == ("a", "b")
    assert dataset.class_names == ("no", "yes")
    assert dataset.labels[:3].tolist() == [0, 1, 0]
    assert dataset.features[3].tolist() == [3.0, 6.0]


def test_csv_numeric_labels_sort_numerically(tmp_path: Path) -> None:
    rows = ["x,y"] + [f"{i},{10 if i % 2 else 2}" for i in range(12)]
    dataset = load_csv_dataset(write_csv(tmp_path / "d.csv", rows), "y")
    assert dataset.class_names == ("2", "10")


@pytest.mark.parametrize(
    ("rows", "target", "message"),
    [
        (["a,b"] + ["1,x"] * 12, "label", "no target column 'label'"),
        (
            ["a,label"] + ["oops,x"] + ["1,y"] * 11,
            "label",
            "row 2, column 'a': 'oops' is not a number",
        ),
        (["a,label"] + ["nan,x"] + ["1,y"] * 11, "label", "is not finite"),
        (["a,label"] + ["1,x"] * 12, "label", "single class"),
        (["a,label", "1,x", "2,y"], "label", "at least 10"),
        (["label"] + ["x"] * 12, "label", "no feature column"),
    ],
    ids=["no-target", "not-a-number", "nan", "one-class", "too-few-rows", "no-features"],
)
def test_csv_errors_say_what_is_wrong(
    tmp_path: Path, rows: list[str], target: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        load_csv_dataset(write_csv(tmp_path / "d.csv", rows), target)
