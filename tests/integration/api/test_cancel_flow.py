"""A manual cancel travels as an event: API -> EventBridge -> queue -> the gateway's event consumer -> OMS.

The rule here is the ``gateway-events`` rule's pattern for "Cancel Requested" (tradeops.routes owns the
real rule; the type joins GATEWAY_EVENTS there). The consumer is the gateway's own
:class:`GatewayEventConsumer`, with ``on_cancel`` standing in for ``OrderManager.cancel``.
"""

from __future__ import annotations

import json
import time

import pytest

from tradeops.aws.clients import client
from tradeops.domain.events import CancelRequested
from tradeops.gateway.gateway_events import GatewayEventConsumer
from tradeops.routes import RULES

from ._rig import ROLE_USERS, ApiRig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def _nothing(*_: object) -> None:
    return None


async def test_delete_order_reaches_the_gateway_consumer(api_rig: ApiRig) -> None:
    settings = api_rig.settings
    sqs, events = client("sqs", settings), client("events", settings)
    queue_url = sqs.create_queue(QueueName=f"{settings.queue_prefix}cancel-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = dict(next(rule for rule in RULES if rule.name == "gateway-events").pattern)
    pattern["detail-type"] = [CancelRequested.DETAIL_TYPE]
    events.put_rule(Name="cancel-tap", EventBusName=settings.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="cancel-tap", EventBusName=settings.bus_name, Targets=[{"Id": "q", "Arn": queue_arn}]
    )

    order = api_rig.seed_order()
    status, reply = api_rig.call("DELETE", f"/api/orders/{order.client_order_id}", user=ROLE_USERS["trader"])
    assert status == 202 and reply == {"client_order_id": order.client_order_id, "requested": "cancel"}

    cancelled: list[CancelRequested] = []

    async def cancel(request: CancelRequested) -> None:
        cancelled.append(request)

    consumer = GatewayEventConsumer(
        settings,
        sqs,
        on_control=lambda _e: None,
        on_secret_rotated=_nothing,
        on_fill=_nothing,
        on_cancel=cancel,
    )
    deadline = time.monotonic() + 30
    while not cancelled and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
            assert await consumer.handle(message["Body"])
    assert [(c.client_order_id, c.requested_by) for c in cancelled] == [
        (order.client_order_id, ROLE_USERS["trader"])
    ]
