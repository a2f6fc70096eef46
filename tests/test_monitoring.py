"""The monitoring a site imports (deploy/monitoring/): the alerting rules pass promtool's check and their
unit tests, every alert fires in one of those tests, and every metric and label the rules and the
Grafana dashboard ask for is one the router really exports, read from /metrics of a router on the
simulator with calls answered, failed and waiting."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from asterisk_sim import AgentScript, Fault
from router.schedule import Schedule
from router.schedule.reload import ScheduleSource
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROOT
from tests.promql import Names, names
from tests.test_http_api import api
from tests.test_router_sim import OPEN

MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yml"
DASHBOARD = MONITORING / "callrouter-dashboard.json"

# Prometheus' own, for every target it scrapes, and the labels a site's scrape configuration gives each
# router (docs/monitoring.md): its job, its address, and the Asterisk it serves.
PROMETHEUS_OWN = {"up"}
TARGET_LABELS = {"job", "instance", "asterisk"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; scripts/setup installs it)")
    return found


def test_the_rules_pass_promtools_check() -> None:
    run = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    tests = MONITORING / "alerts.test.yml"
    run = subprocess.run([promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_alert_fires_in_a_unit_test_and_stays_quiet_in_another() -> None:
    alerts = {rule["alert"] for group in _rules()["groups"] for rule in group["rules"]}
    cases = [case for test in _load(MONITORING / "alerts.test.yml")["tests"] for case in test["alert_rule_test"]]
    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts - fires == set(), "alerts no unit test makes fire"
    assert alerts - quiet == set(), "alerts no unit test shows quiet"


def test_the_dashboard_is_one_grafana_can_import() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "callrouter"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = {v.lstrip("$") for v in _variables(target["expr"])} - {"__interval", "__rate_interval", "__range"}
            assert used <= variables, (panel["title"], used)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


async def test_every_name_the_rules_and_dashboard_use_is_exported(shipped: Schedule, tmp_path: Path) -> None:
    exported, labels = await _scraped(shipped, tmp_path)
    exported |= PROMETHEUS_OWN
    labels |= TARGET_LABELS
    for where, expr in _queries():
        used = names(expr)
        assert used.metrics, (where, expr)  # a query that asks for no metric is a misread query
        assert used.metrics <= exported, (where, sorted(used.metrics - exported))
        assert used.labels <= labels, (where, sorted(used.labels - labels))


def test_the_name_check_would_see_a_wrong_name() -> None:
    # The check above is only as good as the tokenizer: a misspelt metric or label must stand out.
    assert names('sum by (outcome) (increase(callrouter_call_total{line=~"$line"}[$__interval]))') == Names(
        frozenset({"callrouter_call_total"}), frozenset({"outcome", "line"})
    )
    assert names('histogram_quantile(0.9, sum by (le) (rate(x_bucket{a="}{ by (b)"}[1h30m]))) > 1e3') == Names(
        frozenset({"x_bucket"}), frozenset({"le", "a"})
    )


async def _scraped(shipped: Schedule, tmp_path: Path) -> tuple[set[str], set[str]]:
    """The sample names and label names of /metrics after a call answered by an agent and one that failed
    to the fallback, so that every labelled family has a sample."""
    path = tmp_path / "schedule.yaml"
    shutil.copy(ROOT / "schedule.yaml", path)
    async with api(shipped, tmp_path, OPEN, schedule=ScheduleSource(path)) as a:
        world = a.sim.world
        world.set_endpoint("PJSIP/agent1", AgentScript("answer", 0.1))
        world.set_endpoint("PJSIP/agent2", AgentScript("offline"))
        world.set_endpoint("PJSIP/agent3", AgentScript("offline"))
        talking = world.place_call("12345678", "1818", "router", ["1818"]).id
        await until(lambda: any("bridged" in entry for entry in world.channels[talking].heard), within=10)
        await until(lambda: bool(a.router.runtime.queues.lines["1818"].queue.talking))
        a.sim.faults.append(Fault("POST /channels/*/answer", status=500, count=100))
        failed = world.place_call("87654321", "1818", "router", ["1818"]).id
        assert await outcome_of(a.router.runtime, failed) == "error_fallback"
        a.sim.faults.clear()
        world.hangup(talking)  # the answered call's wait is counted when it ends
        assert await outcome_of(a.router.runtime, talking) == "answered"
        _, text = await a.get("/metrics", token=None)
        assert isinstance(text, bytes)
    exported: set[str] = set()
    labels: set[str] = set()
    for family in text_string_to_metric_families(text.decode()):
        exported |= {sample.name for sample in family.samples} | {family.name}
        labels |= {label for sample in family.samples for label in sample.labels}
    return exported, labels


def _queries() -> list[tuple[str, str]]:
    found = [(rule["alert"], rule["expr"]) for group in _rules()["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        found += [(panel["title"], target["expr"]) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":  # Grafana's label_values(metric, label), not PromQL
            metric, label = _label_values(variable["query"]["query"])
            found.append((variable["name"], f"count by ({label}) ({metric})"))
    return found


def _label_values(query: str) -> tuple[str, str]:
    inner = query.removeprefix("label_values(").removesuffix(")")
    metric, label = (part.strip() for part in inner.split(","))
    return metric, label


def _variables(expr: str) -> list[str]:
    return re.findall(r"\$\w+", expr)


def _rules() -> Any:
    return _load(RULES)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
