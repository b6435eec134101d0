"""The baseline for the serving benchmark: a bare Flask endpoint returning constant JSON."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.post("/predict")
def predict():  # type: ignore[no-untyped-def]
    return jsonify(prediction=0, class_name="setosa", model_version="v1")
