"""scripts/render_dashboards.py draws each dashboard from its queries' results: fixed results
here, so no stack and no browser (the script itself runs both)."""

from __future__ import annotations

import re
from typing import Any

from scripts.render_dashboards import formatted, render_html

from tests.support.grafana_stack import DASHBOARDS, panels

BEGAN, END = 1_700_000_000.0, 1_700_000_060.0
LABELS = {"model_version": "v1", "endpoint": "/predict", "feature": "petal_length"}


def results(dashboard: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """One series per target: a ramp with a NaN in the middle (a table's: one instant value)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("instant"):
                answer = {"metric": LABELS, "value": [END, "2"]}
            else:
                values = [[BEGAN + s, "NaN" if s == 30 else str(s / 60)] for s in range(61)]
                answer = {"metric": LABELS, "values": values}
            out[(panel["title"], target["refId"])] = [answer]
    return out


def test_one_svg_per_time_series_panel_a_number_per_stat_and_a_table() -> None:
    for name, dashboard in DASHBOARDS.items():
        page = render_html(dashboard, results(dashboard), BEGAN, END)
        kinds = [panel["type"] for panel in panels(dashboard)]
        assert page.count('<svg class="graph"') == kinds.count("timeseries"), name
        assert page.count('class="stat-value"') == kinds.count("stat"), name
        assert page.count('<table class="table">') == kinds.count("table"), name
        lines = sum(
            len(p.get("targets", [])) for p in panels(dashboard) if p["type"] == "timeseries"
        )
        assert page.count("<polyline") == 2 * lines, name  # the NaN splits each line in two
        for panel in panels(dashboard):
            assert f">{panel['title']}<" in page.replace("&quot;", '"'), (name, panel["title"])
        assert "No data" not in page, name


def test_legends_fill_in_labels_and_missing_series_say_no_data() -> None:
    serving = DASHBOARDS["serving"]
    page = render_html(serving, results(serving), BEGAN, END)
    legend = re.findall(r'<div class="item"><i [^>]*></i>([^<]*)</div>', page)
    assert "/predict" in legend  # "{{endpoint}}"
    assert "p99 v1" in legend  # "p{{q}} {{model_version}}"
    assert "{{" not in page
    empty = render_html(serving, {}, BEGAN, END)
    assert empty.count("No data") == len([p for p in panels(serving) if p["type"] != "row"])
    assert "<svg" not in empty


def test_units_read_as_grafana_writes_them() -> None:
    assert formatted(0.25, "percentunit") == "25%"
    assert formatted(0.0042, "s") == "4.2 ms"
    assert formatted(3 * 2**20, "bytes") == "3 MiB"
    assert formatted(12.5, "reqps") == "12.5 req/s"
    assert formatted(0, "s") == "0 s"
