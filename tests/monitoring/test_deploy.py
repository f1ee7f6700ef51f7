"""The docs, the alerting rules and the Grafana dashboard agree with the metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitoring.support import Running, eventually

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs" / "metrics.md"
RULES = ROOT / "deploy" / "prometheus" / "streamweaver-alerts.yml"
SCRAPE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana" / "streamweaver-dashboard.json"
METRIC = re.compile(r"\b(streamweaver_[a-z_]+)\b")
SEVERITIES = {"critical", "warning", "info"}


def documented() -> set[str]:
    return set(re.findall(r"^\| `(streamweaver_[a-z_]+)`", DOCS.read_text(), re.M))


def assert_known_metrics(expr: str, where: str) -> None:
    unknown = set(METRIC.findall(expr)) - documented()
    assert not unknown, f"{where} uses undocumented metrics {unknown}"


async def test_every_exported_metric_is_documented(monitored: Running, ar) -> None:
    await ar.xadd("s", {"a": "1"})
    await ar.xgroup_create("s", "g", id="0")
    await ar.xreadgroup("g", "c", {"s": ">"})

    async def with_consumers() -> str | None:
        text = await monitored.metrics()
        return text if "streamweaver_consumer_idle_seconds{" in text else None

    text = await eventually(with_consumers)

    exported = {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("streamweaver_")
    }

    assert exported - documented() == set()
    assert len(exported) > 25


def test_the_alerting_rules_are_well_formed() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]

    assert {"StreamWeaverBrokerDown", "StreamWeaverRedisDown"} <= {
        a["alert"] for a in alerts
    }
    for group in groups:
        assert group["name"]
        assert group["rules"]
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
        promql_parser.parse(rule["expr"])  # raises on a syntax error
        assert_known_metrics(rule["expr"], rule["alert"])
        assert rule["labels"]["severity"] in SEVERITIES
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
    for needed in ("archive_unarchived_age", "group_lag", "unread_trim_eta"):
        assert any(needed in rule["expr"] for rule in alerts), needed


def test_the_scrape_config_loads_the_rules_beside_it() -> None:
    config = yaml.safe_load(SCRAPE.read_text())

    (job,) = config["scrape_configs"]
    assert job["job_name"] == "streamweaver"
    assert job["metrics_path"] == "/metrics"
    assert config["rule_files"] == [RULES.name]


def test_the_grafana_dashboard_queries_documented_metrics() -> None:
    dashboard = json.loads(GRAFANA.read_text())
    panels = dashboard["panels"]

    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel["targets"]:
            expr = target["expr"].replace("$stream", ".*").replace("$job", ".*")
            promql_parser.parse(expr)
            assert_known_metrics(expr, panel["title"])
