-- wrk script: single-row POST /predict on the penguins example (by column name, sex missing)
wrk.method = "POST"
wrk.body = '{"features": {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": null, "year": 2007}}'
wrk.headers["Content-Type"] = "application/json"
