-- wrk script: single-row POST /v2/models/iris/infer (Open Inference Protocol, JSON tensor)
wrk.method = "POST"
wrk.body = '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}'
wrk.headers["Content-Type"] = "application/json"
