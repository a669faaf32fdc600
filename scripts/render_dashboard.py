#!/usr/bin/env python3
"""See the Grafana dashboard without Grafana: render each panel's targets as a PNG through graphite-web.

    python scripts/render_dashboard.py --graphite http://127.0.0.1:8080 --prefix tornado_paste \\
        --from -1h --out docs/dashboard --montage docs/metrics-dashboard.png

Each panel of deploy/grafana/dashboards/tornado-paste.json becomes ``<out>/<NN>-<slug>.png``
(graphite-web's ``/render?format=png``, same targets, ``$prefix`` filled in, ``$route`` = all).
``--montage`` also lays every panel out in one picture (Pillow), for the README.
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
UNIT_LABELS = {"reqps": "req/s", "ms": "ms", "Bps": "bytes/s", "percent": "%", "short": ""}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def expand(target: str, prefix: str, route: str) -> str:
    return target.replace("$prefix", prefix).replace("$route", route)


def render_url(graphite: str, panel: dict[str, Any], prefix: str, route: str, since: str, until: str,
               width: int, height: int) -> str:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    query: list[tuple[str, str]] = [("target", expand(t["target"], prefix, route)) for t in panel["targets"]]
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


def montage(images: list[bytes], columns: int, out: Path) -> None:
    from PIL import Image

    tiles = [Image.open(io.BytesIO(data)).convert("RGB") for data in images]
    width = max(t.width for t in tiles)
    height = max(t.height for t in tiles)
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width + (columns + 1) * 8, rows * height + (rows + 1) * 8), "#111217")
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        sheet.paste(tile, (8 + col * (width + 8), 8 + row * (height + 8)))
    out.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours are plenty for flat graphs and keep the README picture small.
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--graphite", required=True, help="graphite-web base URL")
    p.add_argument("--prefix", default="tornado_paste", help="the $prefix variable (StatsD prefix)")
    p.add_argument("--route", default="*", help="the $route variable (default: all routes)")
    p.add_argument("--from", dest="since", default="-1h")
    p.add_argument("--until", default="now")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=300)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard")
    p.add_argument("--only", action="append", default=[], help="panel title to render (repeatable)")
    p.add_argument("--montage", type=Path, help="also write every panel in one PNG here")
    p.add_argument("--columns", type=int, default=3)
    p.add_argument("--dashboard", type=Path, default=DASHBOARD)
    args = p.parse_args(argv)

    dashboard = json.loads(args.dashboard.read_text())
    chosen = [panel for panel in panels(dashboard) if not args.only or panel["title"] in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        print(f"unknown panel title in {args.only}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    images = []
    for index, panel in enumerate(chosen, 1):
        url = render_url(args.graphite, panel, args.prefix, args.route, args.since, args.until, args.width,
                         args.height)
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
        images.append(data)
        print(path)
    if args.montage and images:
        montage(images, args.columns, args.montage)
        print(args.montage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
