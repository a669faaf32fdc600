#!/usr/bin/env python3
"""See the Grafana dashboard without Grafana: render each panel's targets as a PNG through graphite-web.

    python scripts/render_dashboard.py --graphite http://127.0.0.1:8080 --prefix tornado_paste \\
        --from -1h --out docs/dashboard --montage docs/metrics-dashboard.png

Each panel of deploy/grafana/dashboards/tornado-paste.json becomes ``<out>/<NN>-<slug>.png``
(graphite-web's ``/render?format=png``, same targets, ``$prefix`` filled in, ``$route`` and ``$host`` =
all, the panel's objective drawn as a red line). ``--montage`` also lays every panel out in one
picture (Pillow), a strip per dashboard row, for the README.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tornado-paste.json"
# Grafana units -> a y-axis label for graphite's PNG.
UNIT_LABELS = {"reqps": "req/s", "ms": "ms", "Bps": "bytes/s", "binBps": "bytes/s", "percent": "%", "short": "",
               "ops": "per s", "bytes": "bytes"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def rows(dashboard: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(row title, its panels) in dashboard order."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.append((panel["title"], []))
        elif out:
            out[-1][1].append(panel)
        else:
            out.append(("", [panel]))
    return out


def expand(target: str, prefix: str, route: str, host: str = "*") -> str:
    return target.replace("$prefix", prefix).replace("$route", route).replace("$host", host)


def objective(panel: dict[str, Any]) -> float | None:
    """The panel's red threshold value (its objective), if it has one."""
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    values = [s["value"] for s in steps if s.get("value") is not None]
    return values[0] if values else None


def render_url(graphite: str, panel: dict[str, Any], prefix: str, route: str, since: str, until: str,
               width: int, height: int, host: str = "*") -> str:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    query: list[tuple[str, str]] = [("target", expand(t["target"], prefix, route, host)) for t in panel["targets"]]
    red = objective(panel)
    if red is not None and panel["type"] == "timeseries":
        # The objective line, as Grafana draws it.
        query.append(("target", f"threshold({red}, 'objective {red:g}', 'red')"))
    query += [("from", since), ("until", until), ("format", "png"), ("width", str(width)),
              ("height", str(height)), ("title", panel["title"]), ("vtitle", UNIT_LABELS.get(unit, unit)),
              ("hideLegend", "false"), ("bgcolor", "#181b1f"), ("fgcolor", "#d8d9da"),
              ("majorGridLineColor", "#444444"), ("minorGridLineColor", "#2a2a2a"), ("lineWidth", "2"),
              ("areaMode", "none"), ("drawNullAsZero", "false"), ("connectedLimit", "5")]
    if panel["type"] == "stat":
        query.append(("graphType", "line"))
    return f"{graphite.rstrip('/')}/render?{urllib.parse.urlencode(query)}"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def montage(sections: list[tuple[str, list[bytes]]], columns: int, out: Path) -> None:
    """Every panel in one picture, a header strip per dashboard row (Pillow)."""
    from PIL import Image, ImageDraw, ImageFont

    tiles = [(title, [Image.open(io.BytesIO(data)).convert("RGB") for data in images]) for title, images in sections]
    width = max(t.width for _, ts in tiles for t in ts)
    height = max(t.height for _, ts in tiles for t in ts)
    header, gap = 30, 8
    sheet_h = sum(header + ((len(ts) + columns - 1) // columns) * (height + gap) for _, ts in tiles) + gap
    sheet = Image.new("RGB", (columns * width + (columns + 1) * gap, sheet_h), "#111217")
    draw = ImageDraw.Draw(sheet)
    try:
        font: Any = ImageFont.load_default(size=20)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    y = gap
    for title, images in tiles:
        draw.text((gap, y + 4), title, fill="#d8d9da", font=font)
        y += header
        for index, tile in enumerate(images):
            row, col = divmod(index, columns)
            sheet.paste(tile, (gap + col * (width + gap), y + row * (height + gap)))
        y += ((len(images) + columns - 1) // columns) * (height + gap)
    out.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours are plenty for flat graphs and keep the README picture small.
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--graphite", required=True, help="graphite-web base URL")
    p.add_argument("--prefix", default="tornado_paste", help="the $prefix variable (StatsD prefix)")
    p.add_argument("--route", default="*", help="the $route variable (default: all routes)")
    p.add_argument("--host", default="*", help="the $host variable (default: all hosts)")
    p.add_argument("--from", dest="since", default="-1h")
    p.add_argument("--until", default="now")
    p.add_argument("--width", type=int, default=560)
    p.add_argument("--height", type=int, default=260)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard")
    p.add_argument("--only", action="append", default=[], help="panel title to render (repeatable)")
    p.add_argument("--montage", type=Path, help="also write every panel in one PNG here")
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--dashboard", type=Path, default=DASHBOARD)
    args = p.parse_args(argv)

    dashboard = json.loads(args.dashboard.read_text())
    chosen = [panel for panel in panels(dashboard) if not args.only or panel["title"] in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        print(f"unknown panel title in {args.only}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    row_of = {id(panel): title for title, members in rows(dashboard) for panel in members}
    sections: list[tuple[str, list[bytes]]] = []
    for index, panel in enumerate(chosen, 1):
        url = render_url(args.graphite, panel, args.prefix, args.route, args.since, args.until, args.width,
                         args.height, args.host)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            print(f"{panel['title']}: graphite-web answered {exc.code}", file=sys.stderr)
            return 1
        if not data.startswith(b"\x89PNG"):
            print(f"{panel['title']}: graphite-web did not answer a PNG", file=sys.stderr)
            return 1
        path = args.out / f"{index:02d}-{slug(panel['title'])}.png"
        path.write_bytes(data)
        if not sections or sections[-1][0] != row_of[id(panel)]:
            sections.append((row_of[id(panel)], []))
        sections[-1][1].append(data)
        print(path)
    if args.montage and sections:
        montage(sections, args.columns, args.montage)
        print(args.montage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
