"""The dashboard and the alert rules, without a stack: generated from scripts/dashboard.py, complete, tidy.

What they show on real series is proven in tests/system/test_metrics_pipeline.py and test_alerts.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml

from scripts import dashboard as spec
from tests.helpers import ROOT
from tests.metrics.coverage import dashboard_patterns, load_dashboard, read_by, readme_names

ROWS = ["Traffic and errors", "Uploads", "Downloads", "Images and derivatives", "Real time", "Storage",
        "Abuse and refusals", "Capacity"]
RED_PANELS = re.compile(r"latency|lag|duration|error ratio|5xx|rejections|^disk free by host|lowest disk free|"
                        r"descriptors used", re.I)
ALERT_UIDS = {"tp-5xx-ratio", "tp-p99-interactive", "tp-p99-transfer", "tp-p99-images", "tp-store-unavailable",
              "tp-executor-rejections", "tp-disk-free", "tp-event-lag", "tp-statsd-silent"}


def _panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_provisioned_files_are_what_the_description_gives():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "dashboard.py"), "--check"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr


def test_rows_by_concern_and_no_duplicate_panel():
    dashboard = load_dashboard()
    assert [p["title"] for p in dashboard["panels"] if p["type"] == "row"] == ROWS
    titles = [p["title"] for p in _panels(dashboard)]
    assert len(titles) == len(set(titles)), "two panels with one title"
    reads = [tuple(sorted(t["target"] for t in p["targets"])) for p in _panels(dashboard)]
    assert len(reads) == len(set(reads)), "two panels with the same targets"
    # Panels do not overlap and fill rows of 24 columns.
    cells = set()
    for panel in _panels(dashboard):
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


def test_every_panel_has_a_unit_a_runbook_line_and_objectives_where_it_can_be_red():
    for panel in _panels(load_dashboard()):
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"], panel["title"]
        description = panel["description"]
        assert description and "\n" not in description and description.endswith("."), panel["title"]
        steps = defaults["thresholds"]["steps"]
        if RED_PANELS.search(panel["title"]):
            assert any(s["color"] == "red" and s["value"] is not None for s in steps) or \
                steps[0]["color"] == "red", f"{panel['title']}: no objective"
            if panel["type"] == "timeseries":
                assert defaults["custom"]["thresholdsStyle"]["mode"] == "line", panel["title"]
        assert panel["datasource"]["uid"] == "tp-graphite"


def test_levels_are_summed_over_processes_with_a_host_variable():
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["host"]["query"] == "stats.gauges.$prefix.proc.*" and variables["host"]["allValue"] == "*"
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            for gauge in re.findall(r"stats\.gauges\.[^,)]+", target["target"]):
                assert gauge.startswith("stats.gauges.$prefix.proc.$host.*."), (panel["title"], gauge)
    held = ("http.inflight", "ws.subscribers", "longpoll.subscribers")
    for name in held:
        assert [p for p in _panels(dashboard) for t in p["targets"]
                if f"sumSeries(stats.gauges.$prefix.proc.$host.*.{name})" in t["target"]], name


def _samples() -> dict[str, list[str]]:
    from handlers.base import BaseHandler
    from handlers.routes import routes
    from tornado_paste.metrics.instrumentation import STORE_OPERATIONS

    route_names = {handler.route_name for _, handler in routes() if issubclass(handler, BaseHandler)}
    route_names |= {"static", "not_found", "other"}
    return {"route": sorted(route_names), "op": list(STORE_OPERATIONS), "status": ["200", "404", "503"],
            "reason": ["busy", "bad_parameter"], "budget": ["upload", "resize", "read"]}


def test_every_metric_in_the_readme_table_is_on_the_dashboard():
    patterns = dashboard_patterns(load_dashboard())
    names = readme_names(_samples())
    assert len(names) > 60
    missing = [f"{kind} {template} ({name})" for kind, template, name in names if not read_by(patterns, kind, name)]
    assert missing == [], "README metrics no panel reads:\n" + "\n".join(missing)


def test_every_route_has_a_latency_class():
    classes = {route for members in spec.ROUTE_CLASSES.values() for route in members}
    assert set(_samples()["route"]) <= classes, set(_samples()["route"]) - classes


def test_alert_rules_are_grafana_provisioning_with_the_panels_objectives():
    doc = yaml.safe_load(spec.ALERTS.read_text())
    assert doc["apiVersion"] == 1
    (group,) = doc["groups"]
    assert group["folder"] and group["interval"] == "1m"
    rules = {rule["uid"]: rule for rule in group["rules"]}
    assert set(rules) == ALERT_UIDS
    panels = {p["id"]: p for p in _panels(load_dashboard())}
    for uid, rule in rules.items():
        refs = [d["refId"] for d in rule["data"]]
        assert len(refs) == len(set(refs)) and rule["condition"] in refs, uid
        for d in rule["data"]:
            if d["datasourceUid"] == "__expr__":
                model = d["model"]
                assert model["type"] in ("reduce", "math", "threshold"), uid
                sources = re.findall(r"\$(\w+)", model["expression"]) if model["type"] == "math" \
                    else [model["expression"]]
                assert set(sources) <= set(refs), uid
            else:
                assert d["datasourceUid"] == "tp-graphite" and d["relativeTimeRange"]["from"] > 0, uid
                assert "$" not in d["model"]["target"], uid  # alert rules cannot use dashboard variables
        assert re.fullmatch(r"\d+[smh]", rule["for"]), uid
        assert rule["noDataState"] in ("OK", "NoData", "Alerting") and rule["execErrState"] == "Error"
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook_url"].startswith("docs/operations.md#")
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert f'<a id="{anchor}"></a>' in (ROOT / "docs" / "operations.md").read_text(), anchor
        # The threshold that pages is the panel's red line.
        threshold = next(d["model"] for d in rule["data"] if d["refId"] == rule["condition"])
        value = threshold["conditions"][0]["evaluator"]["params"][0]
        panel = panels[rule["panelId"]]
        if uid != "tp-statsd-silent":
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            red = [s["value"] for s in steps if s["value"] is not None]
            assert red == [value], (uid, panel["title"], red, value)


def test_operations_doc_describes_the_dashboard_row_by_row():
    """docs/operations.md holds the rows as scripts/dashboard.py --markdown prints them."""
    assert spec.markdown_rows() in (ROOT / "docs" / "operations.md").read_text(), \
        "regenerate the rows: python scripts/dashboard.py --markdown"
