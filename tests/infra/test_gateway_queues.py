"""Gateway stack: the queues the gateway process uses, and the health port it is told to serve on."""

from __future__ import annotations

from typing import Any

import pytest
from infra.context import NAMES
from infra.stacks.gateway import HEALTH_PORT

from tradeops.gateway.wiring import GatewayConfig
from tradeops.routes import QUEUES_BY_NAME

from .conftest import Synth
from .test_gateway import _as_list, _task_role_statements

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _arn_tail(resource: Any) -> str:
    """The literal end of an ARN: the string itself, or the last part of its ``Fn::Join``."""
    if isinstance(resource, str):
        return resource
    parts = resource.get("Fn::Join", ["", [""]])[1] if isinstance(resource, dict) else [""]
    return parts[-1] if isinstance(parts[-1], str) else ""


def _actions_on_queue(statements: list[dict[str, Any]], queue: str) -> set[str]:
    """Actions of statements on the queue named ``queue`` (its ARN ends with ``:<physical name>``)."""
    suffix = f":{NAMES.queue_name(queue)}"
    actions: set[str] = set()
    for statement in statements:
        if any(_arn_tail(r).endswith(suffix) for r in _as_list(statement["Resource"])):
            actions |= set(_as_list(statement["Action"]))
    return actions


def test_the_gateway_may_dead_letter_intents_and_consume_gateway_events(synth: Synth) -> None:
    statements = _task_role_statements(synth)
    dlq = _actions_on_queue(statements, QUEUES_BY_NAME["intents"].dlq_name)
    assert "sqs:SendMessage" in dlq and "sqs:ReceiveMessage" not in dlq
    events = _actions_on_queue(statements, "gateway-events")
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= events
    assert "sqs:SendMessage" not in events


def test_the_container_serves_health_on_the_port_its_health_check_probes(synth: Synth) -> None:
    task = synth.resource(synth.find("AWS::ECS::TaskDefinition", Family="tradeops-gateway"))
    (container,) = task["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    config = GatewayConfig.from_env(env)
    assert config.health_port == HEALTH_PORT
    assert f"127.0.0.1:{config.health_port}/healthz" in " ".join(container["HealthCheck"]["Command"])
    assert config.sim_url is None and not config.demo_strategy  # the real venue, no demo strategy
