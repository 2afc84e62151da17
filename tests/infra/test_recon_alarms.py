"""Reconciliation alarms: on the reconcile function's own EMF metrics, paging the alarm topic."""

from __future__ import annotations

from typing import Any

import pytest
from infra.context import NAMES

from tradeops.reconciliation.metrics import DIMENSIONS, NAMESPACE, OPEN_BREAKS, RUN_DURATION_MS, RUN_FAILURES

from .conftest import Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _alarm(synth: Synth, name: str) -> tuple[str, dict[str, Any]]:
    ref = synth.find("AWS::CloudWatch::Alarm", AlarmName=name)
    return ref[0], synth.resource(ref)["Properties"]


def _pages_the_alarm_topic(synth: Synth, stack: str, props: dict[str, Any]) -> None:
    topic = synth.find("AWS::SNS::Topic", TopicName=NAMES.alarm_topic_name)
    for key in ("AlarmActions", "OKActions"):
        (action,) = props[key]
        assert synth.resolve(stack, action) == topic, key


def _on_metric(props: dict[str, Any], name: str, statistic: str) -> None:
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (NAMESPACE, name, statistic)
    assert props["Dimensions"] == [{"Name": k, "Value": v} for k, v in DIMENSIONS.items()]


def test_open_breaks_alarm_fires_only_when_breaks_persist(synth: Synth) -> None:
    stack, props = _alarm(synth, "tradeops-reconcile-open-breaks")
    _on_metric(props, OPEN_BREAKS, "Minimum")
    assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 5 and props["Period"] == 60
    _pages_the_alarm_topic(synth, stack, props)


def test_run_failures_alarm(synth: Synth) -> None:
    stack, props = _alarm(synth, "tradeops-reconcile-run-failures")
    _on_metric(props, RUN_FAILURES, "Sum")
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and props["Threshold"] == 3
    assert props["TreatMissingData"] == "notBreaching" and props["Period"] == 300
    _pages_the_alarm_topic(synth, stack, props)


def test_a_reconciler_that_stopped_running_pages(synth: Synth) -> None:
    stack, props = _alarm(synth, "tradeops-reconcile-runs-missing")
    _on_metric(props, RUN_DURATION_MS, "SampleCount")
    assert props["ComparisonOperator"] == "LessThanThreshold" and props["Threshold"] == 1
    assert props["TreatMissingData"] == "breaching"
    _pages_the_alarm_topic(synth, stack, props)


def test_construct_refuses_empty_windows() -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_sns as sns
    from infra.constructs.recon_alarms import ReconAlarms

    stack = Stack(App(), "S")
    with pytest.raises(ValueError, match=">= 1"):
        ReconAlarms(stack, "A", topic=sns.Topic(stack, "T"), open_minutes=0)


def test_reconcile_reads_the_exchange_secret_from_the_secrets_stack(synth: Synth) -> None:
    """The grant lives in the secret's stack (no dependency cycle) and names the reconcile role."""
    policies = [
        props
        for (stack, logical_id), resource in synth.resources("AWS::IAM::Policy", "TradeopsSecurity").items()
        if "ReconcileSecretReader" in logical_id
        for props in [resource["Properties"]]
    ]
    assert len(policies) == 1
    actions = {a for s in policies[0]["PolicyDocument"]["Statement"] for a in _as_list(s["Action"])}
    assert actions == {"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "kms:Decrypt"}
    (role,) = policies[0]["Roles"]
    role_arn = role["Fn::Select"][1]["Fn::Split"][1]["Fn::Select"][1]["Fn::Split"][1]
    ref = synth.resolve("TradeopsSecurity", role_arn)
    assert ref is not None and ref[0] == "TradeopsFunctions" and ref[1].startswith("ReconcileRole")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_a_critical_alert_pages_once_per_episode(synth: Synth) -> None:
    from infra.constructs.alert_alarms import CRITICAL_ALERTS_ALARM

    from tradeops.alerting_metrics import ALERTS_RAISED, CRITICAL_DIMENSIONS
    from tradeops.alerting_metrics import NAMESPACE as ALERTS_NAMESPACE

    stack, props = _alarm(synth, CRITICAL_ALERTS_ALARM)
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        ALERTS_NAMESPACE,
        ALERTS_RAISED,
        "Sum",
    )
    assert props["Dimensions"] == [{"Name": k, "Value": v} for k, v in CRITICAL_DIMENSIONS.items()]
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and props["Threshold"] == 1
    assert props["Period"] == 60 and props["TreatMissingData"] == "notBreaching"
    assert "severity" not in props["AlarmDescription"].lower()  # its own state change is no critical alert
    _pages_the_alarm_topic(synth, stack, props)
