"""The local Lambda context: identity fields like AWS's and a deadline from the function's timeout."""

from __future__ import annotations

import uuid

from tradeops.local.lambda_context import make_context
from tradeops.routes import FunctionSpec


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fields_match_the_function() -> None:
    spec = FunctionSpec("reports", timeout_s=120, memory_mb=1024)
    context = make_context(spec, region="eu-west-1", account_id="111122223333")
    assert context.function_name == "tradeops-reports"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:111122223333:function:tradeops-reports"
    assert context.memory_limit_in_mb == 1024
    assert context.log_group_name == "/aws/lambda/tradeops-reports"
    assert "[$LATEST]" in context.log_stream_name
    uuid.UUID(context.aws_request_id)


def test_each_invocation_gets_a_new_request_id() -> None:
    spec = FunctionSpec("alerts")
    first = make_context(spec, region="r", account_id="a")
    second = make_context(spec, region="r", account_id="a")
    assert first.aws_request_id != second.aws_request_id


def test_remaining_time_honours_the_timeout() -> None:
    clock = Clock()
    context = make_context(FunctionSpec("alerts", timeout_s=30), region="r", account_id="a", clock=clock)
    assert context.get_remaining_time_in_millis() == 30_000
    clock.now += 12.5
    assert context.get_remaining_time_in_millis() == 17_500
    assert not context.timed_out
    clock.now += 20
    assert context.get_remaining_time_in_millis() == 0
    assert context.timed_out
