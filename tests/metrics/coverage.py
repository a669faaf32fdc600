"""Which metrics the dashboard reads and which the README documents, as comparable (kind, name) pairs.

A metric is ``(kind, name)``: kind ``counter``, ``timer`` or ``gauge``; name without the prefix, the
StatsD suffixes (``.rate``, ``.upper_99``...) and, for per-process gauges, the ``proc.<host>.<worker>``
segment. Graphite globs in panel targets become regular expressions over such names.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from tests.helpers import ROOT

KINDS = {"counters": "counter", "timers": "timer", "gauges": "gauge"}
COUNTER_SUFFIXES = ("rate", "count")
PATH = re.compile(r"stats\.(counters|timers|gauges)\.PFX\.((?:[A-Za-z0-9_*\-.]|\{[^}]*\})+)")
PFX = "PFX"


def glob_regex(glob: str) -> str:
    out = []
    for part in re.split(r"(\{[^}]*\}|\*)", glob):
        if part == "*":
            out.append(r"[^.]*")
        elif part.startswith("{"):
            out.append("(?:" + "|".join(re.escape(alt) for alt in part[1:-1].split(",")) + ")")
        else:
            out.append(re.escape(part))
    return "".join(out)


def _strip(kind: str, path: str) -> str:
    """A series path or glob (after the prefix) -> the metric name (glob) it belongs to."""
    if kind == "gauge":
        path = re.sub(r"^proc\.[^.]+\.[^.]+\.", "", path)
    head, _, last = path.rpartition(".")
    if kind == "timer":  # a timer's every series is one statistic of it (upper_99, count_ps, sum_squares_95...)
        return head
    return head if kind == "counter" and last in COUNTER_SUFFIXES else path


def dashboard_patterns(dashboard: dict) -> list[tuple[str, str, str]]:
    """(panel title, kind, regex over metric names) for every series path every panel target reads."""
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            text = target["target"].replace("$prefix", PFX).replace("$host", "*").replace("$route", "*")
            for kind, path in PATH.findall(text):
                kind = KINDS[kind]
                if kind == "gauge":
                    assert path.startswith("proc.*.*."), f"{panel['title']}: a gauge not read per process: {path}"
                out.append((panel["title"], kind, glob_regex(_strip(kind, path))))
    return out


def read_by(patterns: list[tuple[str, str, str]], kind: str, name: str) -> list[str]:
    """Titles of the panels that read metric ``name`` of ``kind``."""
    return [title for title, k, regex in patterns if k == kind and re.fullmatch(regex, name)]


def leaf_metric(series: str, prefix: str) -> tuple[str, str] | None:
    """A Graphite leaf (stats.counters.<prefix>.x.rate) -> (kind, name), or None for another prefix."""
    for folder, kind in KINDS.items():
        head = f"stats.{folder}.{prefix}."
        if series.startswith(head):
            return kind, _strip(kind, series[len(head):])
    return None


# -- the README's metrics table --------------------------------------------------------

def readme_rows(readme: str | None = None) -> list[tuple[str, str]]:
    """(first cell, type cell) of every row of the metrics table (docs/metrics.md, "## Metrics")."""
    text = readme if readme is not None else (ROOT / "docs" / "metrics.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows.append((cells[0], cells[1]))
    return rows


def _kind_of(type_cell: str) -> str:
    for kind in ("counter", "timer", "gauge"):
        if type_cell.startswith(kind):
            return kind
    raise ValueError(f"unknown metric type {type_cell!r}")


def readme_names(samples: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(kind, template as written, concrete name) for each README row, placeholders filled from ``samples``."""
    out = []
    for cell, type_cell in readme_rows():
        kind = _kind_of(type_cell)
        previous = ""
        for template in re.findall(r"`([^`]+)`", cell):
            template = template.replace("\\|", "|")
            if template.startswith("."):  # `a.b.idle` / `.slow`: the last node replaced
                template = previous.rsplit(".", 1)[0] + template
            previous = template
            for name in expand_template(template, samples):
                out.append((kind, template, name))
    return out


def expand_template(template: str, samples: dict[str, list[str]]) -> list[str]:
    """``http.<route>.status.<2xx|5xx>`` -> every concrete name (``<word>`` from ``samples[word]``)."""
    parts = re.split(r"(<[^>]+>)", template)
    choices = []
    for part in parts:
        if part.startswith("<"):
            inner = part[1:-1]
            choices.append(inner.split("|") if "|" in inner else samples.get(inner, ["x"]))
        else:
            choices.append([part])
    return ["".join(combo) for combo in itertools.product(*choices)]


def readme_regexes() -> list[tuple[str, str]]:
    """(kind, regex over metric names) for each README name, any placeholder matching one node."""
    out = []
    for cell, type_cell in readme_rows():
        kind = _kind_of(type_cell)
        previous = ""
        for template in re.findall(r"`([^`]+)`", cell):
            template = template.replace("\\|", "|")
            if template.startswith("."):
                template = previous.rsplit(".", 1)[0] + template
            previous = template
            regex = "".join(
                ("(?:" + "|".join(map(re.escape, p[1:-1].split("|"))) + ")" if "|" in p else r"[^.]+")
                if p.startswith("<") else re.escape(p) for p in re.split(r"(<[^>]+>)", template))
            out.append((kind, regex))
    return out


def load_dashboard(path: Path | None = None) -> dict:
    return json.loads((path or ROOT / "deploy" / "grafana" / "dashboards" / "tornado-paste.json").read_text())
