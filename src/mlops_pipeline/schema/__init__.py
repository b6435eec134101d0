"""The feature schema: typed columns and the task, one contract per served model (model.py)."""
