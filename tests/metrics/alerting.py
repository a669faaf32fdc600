"""Evaluate a provisioned Grafana alert rule the way Grafana does, against a real graphite-web.

Grafana cannot be installed here, so the tests run its evaluation themselves: each Graphite query
of the rule goes to graphite-web's /render over the rule's relative time range, then the rule's
server-side expressions are applied in order: ``reduce`` (sum, mean, max, min, last, count; the
``dropNN`` mode drops nulls), ``math`` (``$RA / $RB * 100``) and ``threshold`` (gt, lt). A query
with no series is "no data", answered with the rule's ``noDataState``. Only the time range may be
shortened for a test (``window``); the queries, reducers and thresholds are the file's own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT
from tests.metrics_stack import MetricsStack

ALERTS = ROOT / "deploy" / "grafana" / "provisioning" / "alerting" / "tornado-paste.yaml"
ALERT_PREFIX = "tornado_paste"


def load_rules(path: Path = ALERTS) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return {rule["uid"]: rule for group in doc["groups"] for rule in group["rules"]}


@dataclass
class Evaluation:
    state: str  # "Alerting", "Normal" or "NoData" (as the rule's noDataState maps it)
    value: float  # what the threshold compared (nan when there was nothing to compare)
    inputs: dict[str, float]

    @property
    def firing(self) -> bool:
        return self.state == "Alerting"


def _reduce(reducer: str, values: list[float]) -> float:
    if reducer == "count":
        return float(len(values))
    if reducer == "sum":
        return float(sum(values))
    if not values:
        return math.nan
    return {"mean": lambda v: sum(v) / len(v), "max": max, "min": min, "last": lambda v: v[-1]}[reducer](values)


def _math(expression: str, values: dict[str, float]) -> float:
    """Grafana math over reduced values: ``$NAME`` references, numbers and + - * / ( )."""
    names = re.findall(r"\$(\w+)", expression)
    text = re.sub(r"\$(\w+)", r"v_\1", expression)
    if not re.fullmatch(r"(?:v_\w+|[\d.\s()+\-*/])*", text):
        raise ValueError(f"unsupported math: {expression}")
    try:
        return float(eval(text, {"__builtins__": {}}, {f"v_{n}": values[n] for n in names}))
    except ZeroDivisionError:  # Grafana: 0/0 is NaN (never crosses), x/0 is +Inf
        return math.nan if values[names[0]] == 0 else math.inf


def evaluate(rule: dict[str, Any], stack: MetricsStack, prefix: str, window: int | None = None) -> Evaluation:
    """Evaluate ``rule`` now over graphite-web, its queries pointed at ``prefix``."""
    values: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for node in rule["data"]:
        model = node["model"]
        ref = node["refId"]
        if node["datasourceUid"] != "__expr__":
            since = window if window is not None else node["relativeTimeRange"]["from"]
            target = model["target"].replace(f".{ALERT_PREFIX}.", f".{prefix}.")
            found = stack.render(target, f"-{since}s")
            if not found:
                state = {"OK": "Normal", "NoData": "NoData", "Alerting": "Alerting"}[rule["noDataState"]]
                return Evaluation(state, math.nan, values)
            assert len(found) == 1, f"{rule['uid']}: {target} gave {len(found)} series (one expected)"
            series[ref] = [v for v, _ts in found[0]["datapoints"] if v is not None]
        elif model["type"] == "reduce":
            assert model.get("settings", {}).get("mode") == "dropNN"
            values[ref] = _reduce(model["reducer"], series[model["expression"]])
        elif model["type"] == "math":
            values[ref] = _math(model["expression"], values)
        elif model["type"] == "threshold":
            value = values[model["expression"]]
            evaluator = model["conditions"][0]["evaluator"]
            limit = evaluator["params"][0]
            crossed = {"gt": value > limit, "lt": value < limit}[evaluator["type"]]  # nan compares False
            values[ref] = float(crossed)
        else:
            raise ValueError(f"{rule['uid']}: unsupported expression {model['type']}")
    condition = values[rule["condition"]]
    compared = next(values[n["model"]["expression"]] for n in rule["data"] if n["refId"] == rule["condition"])
    return Evaluation("Alerting" if condition else "Normal", compared, values)
