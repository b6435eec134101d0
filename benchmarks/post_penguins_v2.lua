-- wrk script: single-row POST /v2/models/penguins/infer, one named input per column (BYTES strings)
wrk.method = "POST"
wrk.body = '{"inputs": [{"name": "island", "shape": [1, 1], "datatype": "BYTES", "data": ["Torgersen"]}, {"name": "bill_length_mm", "shape": [1, 1], "datatype": "FP64", "data": [39.1]}, {"name": "bill_depth_mm", "shape": [1, 1], "datatype": "FP64", "data": [18.7]}, {"name": "flipper_length_mm", "shape": [1, 1], "datatype": "FP64", "data": [181.0]}, {"name": "body_mass_g", "shape": [1, 1], "datatype": "FP64", "data": [3750.0]}, {"name": "sex", "shape": [1, 1], "datatype": "BYTES", "data": ["male"]}, {"name": "year", "shape": [1, 1], "datatype": "INT64", "data": [2007]}]}'
wrk.headers["Content-Type"] = "application/json"
