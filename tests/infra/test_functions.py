"""Functions stack: functions, queues, rules and schedules equal tradeops.routes, and all fail loudly."""

from __future__ import annotations

from typing import Any

import pytest
from infra.constructs.function import function_name
from infra.context import NAMES
from infra.stacks.functions import is_aws_sourced, rule_name

from tradeops.config import Settings
from tradeops.routes import FUNCTIONS, QUEUES, RULES, SCHEDULES, FunctionSpec, QueueSpec
from tradeops.store.tables import TABLES_BY_NAME

from .conftest import Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

FUNCTIONS_STACK = "TradeopsFunctions"


def _function(synth: Synth, spec: FunctionSpec) -> Ref:
    return synth.find("AWS::Lambda::Function", FunctionName=function_name(spec))


def _queue(synth: Synth, name: str) -> Ref:
    return synth.find("AWS::SQS::Queue", QueueName=name)


def _alarm_topic(synth: Synth) -> Ref:
    return synth.find("AWS::SNS::Topic", TopicName=NAMES.alarm_topic_name)


def _bus(synth: Synth) -> Ref:
    return synth.find("AWS::Events::EventBus", Name=NAMES.bus_name)


def test_rules_and_targets_equal_the_routing_data(synth: Synth) -> None:
    bus = _bus(synth)
    on_bus = {
        r["Properties"]["Name"]: (ref, r["Properties"])
        for ref, r in synth.resources("AWS::Events::Rule").items()
        if synth.resolve(ref[0], r["Properties"].get("EventBusName")) == bus
    }
    assert set(on_bus) == {rule_name(rule) for rule in RULES}
    for rule in RULES:
        (stack, _), props = on_bus[rule_name(rule)]
        assert props["EventPattern"] == rule.pattern, rule.name
        assert props["State"] == "ENABLED"
        (target,) = props["Targets"]
        destination = synth.resolve(stack, target["Arn"])
        if rule.function:
            spec = next(f for f in FUNCTIONS if f.name == rule.function)
            assert destination == _function(synth, spec), rule.name
        else:
            assert rule.queue is not None
            assert destination == _queue(synth, NAMES.queue_name(rule.queue)), rule.name
        assert synth.resolve(stack, target["DeadLetterConfig"]["Arn"]) is not None, rule.name
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, rule.name


def test_aws_sourced_rules_are_forwarded_from_the_default_bus(synth: Synth) -> None:
    forwarded = [rule for rule in RULES if is_aws_sourced(rule)]
    assert forwarded, "alarm state changes come from the default bus"
    default_bus_rules = {
        ref: r["Properties"]
        for ref, r in synth.resources("AWS::Events::Rule").items()
        if "EventBusName" not in r["Properties"] and "EventPattern" in r["Properties"]
    }
    assert len(default_bus_rules) == len(forwarded)
    for rule in forwarded:
        matches = [(ref, p) for ref, p in default_bus_rules.items() if p["EventPattern"] == rule.pattern]
        assert len(matches) == 1, rule.name
        ((stack, _), props) = matches[0]
        (target,) = props["Targets"]
        assert synth.resolve(stack, target["Arn"]) == _bus(synth)
        assert "DeadLetterConfig" in target


def test_schedules_equal_the_routing_data(synth: Synth) -> None:
    scheduled = {
        r["Properties"]["Name"]: (ref, r["Properties"])
        for ref, r in synth.resources("AWS::Events::Rule").items()
        if "ScheduleExpression" in r["Properties"]
    }
    assert set(scheduled) == {f"tradeops-schedule-{s.name}" for s in SCHEDULES}
    for schedule in SCHEDULES:
        (stack, _), props = scheduled[f"tradeops-schedule-{schedule.name}"]
        assert props["ScheduleExpression"] == schedule.expression
        (target,) = props["Targets"]
        spec = next(f for f in FUNCTIONS if f.name == schedule.function)
        assert synth.resolve(stack, target["Arn"]) == _function(synth, spec)


def test_bus_is_archived(synth: Synth) -> None:
    (archive,) = synth.resources("AWS::Events::Archive").values()
    assert synth.resolve(FUNCTIONS_STACK, archive["Properties"]["SourceArn"]) == _bus(synth)
    assert archive["Properties"]["RetentionDays"] > 0


def _alarms_on(synth: Synth, metric: str, dimension: str, resource: Ref) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for (stack, _), a in synth.resources("AWS::CloudWatch::Alarm").items()
        if a["Properties"].get("MetricName") == metric
        and any(
            d["Name"] == dimension and synth.resolve(stack, d["Value"]) == resource
            for d in a["Properties"].get("Dimensions", [])
        )
    ]


def _notifies_topic(synth: Synth, alarm: dict[str, Any]) -> bool:
    topic = _alarm_topic(synth)
    return [synth.resolve(FUNCTIONS_STACK, a) for a in alarm["AlarmActions"]] == [topic]


def _queue_key(synth: Synth) -> Ref:
    return synth.find("AWS::KMS::Key", Description="tradeops queues and dead-letter queues")


def test_every_function_has_an_on_failure_dlq_and_an_errors_alarm_paging_the_topic(synth: Synth) -> None:
    assert FUNCTIONS
    for spec in FUNCTIONS:
        function = _function(synth, spec)
        (config,) = [
            c["Properties"]
            for c in synth.resources("AWS::Lambda::EventInvokeConfig").values()
            if synth.resolve(function[0], c["Properties"]["FunctionName"]) == function
        ]
        dlq = synth.resolve(function[0], config["DestinationConfig"]["OnFailure"]["Destination"])
        assert dlq is not None and synth.resource(dlq)["Type"] == "AWS::SQS::Queue", spec.name
        assert synth.resolve(dlq[0], synth.resource(dlq)["Properties"]["KmsMasterKeyId"]) == _queue_key(synth)
        (errors,) = _alarms_on(synth, "Errors", "FunctionName", function)
        assert errors["Namespace"] == "AWS/Lambda" and errors["Threshold"] == 1
        assert _notifies_topic(synth, errors), spec.name
        (dlq_alarm,) = _alarms_on(synth, "ApproximateNumberOfMessagesVisible", "QueueName", dlq)
        assert _notifies_topic(synth, dlq_alarm), spec.name


def test_functions_are_built_from_their_specs(synth: Synth) -> None:
    expected_env = {f"TRADEOPS_{field.upper()}" for field in Settings.model_fields} - {
        "TRADEOPS_AWS_ENDPOINT_URL"
    }
    for spec in FUNCTIONS:
        props = synth.resource(_function(synth, spec))["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == spec.handler
        assert props["Timeout"] == spec.timeout_s and props["MemorySize"] == spec.memory_mb
        env = props["Environment"]["Variables"]
        assert {k for k in env if k.startswith("TRADEOPS_")} == expected_env
        assert env["TRADEOPS_TABLE_PREFIX"] == NAMES.table_prefix
        assert env["TRADEOPS_BUS_NAME"] == NAMES.bus_name


def _role_statements(synth: Synth, function: Ref) -> list[dict[str, Any]]:
    role = synth.resolve(function[0], synth.resource(function)["Properties"]["Role"])
    return [
        statement
        for (stack, _), p in synth.resources("AWS::IAM::Policy").items()
        if any(synth.resolve(stack, r) == role for r in p["Properties"]["Roles"])
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_function_table_grants_are_exactly_the_spec(synth: Synth) -> None:
    tables = {
        synth.find("AWS::DynamoDB::Table", TableName=NAMES.table_name(t)): n
        for n, t in TABLES_BY_NAME.items()
    }
    for spec in FUNCTIONS:
        function = _function(synth, spec)
        readable: set[str] = set()
        writable: set[str] = set()
        for statement in _role_statements(synth, function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            named = {tables[r] for r in (synth.resolve(function[0], x) for x in resources) if r in tables}
            if any(a.startswith("dynamodb:") for a in actions):
                readable |= named
            if "dynamodb:PutItem" in actions:
                writable |= named
        assert readable == set(spec.tables_read) | set(spec.tables_write), spec.name
        assert writable == set(spec.tables_write), spec.name


def _queue_spec_checks(synth: Synth, spec: QueueSpec) -> None:
    queue = synth.resource(_queue(synth, NAMES.queue_name(spec.name)))["Properties"]
    dlq_ref = _queue(synth, NAMES.queue_name(spec.dlq_name))
    assert queue["RedrivePolicy"]["maxReceiveCount"] == spec.max_receive_count
    assert synth.resolve(FUNCTIONS_STACK, queue["RedrivePolicy"]["deadLetterTargetArn"]) == dlq_ref
    assert queue["VisibilityTimeout"] == spec.visibility_timeout_s
    assert queue["MessageRetentionPeriod"] == spec.retention_days * 86400
    assert synth.resolve(FUNCTIONS_STACK, queue["KmsMasterKeyId"]) == _queue_key(synth)
    (dlq_alarm,) = _alarms_on(synth, "ApproximateNumberOfMessagesVisible", "QueueName", dlq_ref)
    assert _notifies_topic(synth, dlq_alarm)


def test_queues_equal_the_routing_data(synth: Synth) -> None:
    for spec in QUEUES:
        _queue_spec_checks(synth, spec)


def test_every_queue_is_encrypted_and_tls_only(synth: Synth) -> None:
    queues = synth.resources("AWS::SQS::Queue")
    policies = synth.resources("AWS::SQS::QueuePolicy")
    tls_only: set[Ref | None] = set()
    for (stack, _), policy in policies.items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only |= {synth.resolve(stack, q) for q in policy["Properties"]["Queues"]}
    for ref, queue in queues.items():
        assert synth.resolve(ref[0], queue["Properties"]["KmsMasterKeyId"]) == _queue_key(synth), ref
        assert ref in tls_only, ref
