"""`mlops models import`: a model trained elsewhere, read without running its code, converted to
ONNX, checked against the original and registered at weight 0 like `mlops models register`.

One module per source format (``sklearn_model``, ``boosters``, ``onnx_model``,
``mlflow_model``), each answering a :class:`~mlops_pipeline.importing.common.Source`; the parity
check (``parity``) and the registration (``service``) are shared.
"""
