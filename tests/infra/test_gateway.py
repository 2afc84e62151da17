"""Gateway stack: two tasks over two AZs with a rolling, self-healing deployment; least privilege.

The journal guarantee is checked across every stack: no IAM policy in the app lets any principal
update, delete or batch-write journal items, whatever the action spelling (wildcards included).
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from infra.context import NAMES

from tradeops.store.tables import JOURNAL

from .conftest import Ref, Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

GATEWAY = "TradeopsGateway"
FORBIDDEN_ON_JOURNAL = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_statements(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    """(stack, statement) of every identity policy: policies, managed policies, inline role policies."""
    found: list[tuple[str, dict[str, Any]]] = []
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for (stack, _), policy in synth.resources(type_).items():
            found += [(stack, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for (stack, _), role in synth.resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(stack, s) for s in inline["PolicyDocument"]["Statement"]]
    return found


def _names_journal(synth: Synth, stack: str, resource: Any, journal: Ref) -> bool:
    """True if the resource ARN is ``*``, the journal table, or anything under it (indexes, streams)."""
    if resource == "*":
        return True
    if synth.resolve(stack, resource) == journal:
        return True
    if isinstance(resource, dict) and "Fn::Join" in resource:
        parts = resource["Fn::Join"][1]
        return any(synth.resolve(stack, part) == journal for part in parts)
    return False


def test_no_principal_may_update_or_delete_journal_items(synth: Synth) -> None:
    journal = synth.find("AWS::DynamoDB::Table", TableName=NAMES.table_name(JOURNAL))
    statements = _policy_statements(synth)
    assert statements
    offending = []
    for stack, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        actions = [a.lower() for a in _as_list(statement["Action"])]
        grants = [f for f in FORBIDDEN_ON_JOURNAL if any(fnmatchcase(f.lower(), a) for a in actions)]
        if grants and any(_names_journal(synth, stack, r, journal) for r in _as_list(statement["Resource"])):
            offending.append((stack, grants, statement))
    assert not offending, json.dumps(offending, indent=1, default=str)


def _task_role_statements(synth: Synth) -> list[dict[str, Any]]:
    task = synth.resource(synth.find("AWS::ECS::TaskDefinition", Family="tradeops-gateway"))
    role = synth.resolve(GATEWAY, task["Properties"]["TaskRoleArn"])
    policies = [
        p
        for p in synth.resources("AWS::IAM::Policy", GATEWAY).values()
        if any(synth.resolve(GATEWAY, r) == role for r in p["Properties"]["Roles"])
    ]
    assert len(policies) == 1
    return list(policies[0]["Properties"]["PolicyDocument"]["Statement"])


def _actions_on_table(synth: Synth, statements: list[dict[str, Any]], table: str) -> set[str]:
    ref = synth.find("AWS::DynamoDB::Table", TableName=f"{NAMES.table_prefix}{table}")
    actions: set[str] = set()
    for statement in statements:
        resources = _as_list(statement["Resource"])
        if any(synth.resolve(GATEWAY, r) == ref for r in resources):
            actions |= set(_as_list(statement["Action"]))
    return actions


def test_gateway_task_role_is_least_privilege(synth: Synth) -> None:
    statements = _task_role_statements(synth)
    assert _actions_on_table(synth, statements, "journal") == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:DescribeTable",
    }
    for table in ("orders", "fills", "positions", "balances", "snapshots", "leases"):
        assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= _actions_on_table(
            synth, statements, table
        ), table
    for table in ("control", "limits"):
        actions = _actions_on_table(synth, statements, table)
        assert "dynamodb:GetItem" in actions and not actions & {"dynamodb:PutItem", "dynamodb:UpdateItem"}
    for table in ("alerts", "idempotency", "limit_proposals"):
        assert _actions_on_table(synth, statements, table) == set(), table
    every_action = {a for s in statements for a in _as_list(s["Action"])}
    assert not [a for a in every_action if "*" in a]
    assert "events:PutEvents" in every_action
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= every_action
    assert "secretsmanager:GetSecretValue" in every_action
    assert all(s["Resource"] != "*" for s in statements)


def test_gateway_runs_two_tasks_over_two_azs_with_circuit_breaker(synth: Synth) -> None:
    service = synth.resource(synth.find("AWS::ECS::Service", ServiceName="tradeops-gateway"))["Properties"]
    assert service["DesiredCount"] == 2
    assert service["LaunchType"] == "FARGATE"
    assert service["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        "MaximumPercent": 200,
        "MinimumHealthyPercent": 50,
    }
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    subnets = [synth.resolve(GATEWAY, s) for s in network["Subnets"]]
    assert len(set(subnets)) == 2
    zones = {synth.resource(s)["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets if s}
    assert zones == {0, 1}, "one private subnet in each of two AZs"
    assert all(synth.resource(s)["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets if s)
    assert service["AvailabilityZoneRebalancing"] == "ENABLED"


def test_gateway_container_health_logs_and_image(synth: Synth) -> None:
    cluster = synth.resource(synth.find("AWS::ECS::Cluster", ClusterName="tradeops"))["Properties"]
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]
    task = synth.resource(synth.find("AWS::ECS::TaskDefinition", Family="tradeops-gateway"))["Properties"]
    (container,) = task["ContainerDefinitions"]
    assert "/healthz" in " ".join(container["HealthCheck"]["Command"])
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    log_group = synth.resolve(GATEWAY, container["LogConfiguration"]["Options"]["awslogs-group"])
    assert log_group and synth.resource(log_group)["Properties"]["RetentionInDays"] > 0
    env = {e["Name"] for e in container["Environment"]}
    assert {"TRADEOPS_TABLE_PREFIX", "TRADEOPS_BUS_NAME", "TRADEOPS_WORM_BUCKET"} <= env
    assert "TRADEOPS_AWS_ENDPOINT_URL" not in env
    image = json.dumps(container["Image"])
    assert "container-assets" in image, "image built from the containers/gateway/Dockerfile asset"


def test_gateway_image_asset_is_the_gateway_dockerfile(synth: Synth) -> None:
    manifest = json.loads((Path(synth.app.outdir) / f"{GATEWAY}.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "containers/gateway/Dockerfile"


def test_gateway_security_group_has_no_ingress_and_https_egress_only(synth: Synth) -> None:
    groups = synth.resources("AWS::EC2::SecurityGroup", GATEWAY)
    (group,) = groups.values()
    props = group["Properties"]
    assert "SecurityGroupIngress" not in props
    assert {(rule["FromPort"], rule["ToPort"]) for rule in props["SecurityGroupEgress"]} == {
        (443, 443),
        (9443, 9443),
    }
    assert not synth.resources("AWS::EC2::SecurityGroupIngress", GATEWAY)
