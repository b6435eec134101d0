"""Traffic for the penguins walkthrough's rollout: the CSV's rows (shuffled: the file is sorted
by species) sent to /predict, each answer labelled with the row's true species on /feedback,
until the running rollout ends (or --seconds pass). Prints the rollout's end.

Run: .venv/bin/python examples/penguins/traffic.py [--api URL] [--seconds 180]
Labels need the feedback (or admin) token: MLOPS_FEEDBACK_TOKEN or MLOPS_ADMIN_TOKEN.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import palmerpenguins
import pandas as pd
import requests

CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_api = os.environ.get("MLOPS_API_URL", "http://127.0.0.1:5000")
    parser.add_argument("--api", default=default_api)
    parser.add_argument("--seconds", type=float, default=180)
    args = parser.parse_args()
    token = os.environ.get("MLOPS_FEEDBACK_TOKEN") or os.environ["MLOPS_ADMIN_TOKEN"]
    labels = {"Authorization": f"Bearer {token}"}
    frame = pd.read_csv(CSV).sample(frac=1.0, random_state=0)
    rows = [
        ({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})
        for row in frame.drop(columns="species").to_dict(orient="records")
    ]
    species = list(frame["species"])
    deadline, index = time.monotonic() + args.seconds, 0
    with requests.Session() as http:
        while time.monotonic() < deadline:
            for _ in range(50):
                at = index % len(rows)
                index += 1
                answer = http.post(f"{args.api}/predict", json={"features": rows[at]}, timeout=5)
                body = answer.json()
                label = {"request_id": body["request_id"], "true_label": species[at]}
                http.post(f"{args.api}/feedback", json=label, headers=labels, timeout=5)
            rollout = http.get(f"{args.api}/rollouts?limit=1", timeout=5).json()["rollouts"][0]
            if rollout["state"] != "running":
                print(f"{index} predictions: rollout {rollout['state']}: {rollout['reason']}")
                return
    print(f"{index} predictions: the rollout is still running after {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
