"""Draw the Grafana dashboards from their own queries against the live test stack.

Grafana is not packaged here, so this stands in for its screenshot: it brings up the stack
tests/e2e/test_grafana.py checks the dashboards against (tests/support/grafana_stack.py: a real
`mlops serve` + `mlops monitor` scraped every second by a real Prometheus, then HTTP and gRPC
traffic, labels, a rollout, a retrain, retention and a drift episode; here between 20 s of steady
traffic before and 40 s after, so the charts have a before and an after), runs every panel's query
of deploy/grafana/dashboards/*.json against that Prometheus (query_range over the run, variables at
"All" as Grafana sends them; a table's instant query at the end), lays each dashboard out as one
HTML page the way Grafana does (the panels' gridPos on a 24-column grid, rows, titles, time series
as SVG polylines with a legend, stat panels as big numbers, the dark theme) and screenshots it with
Debian's Chromium driven by Playwright: docs/grafana-<dashboard>.png.

Run: .venv/bin/python -m scripts.render_dashboards [--out docs] [--width 1600]
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]

from tests.support.grafana_stack import (  # noqa: E402
    DASHBOARDS,
    LiveStack,
    grpc_infer,
    live_stack,
    panels,
    produce,
    substitute,
)
from tests.support.helpers import FEEDBACK  # noqa: E402

from mlops_pipeline.training.data import Dataset  # noqa: E402

OUT = ROOT / "docs"
WIDTH = 1600  # the browser window, as a laptop shows Grafana
# Grafana's grid: 24 columns, rows of 30 px, 8 px between cells.
COLUMNS, CELL_HEIGHT, MARGIN, PAD = 24, 30, 8, 16
TITLE_HEIGHT = 32
# Grafana's dark theme and its classic palette, in the order it hands colours to series.
BACKGROUND, PANEL, BORDER = "#111217", "#181b1f", "rgba(204, 204, 220, 0.12)"
TEXT, WEAK, GRID = "#ccccdc", "rgba(204, 204, 220, 0.65)", "rgba(204, 204, 220, 0.08)"
PALETTE = ("#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
           "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17")  # fmt: skip
GREEN = PALETTE[0]  # a stat's colour below the default threshold (80)
NO_DATA = '<div class="nodata">No data</div>'
LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# (panel title, refId) -> Prometheus's "result": a matrix for query_range, a vector for a table.
Results = Mapping[tuple[str, str], list[dict[str, Any]]]


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float | None]]  # (unix seconds, value); None where NaN or ±Inf

    def last(self) -> float | None:
        """Grafana's default reduction for a stat: the last value that is not null."""
        return next((v for _, v in reversed(self.points) if v is not None), None)


# --- the queries --------------------------------------------------------------------------------


def fetch(
    prometheus: str, dashboard: dict[str, Any], began: float, end: float, step: float = 1
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every target of ``dashboard`` as Grafana would send it, answered by ``prometheus``."""
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            expr = substitute(target["expr"], dashboard, int(end - began) + 1)
            if target.get("instant"):
                params: dict[str, Any] = {"query": expr, "time": end}
                path = "/api/v1/query"
            else:
                params = {"query": expr, "start": began, "end": end, "step": step}
                path = "/api/v1/query_range"
            body = requests.get(prometheus + path, params=params, timeout=10).json()
            if body["status"] != "success":
                raise RuntimeError(f"{panel['title']}: {expr}: {body}")
            results[(panel["title"], target["refId"])] = body["data"]["result"]
    return results


def number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def legend(fmt: str, labels: Mapping[str, str], expr: str) -> str:
    """A series' name as Grafana writes it: the legend format's {{label}}s filled in; for
    "__auto", the metric and its labels, or the expression when the series has no labels."""
    if fmt and fmt != "__auto":
        return LABEL.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not labels:
        return expr
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
    return f"{labels.get('__name__', '')}{{{inner}}}"


def series_of(panel: dict[str, Any], results: Results) -> list[Series]:
    out: list[Series] = []
    for target in panel.get("targets", []):
        for item in results.get((panel["title"], target["refId"]), []):
            values = item.get("values") or [item["value"]]
            out.append(
                Series(
                    legend(target.get("legendFormat", ""), item["metric"], target["expr"]),
                    [(float(t), number(v)) for t, v in values],
                )
            )
    return out


# --- numbers as Grafana's units write them ------------------------------------------------------


def trim(value: float, decimals: int) -> str:
    text = f"{value:.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def auto_decimals(value: float) -> int:
    """Three significant digits, at most."""
    if value == 0:
        return 0
    return max(0, 2 - math.floor(math.log10(abs(value))))


def scaled(value: float, steps: Sequence[tuple[float, str]], fallback: str) -> tuple[float, str]:
    for factor, suffix in steps:
        if abs(value) >= factor:
            return value / factor, suffix
    return value, fallback


def formatted(value: float, unit: str, decimals: int | None = None) -> str:
    """``value`` in ``unit`` (reqps, cps, s, percentunit, bytes, short, none)."""
    suffix = ""
    if value == 0:
        return {"s": "0 s", "bytes": "0 B", "reqps": "0 req/s", "cps": "0 cps"}.get(unit, "0")
    if unit == "percentunit":
        value, suffix = value * 100, "%"
    elif unit == "s":
        value, suffix = scaled(value, ((1, " s"), (1e-3, " ms")), " µs")
        if suffix == " µs":
            value *= 1e6
    elif unit == "bytes":
        value, suffix = scaled(value, ((2**30, " GiB"), (2**20, " MiB"), (2**10, " KiB")), " B")
    elif unit in ("short", "reqps", "cps"):
        value, suffix = scaled(value, ((1e9, " Bil"), (1e6, " Mil"), (1e3, " K")), "")
        suffix += {"reqps": " req/s", "cps": " cps"}.get(unit, "")
        suffix = suffix.replace("  ", " ")
    places = auto_decimals(value) if decimals is None else decimals
    return trim(value, places) + suffix


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def axis(series: Sequence[Series], unit: str = "none") -> tuple[float, float, list[float]]:
    """The y range and its ticks: from 0 (or below, for negative data) to a round value above;
    bytes step in round KiB, MiB or GiB."""
    values = [v for s in series for _, v in s.points if v is not None]
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1
    factor = 1.0
    if unit == "bytes":
        factor = float(1024 ** max(0, min(3, int(math.log(high - low, 1024)))))
    step = nice_step((high - low) / factor, 4) * factor
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    ticks = [low + i * step for i in range(round((high - low) / step) + 1)]
    return low, high, ticks


def time_ticks(began: float, end: float, width: float) -> list[float]:
    wanted = max(2, int(width // 110))
    step = next(
        (s for s in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600) if (end - began) / s <= wanted),
        900,
    )
    first = math.ceil(began / step) * step
    return [t for t in range(int(first), int(end) + 1, step) if began <= t <= end]


# --- the page -----------------------------------------------------------------------------------


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def text_width(text: str, size: float = 12) -> float:
    """Roughly, in px, for the sans-serif the page uses."""
    return len(text) * size * 0.56


def legend_height(names: Sequence[str], width: float) -> int:
    lines, used = 1, 0.0
    for name in names:
        item = 24 + text_width(name) + 16
        if used and used + item > width:
            lines, used = lines + 1, 0.0
        used += item
    return lines * 20 + 6


def segments(points: Sequence[tuple[float, float | None]], step: float) -> Iterator[list[Any]]:
    """Runs of consecutive values: Grafana breaks a line where a value is missing."""
    run: list[tuple[float, float]] = []
    previous: float | None = None
    for t, v in points:
        if v is None or (previous is not None and t - previous > step * 1.5):
            if run:
                yield run
            run = []
        if v is not None:
            run.append((t, v))
            previous = t
    if run:
        yield run


def timeseries_svg(
    series: Sequence[Series], unit: str, began: float, end: float, width: float, height: float
) -> str:
    low, high, ticks = axis(series, unit)
    labels = [
        formatted(t, unit, None if t == 0 else auto_decimals(ticks[1] - ticks[0])) for t in ticks
    ]
    left = max(text_width(label, 11) for label in labels) + 10
    bottom, top, right = 20, 6, 8
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - began) / (end - began) * plot_w

    def y(v: float) -> float:
        return top + (high - v) / (high - low) * plot_h

    size = f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}"'
    parts = [f'<svg class="graph" {size} xmlns="http://www.w3.org/2000/svg">']
    for tick, label in zip(ticks, labels, strict=True):
        parts.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="{GRID}"/>')  # fmt: skip
        parts.append(f'<text x="{left - 6:.1f}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'class="tick">{esc(label)}</text>')  # fmt: skip
    for tick in time_ticks(began, end, plot_w):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" '
                     f'y2="{top + plot_h:.1f}" stroke="{GRID}"/>')  # fmt: skip
        clock = time.strftime("%H:%M:%S", time.localtime(tick))
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 5:.1f}" text-anchor="middle" '
                     f'class="tick">{clock}</text>')  # fmt: skip
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        for run in segments(one.points, step=max((end - began) / 600, 1)):
            if len(run) == 1:
                (t, v) = run[0]
                parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2" fill="{colour}"/>')
                continue
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="1.5" stroke-linejoin="round"/>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def legend_html(series: Sequence[Series]) -> str:
    items = "".join(
        f'<div class="item"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
        f"{esc(s.name)}</div>"
        for i, s in enumerate(series)
    )
    return f'<div class="legend">{items}</div>'


def sparkline(one: Series, began: float, end: float, width: float, height: float) -> str:
    values = [v for _, v in one.points if v is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    points = [(began + 0.0, height)]
    points += [((t - began) / (end - began) * width, height - (v - low) / span * height * 0.9)
               for t, v in one.points if v is not None]  # fmt: skip
    points[0] = (points[1][0], height)
    points.append((points[-1][0], height))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return (f'<svg class="spark" width="{width:.0f}" height="{height:.0f}">'
            f'<polygon points="{path}" fill="{GREEN}" fill-opacity="0.18" stroke="{GREEN}" '
            'stroke-width="1"/></svg>')  # fmt: skip


def stat_html(
    series: Sequence[Series], unit: str, began: float, end: float, width: float, height: float
) -> str:
    """One big number per series (its last value), side by side, names above when several."""
    cell = (width - 8 * (len(series) - 1)) / len(series)
    several = len(series) > 1
    size = min(height * (0.42 if several else 0.5), cell / 4.5, 64)
    cells = []
    for one in series:
        last = one.last()
        shown = "No data" if last is None else formatted(last, unit)
        name = f'<div class="stat-name">{esc(one.name)}</div>' if several else ""
        cells.append(
            f'<div class="stat-cell" style="width:{cell:.0f}px">{name}'
            f'<div class="stat-value" style="font-size:{size:.0f}px">{esc(shown)}</div>'
            f"{sparkline(one, began, end, cell, height * 0.4)}</div>"
        )
    return f'<div class="stats">{"".join(cells)}</div>'


def table_html(panel: dict[str, Any], results: Results) -> str:
    rows: list[dict[str, str]] = []
    for target in panel.get("targets", []):
        for item in results.get((panel["title"], target["refId"]), []):
            value = (item.get("value") or item["values"][-1])[1]
            rows.append({**item["metric"], "Value": value})
    if not rows:
        return NO_DATA
    columns = sorted({k for row in rows for k in row if k not in ("__name__", "Value")})
    columns.append("Value")
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(
    dashboard: dict[str, Any], results: Results, began: float, end: float, width: int = WIDTH
) -> str:
    """The dashboard as one page laid out like Grafana's, from its queries' ``results``."""
    grid = width - 2 * PAD
    column = (grid - MARGIN * (COLUMNS - 1)) / COLUMNS
    boxes: list[str] = []
    bottom = 0.0
    for panel in panels(dashboard):
        pos = panel["gridPos"]
        left = pos["x"] * (column + MARGIN)
        top = pos["y"] * (CELL_HEIGHT + MARGIN)
        box_w = pos["w"] * column + (pos["w"] - 1) * MARGIN
        box_h = pos["h"] * CELL_HEIGHT + (pos["h"] - 1) * MARGIN
        bottom = max(bottom, top + box_h)
        place = f"left:{left:.1f}px;top:{top:.1f}px;width:{box_w:.1f}px;height:{box_h:.1f}px"
        if panel["type"] == "row":
            boxes.append(f'<div class="row" style="{place}"><span class="chevron">&#8964;</span>'
                         f'{esc(panel["title"])}</div>')  # fmt: skip
            continue
        inner_w, inner_h = box_w - 16, box_h - TITLE_HEIGHT - 8
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "none")
        series = series_of(panel, results)
        if panel["type"] == "table":
            content = table_html(panel, results)
        elif not series:
            content = NO_DATA
        elif panel["type"] == "stat":
            content = stat_html(series, unit, began, end, inner_w, inner_h)
        else:
            names = [s.name for s in series]
            legend_h = min(legend_height(names, inner_w), int(inner_h * 0.4))
            graph = timeseries_svg(series, unit, began, end, inner_w, inner_h - legend_h)
            content = graph + legend_html(series)
        boxes.append(
            f'<section class="panel {esc(panel["type"])}" style="{place}">'
            f'<header>{esc(panel["title"])}</header><div class="content">{content}</div></section>'
        )
    variables = "".join(
        f'<span class="var"><b>{esc(v.get("label") or v["name"])}</b>'
        f"<span>{esc(v['current']['text'])}</span></span>"
        for v in dashboard.get("templating", {}).get("list", [])
    )
    clock = "%Y-%m-%d %H:%M:%S"
    span = (f"{time.strftime(clock, time.localtime(began))} to "
            f"{time.strftime('%H:%M:%S', time.localtime(end))}")  # fmt: skip
    title = esc(dashboard["title"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title><style>
* {{ box-sizing: border-box; }}
body {{ margin: 0; background: {BACKGROUND}; color: {TEXT};
  font: 13px Inter, "Liberation Sans", Arial, sans-serif; width: {width}px; }}
.top {{ height: 40px; display: flex; align-items: center; padding: 0 {PAD}px;
  background: {PANEL}; border-bottom: 1px solid {BORDER}; gap: 8px; color: {WEAK}; }}
.top b {{ color: {TEXT}; font-weight: 500; }}
.bar {{ display: flex; align-items: center; gap: 8px; padding: 12px {PAD}px 8px; }}
.var {{ display: inline-flex; border: 1px solid {BORDER}; border-radius: 2px; height: 32px; }}
.var b {{ font-weight: 500; padding: 0 10px; line-height: 30px; background: #22252b; }}
.var span {{ padding: 0 10px; line-height: 30px; }}
.grow {{ flex: 1; }}
.note {{ color: {WEAK}; font-size: 12px; }}
.range {{ border: 1px solid {BORDER}; border-radius: 2px; padding: 0 10px; line-height: 30px; }}
.grid {{ position: relative; margin: 0 {PAD}px {PAD}px; height: {bottom:.0f}px; }}
.panel, .row {{ position: absolute; }}
.panel {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 2px;
  display: flex; flex-direction: column; overflow: hidden; }}
.panel header {{ height: {TITLE_HEIGHT}px; line-height: {TITLE_HEIGHT}px; padding: 0 8px;
  font-weight: 500; font-size: 14px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }}
.content {{ flex: 1; padding: 0 8px 8px; overflow: hidden; position: relative; }}
.row {{ display: flex; align-items: center; gap: 6px; font-size: 16px; font-weight: 500; }}
.chevron {{ color: {WEAK}; font-size: 14px; transform: translateY(-3px); }}
.graph {{ display: block; }}
.tick {{ fill: {WEAK}; font-size: 11px; }}
.legend {{ display: flex; flex-wrap: wrap; column-gap: 16px; padding-top: 6px; overflow: hidden;
  font-size: 12px; color: {WEAK}; }}
.legend .item {{ display: flex; align-items: center; height: 20px; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 14px; height: 4px; border-radius: 2px;
  margin-right: 6px; }}
.stats {{ display: flex; gap: 8px; height: 100%; }}
.stat-cell {{ position: relative; display: flex; flex-direction: column; justify-content: center;
  align-items: center; overflow: hidden; }}
.stat-name {{ color: {TEXT}; font-size: 13px; z-index: 1; }}
.stat-value {{ color: {GREEN}; font-weight: 500; z-index: 1; line-height: 1.1; }}
.spark {{ position: absolute; left: 0; bottom: 0; }}
.nodata {{ display: flex; height: 100%; align-items: center; justify-content: center;
  color: {WEAK}; }}
.table {{ width: 100%; border-collapse: collapse; font-size: 13px; }}
.table th {{ text-align: left; font-weight: 500; padding: 6px 8px; color: #6e9fff;
  border-bottom: 1px solid {BORDER}; }}
.table td {{ padding: 6px 8px; border-bottom: 1px solid {BORDER}; font-family: monospace;
  font-size: 12px; }}
</style></head><body>
<div class="top">Home <span>&rsaquo;</span> Dashboards <span>&rsaquo;</span> MLOps
<span>&rsaquo;</span> <b>{title}</b></div>
<div class="bar">{variables}<span class="grow"></span>
<span class="note">Drawn by scripts/render_dashboards.py from this dashboard's queries against
the live test stack (Grafana is not packaged here)</span>
<span class="range">&#9719; {esc(span)}</span></div>
<div class="grid">{"".join(boxes)}</div>
</body></html>
"""


# --- the run ------------------------------------------------------------------------------------


def screenshot(pages: Mapping[str, str], out: Path, width: int) -> None:
    from tests.support.browser import chromium

    out.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        for name, page_html in pages.items():
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_content(page_html, wait_until="load")
            target = out / f"grafana-{name}.png"
            page.screenshot(path=str(target), full_page=True)
            page.close()
            size = target.stat().st_size // 1024
            print(f"wrote {target} ({size} KiB)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the PNGs (docs/)")
    parser.add_argument("--width", type=int, default=WIDTH, help="browser window width, px")
    parser.add_argument("--lead-in", type=float, default=20, help="steady traffic first, s")
    parser.add_argument("--tail", type=float, default=40, help="steady traffic after, s")
    parser.add_argument("--html", type=Path, help="also write the HTML pages to this folder")
    parser.add_argument("--dump", type=Path, help="write the query results to this JSON file")
    parser.add_argument("--load", type=Path, help="draw these results; no stack is started")
    args = parser.parse_args(argv)
    if args.load:
        began, end, results = load(args.load)
    else:
        began, end, results = query_live_stack(args.lead_in, args.tail)
        if args.dump:
            dump(args.dump, began, end, results)
    pages = {
        name: render_html(DASHBOARDS[name], result, began, end, args.width)
        for name, result in results.items()
    }
    if args.html:
        args.html.mkdir(parents=True, exist_ok=True)
        for name, page_html in pages.items():
            (args.html / f"grafana-{name}.html").write_text(page_html)
    screenshot(pages, args.out, args.width)


def steady(live: LiveStack, iris: Dataset, seconds: float, seed: int) -> None:
    """About 10 predictions a second of real Iris rows, a label for every third, a gRPC call
    every twentieth: the traffic around the test's burst, so the charts have a before and after."""
    rng = np.random.default_rng(seed)
    deadline = time.monotonic() + seconds
    with requests.Session() as http:
        count = 0
        while time.monotonic() < deadline:
            index = int(rng.integers(0, len(iris.labels)))
            row = iris.features[index]
            answer = http.post(live.stack.url + "/predict", json={"features": row.tolist()},
                               timeout=5)  # fmt: skip
            answer.raise_for_status()
            if count % 3 == 0:
                label = {"request_id": answer.json()["request_id"],
                         "true_label": int(iris.labels[index])}  # fmt: skip
                http.post(live.stack.url + "/feedback", json=label, headers=FEEDBACK, timeout=5)
            if count % 20 == 0:
                grpc_infer(live.grpc_address, row[np.newaxis, :])
            count += 1
            time.sleep(0.1)


def query_live_stack(lead_in: float, tail: float) -> tuple[float, float, dict[str, Results]]:
    """The live stack up and exercised as tests/e2e/test_grafana.py does (produce()), between
    ``lead_in`` and ``tail`` seconds of steady traffic; every dashboard's queries answered over
    the whole run."""
    from tests.support.browser import unavailable_reason

    from mlops_pipeline.config import load_catalogue
    from mlops_pipeline.training.data import load_iris_dataset
    from mlops_pipeline.training.trainer import train_all

    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"cannot render the dashboards: {reason}")
    iris = load_iris_dataset()
    with tempfile.TemporaryDirectory(prefix="mlops-grafana-") as folder:
        work = Path(folder)
        train_all(iris, load_catalogue(), work / "artifacts")
        with live_stack(work / "artifacts", work) as live:
            began = time.time()
            steady(live, iris, lead_in, seed=0)
            produce(live, iris)
            steady(live, iris, tail, seed=1)
            time.sleep(2)  # the last scrapes
            end = time.time()
            results: dict[str, Results] = {
                name: fetch(live.prometheus, dashboard, began, end)
                for name, dashboard in sorted(DASHBOARDS.items())
            }
    return began, end, results


def dump(path: Path, began: float, end: float, results: Mapping[str, Results]) -> None:
    answers = {name: [[title, ref, result] for (title, ref), result in by_target.items()]
               for name, by_target in results.items()}  # fmt: skip
    path.write_text(json.dumps({"began": began, "end": end, "results": answers}))


def load(path: Path) -> tuple[float, float, dict[str, Results]]:
    data = json.loads(path.read_text())
    results: dict[str, Results] = {
        name: {(title, ref): result for title, ref, result in answers}
        for name, answers in data["results"].items()
    }
    return data["began"], data["end"], results


if __name__ == "__main__":
    main()
